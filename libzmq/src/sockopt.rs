//! Socket options by libzmq's numbers: decoding `zmq_setsockopt` values
//! into [`SocketOptions`] and encoding `zmq_getsockopt` answers.
//!
//! Most options land in the transport's [`Options`], which a transport
//! socket takes when it is made (at the first bind, connect, send or
//! receive: see `socket.rs`). The rest are this library's own: timeouts,
//! and values kept only so `getsockopt` returns what was set (buffer
//! sizes, backlog, IPV6). Options this library does not act on are
//! answered by `sockopt_kept.rs` with libzmq's defaults. Unknown numbers
//! are EINVAL, as in libzmq.

use std::ffi::c_int;
use std::time::Duration;

use bytes::Bytes;
use zmtp::{CurveKeyPair, CurvePublicKey, CurveSecretKey, SocketType};
use zmtp_transport::{Mode, Options, Security};

use crate::errno::Errno;
use crate::sockopt_kept::KeptOptions;

/// libzmq's option numbers that this library knows.
#[allow(missing_docs)]
pub mod num {
    use std::ffi::c_int;
    pub const ROUTING_ID: c_int = 5;
    pub const SUBSCRIBE: c_int = 6;
    pub const UNSUBSCRIBE: c_int = 7;
    pub const SNDBUF: c_int = 11;
    pub const RCVBUF: c_int = 12;
    pub const RCVMORE: c_int = 13;
    pub const FD: c_int = 14;
    pub const EVENTS: c_int = 15;
    pub const TYPE: c_int = 16;
    pub const LINGER: c_int = 17;
    pub const RECONNECT_IVL: c_int = 18;
    pub const BACKLOG: c_int = 19;
    pub const RECONNECT_IVL_MAX: c_int = 21;
    pub const MAXMSGSIZE: c_int = 22;
    pub const SNDHWM: c_int = 23;
    pub const RCVHWM: c_int = 24;
    pub const RCVTIMEO: c_int = 27;
    pub const SNDTIMEO: c_int = 28;
    pub const IPV4ONLY: c_int = 31;
    pub const LAST_ENDPOINT: c_int = 32;
    pub const ROUTER_MANDATORY: c_int = 33;
    pub const IMMEDIATE: c_int = 39;
    pub const XPUB_VERBOSE: c_int = 40;
    pub const IPV6: c_int = 42;
    pub const MECHANISM: c_int = 43;
    pub const PLAIN_SERVER: c_int = 44;
    pub const PLAIN_USERNAME: c_int = 45;
    pub const PLAIN_PASSWORD: c_int = 46;
    pub const CURVE_SERVER: c_int = 47;
    pub const CURVE_PUBLICKEY: c_int = 48;
    pub const CURVE_SECRETKEY: c_int = 49;
    pub const CURVE_SERVERKEY: c_int = 50;
    pub const PROBE_ROUTER: c_int = 51;
    pub const REQ_CORRELATE: c_int = 52;
    pub const REQ_RELAXED: c_int = 53;
    pub const CONFLATE: c_int = 54;
    pub const ZAP_DOMAIN: c_int = 55;
    pub const ROUTER_HANDOVER: c_int = 56;
    pub const HANDSHAKE_IVL: c_int = 66;
    pub const XPUB_NODROP: c_int = 69;
    pub const XPUB_MANUAL: c_int = 71;
    pub const XPUB_WELCOME_MSG: c_int = 72;
    pub const HEARTBEAT_IVL: c_int = 75;
    pub const HEARTBEAT_TTL: c_int = 76;
    pub const HEARTBEAT_TIMEOUT: c_int = 77;
    pub const XPUB_VERBOSER: c_int = 78;
}

/// `ZMQ_MECHANISM` values.
const MECHANISM_NULL: c_int = 0;
const MECHANISM_PLAIN: c_int = 1;
const MECHANISM_CURVE: c_int = 2;

/// A socket's options as set through the C API.
#[derive(Debug, Clone)]
pub struct SocketOptions {
    /// What the transport socket is made with.
    pub transport: Options,
    /// `ZMQ_LINGER` in ms, -1 forever (kept apart: it can change after
    /// the transport socket exists, and `zmq_close` honours the last one).
    pub linger_ms: c_int,
    /// `ZMQ_RCVTIMEO` in ms, -1 forever.
    pub rcvtimeo: c_int,
    /// `ZMQ_SNDTIMEO` in ms, -1 forever.
    pub sndtimeo: c_int,
    /// `ZMQ_SNDBUF`, kept for `getsockopt` (the system default is used).
    pub sndbuf: c_int,
    /// `ZMQ_RCVBUF`, likewise.
    pub rcvbuf: c_int,
    /// `ZMQ_BACKLOG`, likewise.
    pub backlog: c_int,
    /// `ZMQ_IPV6`, likewise (the transport resolves both families).
    pub ipv6: bool,
    /// Security as set piece by piece; made into a [`Security`] with the
    /// transport socket.
    pub security: SecurityParts,
    /// Options not acted on, answered with libzmq's defaults
    /// (`sockopt_kept.rs`); reached only by numbers the arms here miss.
    pub kept: KeptOptions,
}

/// The security options, which only together name a mechanism.
#[derive(Debug, Clone, Default)]
pub struct SecurityParts {
    plain_server: bool,
    plain_username: Option<String>,
    plain_password: Option<String>,
    curve_server: bool,
    curve_public: Option<[u8; 32]>,
    curve_secret: Option<[u8; 32]>,
    curve_serverkey: Option<[u8; 32]>,
    /// The mechanism the last setting chose, as libzmq tracks it.
    mechanism: c_int,
}

impl SecurityParts {
    /// The transport's [`Security`] for these settings; EINVAL when a
    /// CURVE role lacks its keys.
    pub fn security(&self) -> Result<Security, Errno> {
        match self.mechanism {
            MECHANISM_PLAIN if self.plain_server => Ok(Security::PlainServer),
            MECHANISM_PLAIN => Ok(Security::PlainClient {
                username: self.plain_username.clone().unwrap_or_default(),
                password: self.plain_password.clone().unwrap_or_default(),
            }),
            MECHANISM_CURVE => {
                let secret = self.curve_secret.ok_or(Errno::INVAL)?;
                let keys = CurveKeyPair::from_secret(CurveSecretKey::from_bytes(secret));
                if self.curve_server {
                    Ok(Security::CurveServer { keys })
                } else {
                    let server = self.curve_serverkey.ok_or(Errno::INVAL)?;
                    Ok(Security::CurveClient {
                        keys,
                        server_key: CurvePublicKey::from(server),
                    })
                }
            }
            _ => Ok(Security::Null),
        }
    }
}

/// What a `setsockopt` asks of the socket beyond storing a value.
#[derive(Debug, PartialEq, Eq)]
pub enum Effect {
    /// Nothing: the value is stored.
    Stored,
    /// `ZMQ_SUBSCRIBE` to this topic.
    Subscribe(Bytes),
    /// `ZMQ_UNSUBSCRIBE` from this topic.
    Unsubscribe(Bytes),
    /// A behaviour the transport socket changes while it runs (stored in
    /// the options too, for a transport socket made later).
    Live(Mode),
}

/// A `getsockopt` answer, before it is written to the caller's buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Value {
    /// An `int`.
    Int(c_int),
    /// An `int64_t`.
    Int64(i64),
    /// Binary bytes (routing id).
    Bytes(Vec<u8>),
    /// A string, written with its NUL.
    Str(String),
    /// A CURVE key: 32 bytes, or 40 Z85 characters and a NUL, as the
    /// caller's buffer size asks.
    Key([u8; 32]),
}

fn int(value: &[u8]) -> Result<c_int, Errno> {
    let bytes: [u8; 4] = value.try_into().map_err(|_| Errno::INVAL)?;
    Ok(c_int::from_ne_bytes(bytes))
}

fn int64(value: &[u8]) -> Result<i64, Errno> {
    let bytes: [u8; 8] = value.try_into().map_err(|_| Errno::INVAL)?;
    Ok(i64::from_ne_bytes(bytes))
}

fn flag(value: &[u8]) -> Result<bool, Errno> {
    match int(value)? {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(Errno::INVAL),
    }
}

fn non_negative(value: &[u8]) -> Result<usize, Errno> {
    usize::try_from(int(value)?).map_err(|_| Errno::INVAL)
}

fn millis(value: &[u8]) -> Result<Duration, Errno> {
    Ok(Duration::from_millis(
        u64::try_from(int(value)?).map_err(|_| Errno::INVAL)?,
    ))
}

/// `ZMQ_HEARTBEAT_TTL`: libzmq sends it in deciseconds as a `uint16_t`,
/// so it keeps whole deciseconds and refuses what does not fit (EINVAL).
fn heartbeat_ttl(value: &[u8]) -> Result<Duration, Errno> {
    const MAX_MS: u64 = (u16::MAX as u64 + 1) * 100 - 1;
    let ms = u64::try_from(int(value)?).map_err(|_| Errno::INVAL)?;
    if ms > MAX_MS {
        return Err(Errno::INVAL);
    }
    Ok(Duration::from_millis(ms - ms % 100))
}

fn duration_ms(d: Duration) -> c_int {
    c_int::try_from(d.as_millis()).unwrap_or(c_int::MAX)
}

fn text(value: &[u8]) -> Result<String, Errno> {
    // A trailing NUL (C callers pass strlen + 1 at times) is not part of it.
    let value = value.strip_suffix(&[0]).unwrap_or(value);
    String::from_utf8(value.to_vec()).map_err(|_| Errno::INVAL)
}

/// A CURVE key given as 32 bytes, or 40 Z85 characters (41 with a NUL).
pub fn curve_key(value: &[u8]) -> Result<[u8; 32], Errno> {
    match value.len() {
        32 => value.try_into().map_err(|_| Errno::INVAL),
        40 | 41 => {
            let z85 = std::str::from_utf8(&value[..40]).map_err(|_| Errno::INVAL)?;
            zmtp::z85::decode_key(z85).map_err(|_| Errno::INVAL)
        }
        _ => Err(Errno::INVAL),
    }
}

/// A live behaviour's option: stored in `t` (the options a transport
/// socket made later starts from) and returned as the [`Mode`] a running
/// one takes. libzmq's setters take any non-negative int as a switch.
fn live_mode(t: &mut Options, option: c_int, value: &[u8]) -> Result<Mode, Errno> {
    if option == num::XPUB_WELCOME_MSG {
        t.xpub_welcome = Bytes::copy_from_slice(value);
        return Ok(Mode::XpubWelcome(t.xpub_welcome.clone()));
    }
    let on = match int(value)? {
        n if n < 0 => return Err(Errno::INVAL),
        n => n != 0,
    };
    Ok(match option {
        num::ROUTER_MANDATORY => {
            t.router_mandatory = on;
            Mode::RouterMandatory(on)
        }
        num::ROUTER_HANDOVER => {
            t.router_handover = on;
            Mode::RouterHandover(on)
        }
        num::PROBE_ROUTER => {
            t.probe_router = on;
            Mode::ProbeRouter(on)
        }
        num::REQ_RELAXED => {
            t.req_relaxed = on;
            Mode::ReqRelaxed(on)
        }
        num::REQ_CORRELATE => {
            t.req_correlate = on;
            Mode::ReqCorrelate(on)
        }
        // VERBOSE and VERBOSER set each other's switches, as libzmq's.
        num::XPUB_VERBOSE => {
            (t.xpub_verbose, t.xpub_verboser) = (on, false);
            Mode::XpubVerbose(on)
        }
        num::XPUB_VERBOSER => {
            (t.xpub_verbose, t.xpub_verboser) = (on, on);
            Mode::XpubVerboser(on)
        }
        num::XPUB_NODROP => {
            t.xpub_nodrop = on;
            Mode::XpubNodrop(on)
        }
        num::XPUB_MANUAL => {
            t.xpub_manual = on;
            Mode::XpubManual(on)
        }
        _ => return Err(Errno::INVAL),
    })
}

impl SocketOptions {
    /// libzmq's defaults for `socket_type`, with the context's IPV6.
    pub fn new(socket_type: SocketType, ipv6: bool) -> Self {
        let transport = Options::new(socket_type);
        let linger_ms = transport.linger.map_or(-1, duration_ms);
        SocketOptions {
            transport,
            linger_ms,
            rcvtimeo: -1,
            sndtimeo: -1,
            sndbuf: -1,
            rcvbuf: -1,
            backlog: 100,
            ipv6,
            security: SecurityParts::default(),
            kept: KeptOptions::new(socket_type),
        }
    }

    /// The linger to honour when closing; `None` is forever.
    pub fn linger(&self) -> Option<Duration> {
        u64::try_from(self.linger_ms)
            .ok()
            .map(Duration::from_millis)
    }

    /// Applies `zmq_setsockopt(option, value)`.
    pub fn set(&mut self, option: c_int, value: &[u8]) -> Result<Effect, Errno> {
        let t = &mut self.transport;
        match option {
            num::SUBSCRIBE => return Ok(Effect::Subscribe(Bytes::copy_from_slice(value))),
            num::UNSUBSCRIBE => return Ok(Effect::Unsubscribe(Bytes::copy_from_slice(value))),
            num::ROUTING_ID => {
                if value.is_empty() || value.len() > 255 {
                    return Err(Errno::INVAL);
                }
                t.routing_id = Bytes::copy_from_slice(value);
            }
            num::LINGER => {
                let ms = int(value)?;
                if ms < -1 {
                    return Err(Errno::INVAL);
                }
                self.linger_ms = ms;
                t.linger = u64::try_from(ms).ok().map(Duration::from_millis);
            }
            num::SNDHWM => t.sndhwm = non_negative(value)?,
            num::RCVHWM => t.rcvhwm = non_negative(value)?,
            num::RCVTIMEO => self.rcvtimeo = int(value)?,
            num::SNDTIMEO => self.sndtimeo = int(value)?,
            num::SNDBUF => self.sndbuf = int(value)?,
            num::RCVBUF => self.rcvbuf = int(value)?,
            num::BACKLOG => self.backlog = int(value)?,
            num::IPV6 => self.ipv6 = flag(value)?,
            num::IPV4ONLY => self.ipv6 = !flag(value)?,
            num::IMMEDIATE => t.immediate = flag(value)?,
            num::MAXMSGSIZE => t.maxmsgsize = u64::try_from(int64(value)?).ok(),
            num::RECONNECT_IVL => {
                let ms = int(value)?;
                // -1 turns reconnection off in libzmq; zero does here.
                t.reconnect_ivl = Duration::from_millis(u64::try_from(ms).unwrap_or(0));
            }
            num::RECONNECT_IVL_MAX => t.reconnect_ivl_max = millis(value)?,
            num::HANDSHAKE_IVL => {
                let d = millis(value)?;
                t.handshake_ivl = (!d.is_zero()).then_some(d);
            }
            num::HEARTBEAT_IVL => {
                let d = millis(value)?;
                t.heartbeat.interval = (!d.is_zero()).then_some(d);
            }
            num::HEARTBEAT_TTL => t.heartbeat.ttl = heartbeat_ttl(value)?,
            num::HEARTBEAT_TIMEOUT => t.heartbeat.timeout = Some(millis(value)?),
            num::ROUTER_MANDATORY
            | num::ROUTER_HANDOVER
            | num::PROBE_ROUTER
            | num::REQ_RELAXED
            | num::REQ_CORRELATE
            | num::XPUB_VERBOSE
            | num::XPUB_VERBOSER
            | num::XPUB_NODROP
            | num::XPUB_MANUAL
            | num::XPUB_WELCOME_MSG => return Ok(Effect::Live(live_mode(t, option, value)?)),
            num::CONFLATE => t.conflate = flag(value)?,
            num::ZAP_DOMAIN => t.zap_domain = text(value)?,
            num::PLAIN_SERVER => {
                let on = flag(value)?;
                let s = &mut self.security;
                s.plain_server = on;
                s.mechanism = if on { MECHANISM_PLAIN } else { MECHANISM_NULL };
            }
            num::PLAIN_USERNAME | num::PLAIN_PASSWORD => {
                let s = &mut self.security;
                let v = text(value)?;
                if value.is_empty() {
                    s.mechanism = MECHANISM_NULL;
                } else {
                    s.mechanism = MECHANISM_PLAIN;
                    s.plain_server = false;
                }
                let slot = if option == num::PLAIN_USERNAME {
                    &mut s.plain_username
                } else {
                    &mut s.plain_password
                };
                *slot = Some(v);
            }
            num::CURVE_SERVER => {
                let on = flag(value)?;
                let s = &mut self.security;
                s.curve_server = on;
                s.mechanism = if on { MECHANISM_CURVE } else { MECHANISM_NULL };
            }
            num::CURVE_PUBLICKEY | num::CURVE_SECRETKEY | num::CURVE_SERVERKEY => {
                let key = curve_key(value)?;
                let s = &mut self.security;
                s.mechanism = MECHANISM_CURVE;
                match option {
                    num::CURVE_PUBLICKEY => s.curve_public = Some(key),
                    num::CURVE_SECRETKEY => s.curve_secret = Some(key),
                    _ => {
                        s.curve_serverkey = Some(key);
                        s.curve_server = false;
                    }
                }
            }
            _ => self.kept.set(option, value)?,
        }
        Ok(Effect::Stored)
    }

    /// Answers `zmq_getsockopt(option)` for the options kept here (the
    /// socket answers TYPE, RCVMORE and LAST_ENDPOINT itself).
    pub fn get(&self, option: c_int) -> Result<Value, Errno> {
        let t = &self.transport;
        let flag = |b: bool| Value::Int(c_int::from(b));
        let count = |n: usize| Value::Int(c_int::try_from(n).unwrap_or(c_int::MAX));
        let s = &self.security;
        let key = |k: Option<[u8; 32]>| Value::Key(k.unwrap_or([0; 32]));
        Ok(match option {
            num::ROUTING_ID => Value::Bytes(t.routing_id.to_vec()),
            num::LINGER => Value::Int(self.linger_ms),
            num::SNDHWM => count(t.sndhwm),
            num::RCVHWM => count(t.rcvhwm),
            num::RCVTIMEO => Value::Int(self.rcvtimeo),
            num::SNDTIMEO => Value::Int(self.sndtimeo),
            num::SNDBUF => Value::Int(self.sndbuf),
            num::RCVBUF => Value::Int(self.rcvbuf),
            num::BACKLOG => Value::Int(self.backlog),
            num::IPV6 => flag(self.ipv6),
            num::IPV4ONLY => flag(!self.ipv6),
            num::IMMEDIATE => flag(t.immediate),
            num::MAXMSGSIZE => Value::Int64(
                t.maxmsgsize
                    .map_or(-1, |m| i64::try_from(m).unwrap_or(i64::MAX)),
            ),
            num::RECONNECT_IVL => Value::Int(duration_ms(t.reconnect_ivl)),
            num::RECONNECT_IVL_MAX => Value::Int(duration_ms(t.reconnect_ivl_max)),
            num::HANDSHAKE_IVL => Value::Int(t.handshake_ivl.map_or(0, duration_ms)),
            num::HEARTBEAT_IVL => Value::Int(t.heartbeat.interval.map_or(0, duration_ms)),
            num::HEARTBEAT_TTL => Value::Int(duration_ms(t.heartbeat.ttl)),
            num::HEARTBEAT_TIMEOUT => Value::Int(
                t.heartbeat
                    .timeout
                    .or(t.heartbeat.interval)
                    .map_or(-1, duration_ms),
            ),
            num::ROUTER_MANDATORY => flag(t.router_mandatory),
            num::ROUTER_HANDOVER => flag(t.router_handover),
            num::REQ_RELAXED => flag(t.req_relaxed),
            num::XPUB_VERBOSE => flag(t.xpub_verbose),
            num::XPUB_VERBOSER => flag(t.xpub_verboser),
            num::XPUB_NODROP => flag(t.xpub_nodrop),
            num::XPUB_MANUAL => flag(t.xpub_manual),
            num::PROBE_ROUTER => flag(t.probe_router),
            num::REQ_CORRELATE => flag(t.req_correlate),
            num::CONFLATE => flag(t.conflate),
            num::ZAP_DOMAIN => Value::Str(t.zap_domain.clone()),
            num::MECHANISM => Value::Int(s.mechanism),
            num::PLAIN_SERVER => flag(s.plain_server && s.mechanism == MECHANISM_PLAIN),
            num::PLAIN_USERNAME => Value::Str(s.plain_username.clone().unwrap_or_default()),
            num::PLAIN_PASSWORD => Value::Str(s.plain_password.clone().unwrap_or_default()),
            num::CURVE_SERVER => flag(s.curve_server && s.mechanism == MECHANISM_CURVE),
            num::CURVE_PUBLICKEY => key(s.curve_public.or_else(|| {
                s.curve_secret
                    .map(|k| *CurveSecretKey::from_bytes(k).public_key().as_bytes())
            })),
            num::CURVE_SECRETKEY => key(s.curve_secret),
            num::CURVE_SERVERKEY => key(s.curve_serverkey),
            _ => self.kept.get(option)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> SocketOptions {
        SocketOptions::new(SocketType::Push, false)
    }

    #[test]
    fn heartbeat_ttl_is_whole_deciseconds_up_to_a_u16() {
        let mut o = opts();
        for (set, read) in [(6_553_599, 6_553_500), (99, 0), (250, 200)] {
            assert_eq!(
                o.set(num::HEARTBEAT_TTL, &i32::to_ne_bytes(set)),
                Ok(Effect::Stored)
            );
            assert_eq!(o.get(num::HEARTBEAT_TTL), Ok(Value::Int(read)));
        }
        for bad in [6_553_600, -1] {
            let r = o.set(num::HEARTBEAT_TTL, &i32::to_ne_bytes(bad));
            assert_eq!(r, Err(Errno::INVAL));
        }
    }

    #[test]
    fn ints_need_four_bytes() {
        let mut o = opts();
        assert_eq!(o.set(num::SNDHWM, &7i32.to_ne_bytes()), Ok(Effect::Stored));
        assert_eq!(o.get(num::SNDHWM), Ok(Value::Int(7)));
        assert_eq!(o.set(num::SNDHWM, &[1, 2]), Err(Errno::INVAL));
        assert_eq!(
            o.set(num::SNDHWM, &(-1i32).to_ne_bytes()),
            Err(Errno::INVAL)
        );
    }

    #[test]
    fn unknown_options_are_einval() {
        let mut o = opts();
        assert_eq!(o.set(9999, &0i32.to_ne_bytes()), Err(Errno::INVAL));
        assert_eq!(o.get(9999), Err(Errno::INVAL));
    }

    #[test]
    fn linger_defaults_and_changes() {
        let mut o = opts();
        assert_eq!(o.get(num::LINGER), Ok(Value::Int(-1)));
        assert_eq!(SocketOptions::new(SocketType::Sub, false).linger_ms, 0);
        o.set(num::LINGER, &250i32.to_ne_bytes()).ok();
        assert_eq!(o.linger(), Some(Duration::from_millis(250)));
        assert_eq!(o.transport.linger, Some(Duration::from_millis(250)));
    }

    #[test]
    fn curve_keys_as_bytes_or_z85() {
        let pair = CurveKeyPair::generate();
        let z85 = pair.public().to_z85();
        assert_eq!(curve_key(z85.as_bytes()), Ok(*pair.public().as_bytes()));
        let mut with_nul = z85.into_bytes();
        with_nul.push(0);
        assert_eq!(curve_key(&with_nul), Ok(*pair.public().as_bytes()));
        assert_eq!(
            curve_key(pair.public().as_bytes()),
            Ok(*pair.public().as_bytes())
        );
        assert_eq!(curve_key(b"short"), Err(Errno::INVAL));
    }

    #[test]
    fn curve_client_needs_server_key_and_secret() {
        let mut o = opts();
        let server = CurveKeyPair::generate();
        let client = CurveKeyPair::generate();
        o.set(num::CURVE_SECRETKEY, client.secret().as_bytes()).ok();
        assert_eq!(o.get(num::MECHANISM), Ok(Value::Int(MECHANISM_CURVE)));
        assert!(o.security.security().is_err());
        o.set(num::CURVE_SERVERKEY, server.public().as_bytes()).ok();
        assert!(matches!(
            o.security.security(),
            Ok(Security::CurveClient { .. })
        ));
    }

    #[test]
    fn subscriptions_are_effects() {
        let mut o = SocketOptions::new(SocketType::Sub, false);
        assert_eq!(
            o.set(num::SUBSCRIBE, b"ab"),
            Ok(Effect::Subscribe(Bytes::from_static(b"ab")))
        );
    }
}
