use std::fmt;

use chrono::TimeDelta;
use serde::{Deserialize, Serialize};

use crate::error::{DurationText, Error, ErrorKind};

/// The part of a whole-minutes length's API that does not depend on its bounds: constructors
/// from minutes and hours (through the type's own checking `new`), accessors, `Display` ("4
/// hours") and the serde conversions to and from a number of minutes.
macro_rules! whole_minutes {
    ($name:ident) => {
        impl $name {
            /// A length of `minutes` minutes.
            ///
            /// # Errors
            ///
            #[doc = concat!("As [`", stringify!($name), "::new`].")]
            pub fn from_minutes(minutes: u32) -> Result<Self, Error> {
                Self::new(TimeDelta::minutes(i64::from(minutes)))
            }

            /// A length of `hours` hours.
            ///
            /// # Errors
            ///
            #[doc = concat!("As [`", stringify!($name), "::new`].")]
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

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write_minutes(f, i64::from(self.minutes))
            }
        }

        impl TryFrom<u32> for $name {
            type Error = Error;
            fn try_from(minutes: u32) -> Result<Self, Error> {
                Self::from_minutes(minutes)
            }
        }

        impl From<$name> for u32 {
            fn from(value: $name) -> u32 {
                value.minutes
            }
        }
    };
}

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

    /// The maximum of the Azure preset ([`TenantPolicy::azure`](crate::TenantPolicy::azure)):
    /// 8 hours.
    pub const AZURE_MAXIMUM: AccessDuration = AccessDuration { minutes: 8 * 60 };

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

whole_minutes!(AccessDuration);

/// How long a tenant's approvers have to decide once notified: whole minutes, from
/// [`DecisionWindow::MIN`] (1 hour) to [`DecisionWindow::MAX`] (14 days).
///
/// Each tenant's [`TenantPolicy`](crate::TenantPolicy) sets one: 12 hours unless changed
/// (Microsoft 365's window), 4 days in the Azure preset. A request keeps the window it was
/// notified under: its deadline is fixed when the approvers are told of it. Below an hour the
/// approvers could not reasonably read their mail; beyond two weeks a support case has moved on
/// and should ask again.
///
/// Serialized as a number of minutes.
///
/// ```
/// use customer_lockbox::DecisionWindow;
///
/// assert_eq!(DecisionWindow::default(), DecisionWindow::from_hours(12)?);
/// assert_eq!(DecisionWindow::from_hours(96)?.to_string(), "96 hours");
/// assert!(DecisionWindow::from_minutes(30).is_err());
/// # Ok::<(), customer_lockbox::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct DecisionWindow {
    minutes: u32,
}

impl DecisionWindow {
    /// The shortest window a policy may set: 1 hour.
    pub const MIN: DecisionWindow = DecisionWindow { minutes: 60 };
    /// The longest window a policy may set: 14 days.
    pub const MAX: DecisionWindow = DecisionWindow {
        minutes: 14 * 24 * 60,
    };
    /// The window of a policy that does not set one: 12 hours, as in Microsoft 365.
    pub const DEFAULT: DecisionWindow = DecisionWindow { minutes: 12 * 60 };
    /// The window of the Azure preset ([`TenantPolicy::azure`](crate::TenantPolicy::azure)):
    /// 4 days.
    pub const AZURE: DecisionWindow = DecisionWindow {
        minutes: 4 * 24 * 60,
    };

    /// Checks a window.
    ///
    /// # Errors
    ///
    /// Returns an error for which [`Error::is_invalid_decision_window`] is true when `window`
    /// is shorter than [`DecisionWindow::MIN`], longer than [`DecisionWindow::MAX`], or not a
    /// whole number of minutes.
    pub fn new(window: TimeDelta) -> Result<Self, Error> {
        let whole = window.subsec_nanos() == 0 && window.num_seconds() % 60 == 0;
        let in_range = window >= Self::MIN.as_time_delta() && window <= Self::MAX.as_time_delta();
        match u32::try_from(window.num_minutes()) {
            Ok(minutes) if whole && in_range => Ok(DecisionWindow { minutes }),
            _ => Err(ErrorKind::DecisionWindowOutOfRange {
                requested: DurationText(window.num_seconds()),
                minimum: Self::MIN,
                maximum: Self::MAX,
            }
            .into()),
        }
    }
}

impl Default for DecisionWindow {
    fn default() -> Self {
        Self::DEFAULT
    }
}

whole_minutes!(DecisionWindow);

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
    fn decision_window_bounds_are_exact() {
        assert!(DecisionWindow::from_minutes(59).is_err());
        assert!(DecisionWindow::from_minutes(60).is_ok());
        assert!(DecisionWindow::from_hours(14 * 24).is_ok());
        assert!(DecisionWindow::from_minutes(14 * 24 * 60 + 1).is_err());
        assert!(DecisionWindow::new(TimeDelta::seconds(3601)).is_err());
        assert!(DecisionWindow::new(TimeDelta::MAX).is_err());
        assert!(DecisionWindow::new(TimeDelta::MIN).is_err());
        assert!(DecisionWindow::from_hours(u32::MAX).is_err());
        assert_eq!(
            DecisionWindow::DEFAULT.as_time_delta(),
            TimeDelta::hours(12)
        );
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
