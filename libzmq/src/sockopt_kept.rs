//! Socket options this library does not act on but answers as libzmq
//! 4.3.5 does (`options.cpp`, and the per-type `xsetsockopt`s): getsockopt
//! reads libzmq's default, and a write libzmq would accept is checked with
//! libzmq's rule and read back. pyzmq reads every int option of each
//! socket it makes, so an EINVAL here fails its suite.
//!
//! Three kinds:
//! - **no effect on this stack** (multicast, I/O thread affinity, socket
//!   tuning the transport leaves to the system, SOCKS credentials): every
//!   value libzmq accepts is accepted and read back;
//! - **would change behaviour if applied** (matching, filters, socket
//!   substitution, routing ids, probes, welcome messages): only the value
//!   that means "off" is accepted; anything else is EINVAL, so a caller
//!   never believes a filter or mode is on when it is not;
//! - **implemented elsewhere later** (XPUB_MANUAL, CONFLATE, REQ_CORRELATE):
//!   stored and, where libzmq can read them, read back; nothing applies
//!   them yet (`docs/libzmq.md` says so).
//!
//! Options `sockopt.rs` handles itself never reach this file (its match
//! arms come first). GSSAPI, VMCI, IPC_FILTER_* and CONNECT_ROUTING_ID
//! stay EINVAL: the first two as in a libzmq built without them, the last
//! two because accepting them would claim a filter or routing id that is
//! not applied.

use std::collections::BTreeMap;
use std::ffi::c_int;

use zmtp::SocketType;

use crate::errno::Errno;
use crate::sockopt::Value;

/// libzmq's numbers for the options kept here.
#[allow(missing_docs)]
pub mod num {
    use std::ffi::c_int;
    pub const AFFINITY: c_int = 4;
    pub const RATE: c_int = 8;
    pub const RECOVERY_IVL: c_int = 9;
    pub const MULTICAST_HOPS: c_int = 25;
    pub const TCP_KEEPALIVE: c_int = 34;
    pub const TCP_KEEPALIVE_CNT: c_int = 35;
    pub const TCP_KEEPALIVE_IDLE: c_int = 36;
    pub const TCP_KEEPALIVE_INTVL: c_int = 37;
    pub const TCP_ACCEPT_FILTER: c_int = 38;
    pub const ROUTER_RAW: c_int = 41;
    pub const PROBE_ROUTER: c_int = 51;
    pub const REQ_CORRELATE: c_int = 52;
    pub const CONFLATE: c_int = 54;
    pub const TOS: c_int = 57;
    pub const SOCKS_PROXY: c_int = 68;
    pub const XPUB_MANUAL: c_int = 71;
    pub const XPUB_WELCOME_MSG: c_int = 72;
    pub const INVERT_MATCHING: c_int = 74;
    pub const CONNECT_TIMEOUT: c_int = 79;
    pub const TCP_MAXRT: c_int = 80;
    pub const THREAD_SAFE: c_int = 81;
    pub const MULTICAST_MAXTPDU: c_int = 84;
    pub const USE_FD: c_int = 89;
    pub const BINDTODEVICE: c_int = 92;
    pub const ZAP_ENFORCE_DOMAIN: c_int = 93;
    pub const LOOPBACK_FASTPATH: c_int = 94;
    pub const MULTICAST_LOOP: c_int = 96;
    pub const XPUB_MANUAL_LAST_VALUE: c_int = 98;
    pub const SOCKS_USERNAME: c_int = 99;
    pub const SOCKS_PASSWORD: c_int = 100;
    pub const ONLY_FIRST_SUBSCRIBE: c_int = 108;
    pub const RECONNECT_STOP: c_int = 109;
}

/// How an option is written and read.
#[derive(Debug, Clone, Copy)]
enum Rule {
    /// An `int` read back; writes accepted when `accept` says so.
    Int {
        default: c_int,
        accept: fn(c_int) -> bool,
    },
    /// An `int` libzmq stores as a bool (any value accepted when
    /// `accept`, read back as 0 or 1).
    Bool {
        default: bool,
        accept: fn(c_int) -> bool,
    },
    /// A `uint64_t` (AFFINITY).
    U64,
    /// A string read back; writes accepted when `accept` says so.
    Str { accept: fn(&[u8]) -> bool },
    /// Write-only in libzmq (getsockopt EINVAL): an `int` accepted when
    /// `accept` says so.
    WriteInt { accept: fn(c_int) -> bool },
    /// Write-only bytes accepted when `accept` says so.
    WriteBytes { accept: fn(&[u8]) -> bool },
    /// Read-only `int`.
    ReadOnly(c_int),
}

fn any(_: c_int) -> bool {
    true
}
fn positive(v: c_int) -> bool {
    v > 0
}
fn non_negative(v: c_int) -> bool {
    v >= 0
}
fn minus_one_or_more(v: c_int) -> bool {
    v >= -1
}
fn keepalive(v: c_int) -> bool {
    (-1..=1).contains(&v)
}
fn zero_or_one(v: c_int) -> bool {
    v == 0 || v == 1
}
fn off(v: c_int) -> bool {
    v == 0
}
fn no_fd(v: c_int) -> bool {
    v == -1
}
fn empty(s: &[u8]) -> bool {
    s.is_empty() || s == [0]
}
fn up_to_255(s: &[u8]) -> bool {
    s.len() <= 255
}

/// The rule for `option` on a socket of `socket_type`; `None` is EINVAL.
fn rule(option: c_int, socket_type: SocketType) -> Option<Rule> {
    use SocketType as T;
    let int = |default, accept| Some(Rule::Int { default, accept });
    let boolean = |default, accept| Some(Rule::Bool { default, accept });
    Some(match option {
        // No effect on this stack: every value libzmq takes.
        num::AFFINITY => Rule::U64,
        num::RATE => return int(100, positive),
        num::RECOVERY_IVL => return int(10_000, non_negative),
        num::MULTICAST_HOPS => return int(1, positive),
        num::MULTICAST_MAXTPDU => return int(1500, positive),
        num::MULTICAST_LOOP => return boolean(true, any),
        num::TCP_KEEPALIVE => return int(-1, keepalive),
        num::TCP_KEEPALIVE_CNT | num::TCP_KEEPALIVE_IDLE | num::TCP_KEEPALIVE_INTVL => {
            return int(-1, minus_one_or_more);
        }
        num::TOS => return int(0, non_negative),
        num::CONNECT_TIMEOUT | num::TCP_MAXRT => return int(0, non_negative),
        num::LOOPBACK_FASTPATH => return boolean(false, any),
        num::SOCKS_USERNAME | num::SOCKS_PASSWORD => Rule::Str { accept: up_to_255 },
        num::THREAD_SAFE => Rule::ReadOnly(0),
        // Would change behaviour: only "off".
        num::INVERT_MATCHING => return boolean(false, off),
        num::ZAP_ENFORCE_DOMAIN => return boolean(false, off),
        num::USE_FD => return int(-1, no_fd),
        num::RECONNECT_STOP => return int(0, off),
        num::SOCKS_PROXY | num::BINDTODEVICE => Rule::Str { accept: empty },
        num::TCP_ACCEPT_FILTER => Rule::WriteBytes { accept: empty },
        num::ROUTER_RAW if socket_type == T::Router => Rule::WriteInt { accept: off },
        num::PROBE_ROUTER if matches!(socket_type, T::Router | T::Dealer | T::Req) => {
            Rule::WriteInt { accept: off }
        }
        num::XPUB_WELCOME_MSG if socket_type == T::Xpub => Rule::WriteBytes { accept: empty },
        num::XPUB_MANUAL_LAST_VALUE if socket_type == T::Xpub => Rule::WriteInt { accept: off },
        num::ONLY_FIRST_SUBSCRIBE if matches!(socket_type, T::Xpub | T::Xsub) => {
            Rule::WriteInt { accept: off }
        }
        // Stored, not applied yet.
        num::CONFLATE => return boolean(false, zero_or_one),
        num::XPUB_MANUAL if socket_type == T::Xpub => Rule::WriteInt {
            accept: non_negative,
        },
        num::REQ_CORRELATE if socket_type == T::Req => Rule::WriteInt {
            accept: non_negative,
        },
        _ => return None,
    })
}

/// What was written to one option.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Written {
    Int(c_int),
    U64(u64),
    Bytes(Vec<u8>),
}

/// The kept options of one socket: what was written, over libzmq's
/// defaults.
#[derive(Debug, Clone)]
pub struct KeptOptions {
    socket_type: SocketType,
    written: BTreeMap<c_int, Written>,
}

fn int(value: &[u8]) -> Result<c_int, Errno> {
    let bytes: [u8; 4] = value.try_into().map_err(|_| Errno::INVAL)?;
    Ok(c_int::from_ne_bytes(bytes))
}

impl KeptOptions {
    /// libzmq's defaults for a socket of `socket_type`.
    pub fn new(socket_type: SocketType) -> Self {
        KeptOptions {
            socket_type,
            written: BTreeMap::new(),
        }
    }

    /// `zmq_setsockopt` for a kept option: EINVAL if unknown or refused.
    pub fn set(&mut self, option: c_int, value: &[u8]) -> Result<(), Errno> {
        let rule = rule(option, self.socket_type).ok_or(Errno::INVAL)?;
        let written = match rule {
            Rule::Int { accept, .. } | Rule::WriteInt { accept } => {
                let v = int(value)?;
                if !accept(v) {
                    return Err(Errno::INVAL);
                }
                Written::Int(v)
            }
            Rule::Bool { accept, .. } => {
                let v = int(value)?;
                if !accept(v) {
                    return Err(Errno::INVAL);
                }
                Written::Int(c_int::from(v != 0))
            }
            Rule::U64 => {
                let bytes: [u8; 8] = value.try_into().map_err(|_| Errno::INVAL)?;
                Written::U64(u64::from_ne_bytes(bytes))
            }
            Rule::Str { accept } | Rule::WriteBytes { accept } => {
                if !accept(value) {
                    return Err(Errno::INVAL);
                }
                let text = value.strip_suffix(&[0]).unwrap_or(value);
                Written::Bytes(text.to_vec())
            }
            Rule::ReadOnly(_) => return Err(Errno::INVAL),
        };
        self.written.insert(option, written);
        Ok(())
    }

    /// `zmq_getsockopt` for a kept option: what was written, else
    /// libzmq's default; EINVAL if unknown or write-only.
    pub fn get(&self, option: c_int) -> Result<Value, Errno> {
        let rule = rule(option, self.socket_type).ok_or(Errno::INVAL)?;
        let written = self.written.get(&option);
        Ok(match (rule, written) {
            (Rule::Int { .. } | Rule::Bool { .. }, Some(Written::Int(v))) => Value::Int(*v),
            (Rule::Int { default, .. }, _) => Value::Int(default),
            (Rule::Bool { default, .. }, _) => Value::Int(c_int::from(default)),
            (Rule::U64, Some(Written::U64(v))) => Value::Int64(i64::from_ne_bytes(v.to_ne_bytes())),
            (Rule::U64, _) => Value::Int64(0),
            (Rule::Str { .. }, Some(Written::Bytes(b))) => {
                Value::Str(String::from_utf8_lossy(b).into_owned())
            }
            (Rule::Str { .. }, _) => Value::Str(String::new()),
            (Rule::ReadOnly(v), _) => Value::Int(v),
            (Rule::WriteInt { .. } | Rule::WriteBytes { .. }, _) => return Err(Errno::INVAL),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set_int(o: &mut KeptOptions, option: c_int, v: c_int) -> Result<(), Errno> {
        o.set(option, &v.to_ne_bytes())
    }

    #[test]
    fn pyzmq_reads_libzmq_defaults() {
        let o = KeptOptions::new(SocketType::Pub);
        let expect = [
            (num::RATE, 100),
            (num::RECOVERY_IVL, 10_000),
            (num::MULTICAST_HOPS, 1),
            (num::CONFLATE, 0),
            (num::TOS, 0),
            (num::INVERT_MATCHING, 0),
            (num::CONNECT_TIMEOUT, 0),
            (num::THREAD_SAFE, 0),
            (num::MULTICAST_MAXTPDU, 1500),
            (num::USE_FD, -1),
            (num::ZAP_ENFORCE_DOMAIN, 0),
            (num::LOOPBACK_FASTPATH, 0),
            (num::MULTICAST_LOOP, 1),
            (num::TCP_KEEPALIVE, -1),
            (num::TCP_MAXRT, 0),
        ];
        for (option, value) in expect {
            assert_eq!(o.get(option), Ok(Value::Int(value)), "option {option}");
        }
        assert_eq!(o.get(num::AFFINITY), Ok(Value::Int64(0)));
        assert_eq!(o.get(num::SOCKS_PROXY), Ok(Value::Str(String::new())));
    }

    #[test]
    fn writes_follow_libzmq_rules_and_read_back() {
        let mut o = KeptOptions::new(SocketType::Pub);
        assert_eq!(set_int(&mut o, num::RATE, 0), Err(Errno::INVAL));
        assert_eq!(set_int(&mut o, num::RATE, 200), Ok(()));
        assert_eq!(o.get(num::RATE), Ok(Value::Int(200)));
        assert_eq!(set_int(&mut o, num::TCP_KEEPALIVE, 2), Err(Errno::INVAL));
        assert_eq!(set_int(&mut o, num::TCP_KEEPALIVE, 1), Ok(()));
        assert_eq!(set_int(&mut o, num::MULTICAST_LOOP, 7), Ok(()));
        assert_eq!(o.get(num::MULTICAST_LOOP), Ok(Value::Int(1)));
        assert_eq!(set_int(&mut o, num::CONFLATE, 2), Err(Errno::INVAL));
        assert_eq!(set_int(&mut o, num::CONFLATE, 1), Ok(()));
        assert_eq!(o.get(num::CONFLATE), Ok(Value::Int(1)));
        assert_eq!(o.set(num::AFFINITY, &3u64.to_ne_bytes()), Ok(()));
        assert_eq!(o.get(num::AFFINITY), Ok(Value::Int64(3)));
        assert_eq!(o.set(num::AFFINITY, &3i32.to_ne_bytes()), Err(Errno::INVAL));
        assert_eq!(o.set(num::SOCKS_USERNAME, b"me"), Ok(()));
        assert_eq!(o.get(num::SOCKS_USERNAME), Ok(Value::Str("me".into())));
        assert_eq!(set_int(&mut o, num::THREAD_SAFE, 0), Err(Errno::INVAL));
        assert_eq!(
            set_int(&mut o, num::RATE, 1).and(o.set(num::RATE, &[1])),
            Err(Errno::INVAL)
        );
    }

    #[test]
    fn behaviour_changing_options_accept_only_off() {
        let mut o = KeptOptions::new(SocketType::Sub);
        assert_eq!(set_int(&mut o, num::INVERT_MATCHING, 1), Err(Errno::INVAL));
        assert_eq!(set_int(&mut o, num::INVERT_MATCHING, 0), Ok(()));
        assert_eq!(set_int(&mut o, num::USE_FD, 3), Err(Errno::INVAL));
        assert_eq!(
            o.set(num::TCP_ACCEPT_FILTER, b"127.0.0.1"),
            Err(Errno::INVAL)
        );
        assert_eq!(o.set(num::TCP_ACCEPT_FILTER, b""), Ok(()));
        assert_eq!(o.get(num::TCP_ACCEPT_FILTER), Err(Errno::INVAL));
        assert_eq!(o.set(num::SOCKS_PROXY, b"proxy:1080"), Err(Errno::INVAL));
    }

    #[test]
    fn type_specific_options_need_their_type() {
        let mut pubs = KeptOptions::new(SocketType::Pub);
        assert_eq!(set_int(&mut pubs, num::XPUB_MANUAL, 1), Err(Errno::INVAL));
        assert_eq!(set_int(&mut pubs, num::REQ_CORRELATE, 1), Err(Errno::INVAL));
        let mut xpub = KeptOptions::new(SocketType::Xpub);
        assert_eq!(set_int(&mut xpub, num::XPUB_MANUAL, 1), Ok(()));
        // Write-only in libzmq.
        assert_eq!(xpub.get(num::XPUB_MANUAL), Err(Errno::INVAL));
        let mut req = KeptOptions::new(SocketType::Req);
        assert_eq!(set_int(&mut req, num::REQ_CORRELATE, 1), Ok(()));
        assert_eq!(set_int(&mut req, num::PROBE_ROUTER, 1), Err(Errno::INVAL));
        assert_eq!(set_int(&mut req, num::PROBE_ROUTER, 0), Ok(()));
    }
}
