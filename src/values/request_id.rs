use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Error, ErrorKind};
use crate::values::tenant::truncate_for_message;

/// The id of one access request: a UUID version 7, so ids sort by creation time.
///
/// ```
/// use customer_lockbox::RequestId;
///
/// let now = "2026-11-24T08:00:00Z".parse()?;
/// let id = RequestId::new(now);
/// assert_eq!(id.as_uuid().get_version_num(), 7);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "Uuid", into = "Uuid")]
pub struct RequestId(Uuid);

impl RequestId {
    /// A fresh id whose timestamp is `now` and whose remaining bits are random.
    ///
    /// `now` is passed in rather than read from the system clock, like every instant in this
    /// crate; the random bits come from the operating system.
    pub fn new(now: DateTime<Utc>) -> Self {
        let seconds = u64::try_from(now.timestamp()).unwrap_or(0);
        let ts = uuid::Timestamp::from_unix(uuid::NoContext, seconds, now.timestamp_subsec_nanos());
        RequestId(Uuid::new_v7(ts))
    }

    /// Wraps an existing UUID, such as a fixed id in a test.
    ///
    /// # Errors
    ///
    /// Returns an error for which [`Error::is_invalid_request_id`] is true when `uuid` is not
    /// version 7.
    pub fn from_uuid(uuid: Uuid) -> Result<Self, Error> {
        match uuid.get_version_num() {
            7 => Ok(RequestId(uuid)),
            version => Err(ErrorKind::RequestIdNotV7 { uuid, version }.into()),
        }
    }

    /// Parses a request id from its text form.
    ///
    /// # Errors
    ///
    /// Returns an error for which [`Error::is_invalid_request_id`] is true when `input` is not
    /// a UUID, or not version 7.
    pub fn parse(input: &str) -> Result<Self, Error> {
        match Uuid::try_parse(input) {
            Ok(uuid) => Self::from_uuid(uuid),
            Err(_) => Err(ErrorKind::InvalidRequestId {
                input: truncate_for_message(input),
            }
            .into()),
        }
    }

    /// The UUID.
    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}

impl fmt::Debug for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RequestId({})", self.0.hyphenated())
    }
}

impl std::str::FromStr for RequestId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse(s)
    }
}

impl TryFrom<Uuid> for RequestId {
    type Error = Error;
    fn try_from(value: Uuid) -> Result<Self, Error> {
        Self::from_uuid(value)
    }
}

impl From<RequestId> for Uuid {
    fn from(value: RequestId) -> Uuid {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_ids_carry_the_given_instant() {
        let now: DateTime<Utc> = DateTime::from_timestamp(1_795_000_000, 0).unwrap_or_default();
        let id = RequestId::new(now);
        let (secs, _) = id
            .as_uuid()
            .get_timestamp()
            .map(|t| t.to_unix())
            .unwrap_or((0, 0));
        assert_eq!(secs, 1_795_000_000);
    }

    #[test]
    fn only_version_7_is_accepted() {
        assert!(RequestId::from_uuid(Uuid::nil()).is_err());
        assert!(
            RequestId::from_uuid(Uuid::from_u128(0x0193_0000_0000_7000_8000_0000_0000_0001))
                .is_ok()
        );
    }
}
