use std::fmt;

use chrono::TimeDelta;
use serde::{Deserialize, Serialize};

use crate::error::{DurationText, Error, ErrorKind};

/// How long an engineer may access the customer's data once the request is granted: whole
/// minutes, at least one minute, at most [`AccessDuration::CEILING`].
///
/// The ceiling bounds what any tenant policy may allow; each tenant's
/// [`TenantPolicy`](crate::TenantPolicy) sets its own maximum under it (4 hours unless changed,
/// as in Microsoft 365). Whole minutes keep every access window exact when it is stored and
/// shown.
///
/// Serialized as a number of minutes.
///
/// ```
/// use customer_lockbox::AccessDuration;
///
/// let four_hours = AccessDuration::from_hours(4)?;
/// assert_eq!(four_hours.minutes(), 240);
/// assert_eq!(four_hours.to_string(), "4 hours");
/// assert!(AccessDuration::from_hours(25).is_err());
/// # Ok::<(), customer_lockbox::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct AccessDuration {
    minutes: u32,
}

impl AccessDuration {
    /// The longest access any tenant policy may allow: 24 hours.
    ///
    /// Access longer than a working day is a standing privilege, not a support case; a case that
    /// needs more asks again, and the customer decides again.
    pub const CEILING: AccessDuration = AccessDuration { minutes: 24 * 60 };

    /// The maximum a [`TenantPolicy`](crate::TenantPolicy) allows unless it says otherwise:
    /// 4 hours.
    pub const DEFAULT_POLICY_MAXIMUM: AccessDuration = AccessDuration { minutes: 4 * 60 };

    /// Checks a duration.
    ///
    /// # Errors
    ///
    /// Returns an error for which [`Error::is_invalid_duration`] is true when `duration` is zero
    /// or negative, not a whole number of minutes, or over [`AccessDuration::CEILING`].
    pub fn new(duration: TimeDelta) -> Result<Self, Error> {
        let seconds = duration.num_seconds();
        if duration <= TimeDelta::zero() {
            return Err(ErrorKind::DurationNotPositive {
                requested: DurationText(seconds),
            }
            .into());
        }
        if duration > Self::CEILING.as_time_delta() {
            return Err(ErrorKind::DurationOverCeiling {
                requested: DurationText(seconds),
                ceiling: Self::CEILING,
            }
            .into());
        }
        if duration.subsec_nanos() != 0 || seconds % 60 != 0 {
            return Err(ErrorKind::DurationNotWholeMinutes {
                requested: DurationText(seconds),
            }
            .into());
        }
        match u32::try_from(seconds / 60) {
            Ok(minutes) => Ok(AccessDuration { minutes }),
            // Unreachable after the ceiling check, but refused rather than assumed.
            Err(_) => Err(ErrorKind::DurationOverCeiling {
                requested: DurationText(seconds),
                ceiling: Self::CEILING,
            }
            .into()),
        }
    }

    /// A duration of `minutes` minutes.
    ///
    /// # Errors
    ///
    /// As [`AccessDuration::new`].
    pub fn from_minutes(minutes: u32) -> Result<Self, Error> {
        Self::new(TimeDelta::minutes(i64::from(minutes)))
    }

    /// A duration of `hours` hours.
    ///
    /// # Errors
    ///
    /// As [`AccessDuration::new`].
    pub fn from_hours(hours: u32) -> Result<Self, Error> {
        Self::new(TimeDelta::minutes(i64::from(hours) * 60))
    }

    /// The length in minutes.
    pub fn minutes(self) -> u32 {
        self.minutes
    }

    /// The length as a [`TimeDelta`].
    pub fn as_time_delta(self) -> TimeDelta {
        TimeDelta::minutes(i64::from(self.minutes))
    }
}

/// Writes a whole number of minutes as "4 hours", "90 minutes" style text.
pub(crate) fn write_minutes(f: &mut fmt::Formatter<'_>, minutes: i64) -> fmt::Result {
    let (hours, rest) = (minutes / 60, minutes % 60);
    let plural = |n: i64| if n == 1 { "" } else { "s" };
    match (hours, rest) {
        (0, m) => write!(f, "{m} minute{}", plural(m)),
        (h, 0) => write!(f, "{h} hour{}", plural(h)),
        (h, m) => write!(f, "{h} hour{} {m} minute{}", plural(h), plural(m)),
    }
}

impl fmt::Display for AccessDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_minutes(f, i64::from(self.minutes))
    }
}

impl TryFrom<u32> for AccessDuration {
    type Error = Error;
    fn try_from(minutes: u32) -> Result<Self, Error> {
        Self::from_minutes(minutes)
    }
}

impl From<AccessDuration> for u32 {
    fn from(value: AccessDuration) -> u32 {
        value.minutes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_exact() {
        assert!(AccessDuration::from_minutes(1).is_ok());
        assert!(AccessDuration::from_minutes(24 * 60).is_ok());
        assert!(AccessDuration::from_minutes(24 * 60 + 1).is_err());
        assert!(AccessDuration::new(TimeDelta::seconds(-60)).is_err());
        assert!(AccessDuration::new(TimeDelta::seconds(90)).is_err());
        assert!(AccessDuration::new(TimeDelta::MAX).is_err());
        assert!(AccessDuration::from_hours(u32::MAX).is_err());
    }

    #[test]
    fn displays_hours_and_minutes() {
        let show = |m| {
            AccessDuration::from_minutes(m)
                .map(|d| d.to_string())
                .unwrap_or_default()
        };
        assert_eq!(show(1), "1 minute");
        assert_eq!(show(60), "1 hour");
        assert_eq!(show(90), "1 hour 30 minutes");
        assert_eq!(show(121), "2 hours 1 minute");
    }
}
