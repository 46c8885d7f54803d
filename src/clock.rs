//! Where the current instant comes from.

use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, TimeDelta, Utc};

/// How far ahead of a store's own clock a step's instant may be: 2 minutes.
///
/// Every clock is a little wrong, so a store accepts a step stamped slightly ahead of its own
/// clock (the database server's, or the system clock for SQLite). A step stamped further ahead
/// would move the request into the future, and every later step would have to wait for it: the
/// store refuses it and records the refused attempt at its own clock instead (see
/// [`Refusal::AheadOfStoreClock`](crate::Refusal::AheadOfStoreClock)). The bound is also how
/// late a customer's revocation or denial can be recorded: such a step is never refused for
/// coming before the last record; it is recorded at that record's instant, which no party can
/// push more than this far ahead.
///
/// Two minutes is generous for any server kept by NTP (which keeps them within milliseconds)
/// and short against a 4-hour access window.
pub const MAX_CLOCK_SKEW: TimeDelta = TimeDelta::minutes(2);

/// A source of the current instant.
///
/// No step in this crate reads the system clock: each takes `now` as an argument, so the
/// workflow is deterministic and tests can stand at any instant, including exactly on a
/// deadline. A [`Clock`] is how a caller gets `now`: [`SystemClock`] in production,
/// [`ManualClock`] in tests and examples.
pub trait Clock {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;
}

impl<C: Clock + ?Sized> Clock for &C {
    fn now(&self) -> DateTime<Utc> {
        (**self).now()
    }
}

/// A shared clock: a test keeps one [`ManualClock`] and hands a store
/// ([`Store::set_clock`](crate::Store::set_clock)) a clone of the `Arc`, so both read, and the
/// test moves, one clock.
impl<C: Clock + ?Sized> Clock for std::sync::Arc<C> {
    fn now(&self) -> DateTime<Utc> {
        (**self).now()
    }
}

/// The operating system's clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that stands still until told to move, for tests and examples.
///
/// Shared by reference (`&ManualClock` is a [`Clock`] too) and safe to move between threads.
///
/// ```
/// use chrono::TimeDelta;
/// use customer_lockbox::{Clock, ManualClock};
///
/// let clock = ManualClock::new("2026-11-24T08:00:00Z".parse()?);
/// clock.advance(TimeDelta::hours(12));
/// assert_eq!(clock.now().to_rfc3339(), "2026-11-24T20:00:00+00:00");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<DateTime<Utc>>,
}

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        ManualClock {
            now: Mutex::new(start),
        }
    }

    /// Moves the clock forward by `by` (backward if `by` is negative), saturating at the ends
    /// of the representable range.
    pub fn advance(&self, by: TimeDelta) {
        let mut now = self.now.lock().unwrap_or_else(PoisonError::into_inner);
        *now = now
            .checked_add_signed(by)
            .unwrap_or(if by < TimeDelta::zero() {
                DateTime::<Utc>::MIN_UTC
            } else {
                DateTime::<Utc>::MAX_UTC
            });
    }

    /// Sets the clock to `instant`.
    pub fn set(&self, instant: DateTime<Utc>) {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner) = instant;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_saturates() {
        let clock = ManualClock::new(DateTime::<Utc>::MAX_UTC);
        clock.advance(TimeDelta::hours(1));
        assert_eq!(clock.now(), DateTime::<Utc>::MAX_UTC);
        clock.advance(TimeDelta::MIN);
        assert_eq!(clock.now(), DateTime::<Utc>::MIN_UTC);
    }

    #[test]
    fn system_clock_moves() {
        let clock = SystemClock;
        assert!(clock.now() > DateTime::UNIX_EPOCH);
    }
}
