//! libzmq's timer sets (`zmq_timers_*`): a caller-driven set of repeating
//! timers. The caller asks how long to sleep (`zmq_timers_timeout`, often
//! as a `zmq_poll` timeout), then runs the due handlers
//! (`zmq_timers_execute`) on its own thread; nothing runs in the
//! background.
//!
//! [`TimerSet`] is the state, with the time passed in (milliseconds on a
//! monotonic clock), so it is tested without clocks. The exports wrap one
//! behind an opaque pointer with the set's own clock. Behaviour follows
//! libzmq 4.3 (`timers.cpp`):
//! - ids count up from 1 per set; a timer first fires `interval` ms after
//!   it is added, then every `interval` ms after each run (measured from
//!   the `execute` that ran it, so a late run does not bunch up);
//! - `cancel` of an unknown or already cancelled id is EINVAL; a cancelled
//!   timer is removed lazily (by the next `timeout` or `execute`), and
//!   until then `set_interval`/`reset` still accept its id, as in libzmq;
//! - `set_interval` and `reset` restart the countdown from now;
//! - `timeout` is -1 with no live timer, else the ms until the first is
//!   due (0 if overdue);
//! - a NULL handler is EFAULT, as is a pointer that is not a timer set.
//!
//! One difference: each due timer runs at most once per `execute`. libzmq
//! reinserts a zero-interval timer where its own loop meets it again and
//! so never returns; here it runs once per call.
//!
//! Handlers may call back into the same set (cancel, add, reset): no lock
//! is held while a handler runs, and a timer cancelled by an earlier
//! handler of the same `execute` does not run.

use std::collections::BTreeMap;
use std::ffi::{c_int, c_long, c_void};
use std::sync::Mutex;
use std::time::Instant;

use crate::boundary::{call, call_ptr};
use crate::errno::Errno;
use crate::handle::{self, tags};

/// libzmq's `zmq_timer_fn`.
pub type TimerFn = unsafe extern "C" fn(timer_id: c_int, arg: *mut c_void);

/// Why a timer operation was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TimerError {
    /// No timer with this id (or, for `cancel`, already cancelled).
    #[error("no such timer")]
    UnknownTimer,
    /// More timers were added than an `int` id can name.
    #[error("timer ids exhausted")]
    IdsExhausted,
}

impl From<TimerError> for Errno {
    fn from(_: TimerError) -> Self {
        Errno::INVAL
    }
}

/// One timer.
#[derive(Debug, Clone)]
struct Timer<H> {
    id: c_int,
    interval: u64,
    handler: H,
    cancelled: bool,
}

/// A set of repeating timers, ordered by when each is due; `H` is what
/// a due timer hands back (the C handler and its argument).
#[derive(Debug)]
pub struct TimerSet<H> {
    /// (due time in ms, insertion number) → timer: equal due times run
    /// in the order they were scheduled, as libzmq's multimap does.
    due: BTreeMap<(u64, u64), Timer<H>>,
    next_id: c_int,
    next_seq: u64,
}

impl<H> Default for TimerSet<H> {
    fn default() -> Self {
        TimerSet {
            due: BTreeMap::new(),
            next_id: 0,
            next_seq: 0,
        }
    }
}

impl<H: Clone> TimerSet<H> {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    fn schedule(&mut self, when: u64, timer: Timer<H>) {
        self.next_seq += 1;
        self.due.insert((when, self.next_seq), timer);
    }

    /// The key of timer `id` (a linear search, as libzmq's; sets hold a
    /// handful of timers).
    fn find(&self, id: c_int) -> Option<(u64, u64)> {
        self.due
            .iter()
            .find(|(_, t)| t.id == id)
            .map(|(key, _)| *key)
    }

    /// Adds a timer due `interval` ms after `now`; returns its id.
    pub fn add(&mut self, interval: u64, handler: H, now: u64) -> Result<c_int, TimerError> {
        let id = self
            .next_id
            .checked_add(1)
            .ok_or(TimerError::IdsExhausted)?;
        self.next_id = id;
        let timer = Timer {
            id,
            interval,
            handler,
            cancelled: false,
        };
        self.schedule(now.saturating_add(interval), timer);
        Ok(id)
    }

    /// Cancels timer `id`.
    pub fn cancel(&mut self, id: c_int) -> Result<(), TimerError> {
        let key = self.find(id).ok_or(TimerError::UnknownTimer)?;
        let timer = self.due.get_mut(&key).ok_or(TimerError::UnknownTimer)?;
        if timer.cancelled {
            return Err(TimerError::UnknownTimer);
        }
        timer.cancelled = true;
        Ok(())
    }

    /// Gives timer `id` a new interval, counted from `now`.
    pub fn set_interval(&mut self, id: c_int, interval: u64, now: u64) -> Result<(), TimerError> {
        let key = self.find(id).ok_or(TimerError::UnknownTimer)?;
        let mut timer = self.due.remove(&key).ok_or(TimerError::UnknownTimer)?;
        timer.interval = interval;
        self.schedule(now.saturating_add(interval), timer);
        Ok(())
    }

    /// Restarts timer `id`'s countdown from `now`.
    pub fn reset(&mut self, id: c_int, now: u64) -> Result<(), TimerError> {
        let key = self.find(id).ok_or(TimerError::UnknownTimer)?;
        let timer = self.due.remove(&key).ok_or(TimerError::UnknownTimer)?;
        self.schedule(now.saturating_add(timer.interval), timer);
        Ok(())
    }

    /// Drops cancelled timers from the front of the order.
    fn sweep_front(&mut self) {
        while let Some(entry) = self.due.first_entry() {
            if !entry.get().cancelled {
                break;
            }
            entry.remove();
        }
    }

    /// Milliseconds from `now` until the first live timer is due (0 if
    /// overdue), `None` with no live timer.
    pub fn timeout(&mut self, now: u64) -> Option<u64> {
        self.sweep_front();
        self.due
            .first_key_value()
            .map(|(&(when, _), _)| when.saturating_sub(now))
    }

    /// Takes every timer due at `now`, reschedules each `interval` ms
    /// after `now`, and returns them in due order for the caller to run.
    pub fn take_due(&mut self, now: u64) -> Vec<(c_int, H)> {
        let mut fired = Vec::new();
        // Timers rescheduled by this call have later insertion numbers;
        // meeting one (a zero interval lands at `now` again) ends the round.
        let last_before = self.next_seq;
        while let Some(entry) = self.due.first_entry() {
            if entry.get().cancelled {
                entry.remove();
                continue;
            }
            let (when, seq) = *entry.key();
            if when > now || seq > last_before {
                break;
            }
            let timer = entry.remove();
            fired.push((timer.id, timer.handler.clone()));
            let when = now.saturating_add(timer.interval);
            self.schedule(when, timer);
        }
        fired
    }

    /// Whether timer `id` exists and is not cancelled.
    pub fn is_live(&self, id: c_int) -> bool {
        self.find(id)
            .and_then(|key| self.due.get(&key))
            .is_some_and(|t| !t.cancelled)
    }
}

/// The C handler and its argument.
#[derive(Clone, Copy)]
struct Callback {
    handler: TimerFn,
    arg: *mut c_void,
}

/// What a `zmq_timers_new` pointer holds: the set and its clock.
struct CTimers {
    set: Mutex<TimerSet<Callback>>,
    epoch: Instant,
}

impl CTimers {
    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn with<T>(&self, f: impl FnOnce(&mut TimerSet<Callback>, u64) -> T) -> T {
        let now = self.now();
        let mut set = self.set.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut set, now)
    }
}

/// The set behind `timers`, EFAULT if not one.
///
/// # Safety
/// `timers` is NULL or from `zmq_timers_new`, not destroyed.
unsafe fn timers<'a>(timers: *mut c_void) -> Result<&'a CTimers, Errno> {
    // SAFETY: forwarded contract.
    unsafe { handle::borrow::<CTimers>(timers, tags::TIMERS, Errno::FAULT) }
}

fn interval_ms(interval: usize) -> u64 {
    u64::try_from(interval).unwrap_or(u64::MAX)
}

/// `zmq_timers_new`: an empty timer set.
#[unsafe(no_mangle)]
pub extern "C" fn zmq_timers_new() -> *mut c_void {
    call_ptr(|| {
        let timers = CTimers {
            set: Mutex::new(TimerSet::new()),
            epoch: Instant::now(),
        };
        Ok(handle::into_raw(tags::TIMERS, timers))
    })
}

/// `zmq_timers_destroy`: frees the set and NULLs the caller's pointer.
///
/// # Safety
/// `timers_p` is NULL or points to NULL or a live timer set, which no
/// other call is using.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_timers_destroy(timers_p: *mut *mut c_void) -> c_int {
    call(|| {
        if timers_p.is_null() {
            return Err(Errno::FAULT);
        }
        // SAFETY: non-NULL, and by the contract a readable pointer.
        let ptr = unsafe { *timers_p };
        // SAFETY: caller's contract, which gives the set up.
        drop(unsafe { handle::from_raw::<CTimers>(ptr, tags::TIMERS, Errno::FAULT) }?);
        // SAFETY: as above, writable.
        unsafe { *timers_p = std::ptr::null_mut() };
        Ok(0)
    })
}

/// `zmq_timers_add`: a timer calling `handler(id, arg)` every `interval`
/// ms; returns its id (EFAULT for a NULL handler).
///
/// # Safety
/// `timers` is NULL or a live timer set; `handler` stays callable with
/// `arg` while the timer exists.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_timers_add(
    timers_: *mut c_void,
    interval: usize,
    handler: Option<TimerFn>,
    arg: *mut c_void,
) -> c_int {
    call(|| {
        // SAFETY: caller's contract.
        let t = unsafe { timers(timers_) }?;
        let handler = handler.ok_or(Errno::FAULT)?;
        let callback = Callback { handler, arg };
        Ok(t.with(|set, now| set.add(interval_ms(interval), callback, now))?)
    })
}

/// `zmq_timers_cancel`: EINVAL if `timer_id` is unknown or cancelled.
///
/// # Safety
/// `timers` is NULL or a live timer set.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_timers_cancel(timers_: *mut c_void, timer_id: c_int) -> c_int {
    call(|| {
        // SAFETY: caller's contract.
        let t = unsafe { timers(timers_) }?;
        t.with(|set, _| set.cancel(timer_id))?;
        Ok(0)
    })
}

/// `zmq_timers_set_interval`: a new interval, counted from now.
///
/// # Safety
/// `timers` is NULL or a live timer set.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_timers_set_interval(
    timers_: *mut c_void,
    timer_id: c_int,
    interval: usize,
) -> c_int {
    call(|| {
        // SAFETY: caller's contract.
        let t = unsafe { timers(timers_) }?;
        t.with(|set, now| set.set_interval(timer_id, interval_ms(interval), now))?;
        Ok(0)
    })
}

/// `zmq_timers_reset`: restarts the timer's countdown from now.
///
/// # Safety
/// `timers` is NULL or a live timer set.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_timers_reset(timers_: *mut c_void, timer_id: c_int) -> c_int {
    call(|| {
        // SAFETY: caller's contract.
        let t = unsafe { timers(timers_) }?;
        t.with(|set, now| set.reset(timer_id, now))?;
        Ok(0)
    })
}

/// `zmq_timers_timeout`: ms until the next timer is due, 0 if one is
/// overdue, -1 with none (and -1 with EFAULT for a bad pointer).
///
/// # Safety
/// `timers` is NULL or a live timer set.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_timers_timeout(timers_: *mut c_void) -> c_long {
    let mut result: c_long = -1;
    let rc = call(|| {
        // SAFETY: caller's contract.
        let t = unsafe { timers(timers_) }?;
        if let Some(ms) = t.with(|set, now| set.timeout(now)) {
            result = c_long::try_from(ms).unwrap_or(c_long::MAX);
        }
        Ok(0)
    });
    if rc == 0 { result } else { -1 }
}

/// `zmq_timers_execute`: runs every due handler on the caller's thread.
///
/// # Safety
/// `timers` is NULL or a live timer set; each handler is safe to call
/// with its argument.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_timers_execute(timers_: *mut c_void) -> c_int {
    call(|| {
        // SAFETY: caller's contract.
        let t = unsafe { timers(timers_) }?;
        let due = t.with(|set, now| set.take_due(now));
        for (id, callback) in due {
            // An earlier handler of this round may have cancelled it.
            if !t.with(|set, _| set.is_live(id)) {
                continue;
            }
            // SAFETY: the caller's contract for the handler it added; no
            // lock is held, so the handler may use this set.
            unsafe { (callback.handler)(id, callback.arg) };
        }
        Ok(0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(due: Vec<(c_int, &'static str)>) -> Vec<c_int> {
        due.into_iter().map(|(id, _)| id).collect()
    }

    #[test]
    fn ids_count_up_and_timeout_tracks_the_first() {
        let mut set = TimerSet::new();
        assert_eq!(set.timeout(0), None);
        assert_eq!(set.add(100, "a", 0), Ok(1));
        assert_eq!(set.add(50, "b", 10), Ok(2));
        assert_eq!(set.timeout(10), Some(50));
        assert_eq!(set.timeout(70), Some(0));
    }

    #[test]
    fn due_timers_run_in_order_and_repeat() {
        let mut set = TimerSet::new();
        set.add(100, "a", 0).ok();
        set.add(50, "b", 0).ok();
        assert!(set.take_due(49).is_empty());
        assert_eq!(ids(set.take_due(100)), vec![2, 1]);
        // Both rescheduled from the run: due at 150 and 200.
        assert_eq!(set.timeout(100), Some(50));
        assert_eq!(ids(set.take_due(150)), vec![2]);
        assert_eq!(ids(set.take_due(200)), vec![1, 2]);
    }

    #[test]
    fn cancel_once_then_einval_and_swept() {
        let mut set = TimerSet::new();
        let id = set.add(10, "a", 0).unwrap_or_default();
        assert_eq!(set.cancel(id), Ok(()));
        assert_eq!(set.cancel(id), Err(TimerError::UnknownTimer));
        assert_eq!(set.cancel(99), Err(TimerError::UnknownTimer));
        // Not yet swept: libzmq still accepts its id here.
        assert_eq!(set.reset(id, 0), Ok(()));
        assert_eq!(set.timeout(0), None);
        assert!(set.take_due(1000).is_empty());
        assert_eq!(set.reset(id, 0), Err(TimerError::UnknownTimer));
        assert!(!set.is_live(id));
    }

    #[test]
    fn set_interval_and_reset_count_from_now() {
        let mut set = TimerSet::new();
        let id = set.add(100, "a", 0).unwrap_or_default();
        assert_eq!(set.set_interval(id, 30, 50), Ok(()));
        assert_eq!(set.timeout(50), Some(30));
        assert_eq!(set.reset(id, 70), Ok(()));
        assert_eq!(set.timeout(70), Some(30));
        assert_eq!(set.set_interval(7, 1, 0), Err(TimerError::UnknownTimer));
    }

    #[test]
    fn zero_interval_runs_once_per_round() {
        let mut set = TimerSet::new();
        set.add(0, "a", 0).ok();
        set.add(0, "b", 0).ok();
        assert_eq!(ids(set.take_due(0)), vec![1, 2]);
        assert_eq!(ids(set.take_due(0)), vec![1, 2]);
    }
}
