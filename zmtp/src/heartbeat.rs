//! ZMTP 3.1 heartbeat timers, as libzmq runs them.
//!
//! Three independent timers: when to send the next PING; how long after a
//! PING we wait for any sign of life (`timeout`); and the TTL the peer asked
//! for in its own PING. Any incoming frame stops the last two, not only a
//! PONG. None of them runs before the handshake completes. Like libzmq, we
//! PING a ZMTP 3.0 peer too: it ignores the unknown command, but a silent
//! one still times out.

use std::time::{Duration, Instant};

use crate::config::HeartbeatConfig;

/// Which heartbeat deadline expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expired {
    /// Nothing arrived within the timeout after our PING.
    Timeout,
    /// Nothing arrived within the TTL the peer's PING announced.
    Ttl,
}

/// What the timers want done now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// Nothing is due.
    Idle,
    /// Send a PING carrying this TTL (deciseconds).
    Ping(u16),
}

#[derive(Debug, Clone)]
pub(crate) struct Heartbeat {
    config: HeartbeatConfig,
    next_ping: Option<Instant>,
    timeout_at: Option<Instant>,
    ttl_at: Option<Instant>,
}

impl Heartbeat {
    pub(crate) fn new(config: HeartbeatConfig) -> Self {
        Heartbeat {
            config,
            next_ping: None,
            timeout_at: None,
            ttl_at: None,
        }
    }

    /// Arms the PING timer once the handshake is done (any ZMTP 3 peer).
    pub(crate) fn start(&mut self, now: Instant) {
        self.next_ping = self
            .config
            .interval
            .filter(|i| !i.is_zero())
            .map(|i| now + i);
    }

    /// Any frame arrived: the peer is alive.
    pub(crate) fn on_traffic(&mut self) {
        self.timeout_at = None;
        self.ttl_at = None;
    }

    /// The peer's PING asked us to expect traffic within `ttl` deciseconds.
    pub(crate) fn on_ping(&mut self, ttl: u16, now: Instant) {
        if ttl > 0 {
            self.ttl_at = Some(now + Duration::from_millis(u64::from(ttl) * 100));
        }
    }

    /// The earliest deadline.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        [self.next_ping, self.timeout_at, self.ttl_at]
            .into_iter()
            .flatten()
            .min()
    }

    /// Fires whatever is due at `now`.
    pub(crate) fn on_timeout(&mut self, now: Instant) -> Result<Due, Expired> {
        if self.timeout_at.is_some_and(|t| t <= now) {
            return Err(Expired::Timeout);
        }
        if self.ttl_at.is_some_and(|t| t <= now) {
            return Err(Expired::Ttl);
        }
        match (self.next_ping, self.config.interval) {
            (Some(at), Some(interval)) if at <= now => {
                self.next_ping = Some(now + interval);
                if self.timeout_at.is_none() {
                    self.timeout_at = self.config.effective_timeout().map(|t| now + t);
                }
                Ok(Due::Ping(self.config.ttl_deciseconds()))
            }
            _ => Ok(Due::Idle),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn pings_then_times_out_without_traffic() {
        let t0 = Instant::now();
        let mut hb = Heartbeat::new(HeartbeatConfig {
            interval: Some(ms(100)),
            ttl: ms(2500),
            timeout: Some(ms(1000)),
        });
        hb.start(t0);
        assert_eq!(hb.deadline(), Some(t0 + ms(100)));
        assert_eq!(hb.on_timeout(t0 + ms(50)), Ok(Due::Idle));
        assert_eq!(hb.on_timeout(t0 + ms(100)), Ok(Due::Ping(25)));
        // The timeout timer is not pushed back by later PINGs.
        assert_eq!(hb.on_timeout(t0 + ms(200)), Ok(Due::Ping(25)));
        assert_eq!(hb.on_timeout(t0 + ms(1100)), Err(Expired::Timeout));
    }

    #[test]
    fn any_traffic_cancels_timeout_and_ttl() {
        let t0 = Instant::now();
        let mut hb = Heartbeat::new(HeartbeatConfig {
            interval: Some(ms(100)),
            ..Default::default()
        });
        hb.start(t0);
        assert_eq!(hb.on_timeout(t0 + ms(100)), Ok(Due::Ping(0)));
        hb.on_ping(10, t0 + ms(150));
        assert_eq!(hb.deadline(), Some(t0 + ms(200)));
        hb.on_traffic();
        assert_eq!(hb.on_timeout(t0 + ms(200)), Ok(Due::Ping(0)));
        hb.on_traffic();
        assert_eq!(hb.on_timeout(t0 + ms(290)), Ok(Due::Idle));
    }

    #[test]
    fn peer_ttl_expires_without_our_own_heartbeats() {
        let t0 = Instant::now();
        let mut hb = Heartbeat::new(HeartbeatConfig::default());
        hb.start(t0);
        assert_eq!(hb.deadline(), None);
        hb.on_ping(3, t0);
        assert_eq!(hb.on_timeout(t0 + ms(299)), Ok(Due::Idle));
        assert_eq!(hb.on_timeout(t0 + ms(300)), Err(Expired::Ttl));
    }

    #[test]
    fn ttl_field_is_truncated_deciseconds() {
        let c = |ttl| HeartbeatConfig {
            ttl,
            ..Default::default()
        };
        assert_eq!(c(ms(99)).ttl_deciseconds(), 0);
        assert_eq!(c(ms(2599)).ttl_deciseconds(), 25);
        assert_eq!(c(Duration::from_secs(100_000)).ttl_deciseconds(), u16::MAX);
        let zero = HeartbeatConfig {
            interval: Some(ms(5)),
            timeout: Some(ms(0)),
            ..Default::default()
        };
        assert_eq!(zero.effective_timeout(), None);
    }
}
