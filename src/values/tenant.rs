use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Error, ErrorKind};

/// A customer's tenant: the directory (tenant) id, a GUID such as
/// `8b5a0c4e-2f7d-4e4b-9a51-3c1f6d2e7a90`.
///
/// The nil GUID is refused. It displays and serializes in lowercase hyphenated form.
///
/// ```
/// use customer_lockbox::TenantId;
///
/// let contoso: TenantId = "8B5A0C4E-2F7D-4E4B-9A51-3C1F6D2E7A90".parse()?;
/// assert_eq!(contoso.to_string(), "8b5a0c4e-2f7d-4e4b-9a51-3c1f6d2e7a90");
/// # Ok::<(), customer_lockbox::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantId(Uuid);

impl TenantId {
    /// Parses a tenant id in any of the usual GUID spellings (hyphenated, braced, simple).
    ///
    /// # Errors
    ///
    /// Returns an error for which [`Error::is_invalid_tenant_id`] is true when `input` is not a
    /// GUID or is the nil GUID.
    pub fn parse(input: &str) -> Result<Self, Error> {
        match Uuid::try_parse(input) {
            Ok(uuid) => Self::from_uuid(uuid),
            Err(_) => Err(ErrorKind::InvalidTenantId {
                input: truncate_for_message(input),
            }
            .into()),
        }
    }

    /// Wraps a GUID as a tenant id.
    ///
    /// # Errors
    ///
    /// Returns an error for which [`Error::is_invalid_tenant_id`] is true for the nil GUID.
    pub fn from_uuid(uuid: Uuid) -> Result<Self, Error> {
        if uuid.is_nil() {
            return Err(ErrorKind::NilTenantId.into());
        }
        Ok(TenantId(uuid))
    }

    /// The GUID.
    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

/// Keeps error messages short when the input was huge.
pub(crate) fn truncate_for_message(input: &str) -> String {
    const MAX: usize = 64;
    if input.chars().count() <= MAX {
        input.to_owned()
    } else {
        let mut short: String = input.chars().take(MAX).collect();
        short.push('…');
        short
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}

impl fmt::Debug for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TenantId({})", self.0.hyphenated())
    }
}

impl FromStr for TenantId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse(s)
    }
}

impl TryFrom<String> for TenantId {
    type Error = Error;
    fn try_from(value: String) -> Result<Self, Error> {
        Self::parse(&value)
    }
}

impl From<TenantId> for String {
    fn from(value: TenantId) -> String {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_nil_and_non_guids() {
        assert!(TenantId::parse("00000000-0000-0000-0000-000000000000").is_err());
        assert!(TenantId::parse("contoso.onmicrosoft.com").is_err());
        assert!(TenantId::parse("").is_err());
        assert!(TenantId::parse("{8b5a0c4e-2f7d-4e4b-9a51-3c1f6d2e7a90}").is_ok());
    }

    #[test]
    fn long_input_is_shortened_in_the_message() {
        let message = TenantId::parse(&"x".repeat(10_000)).map_err(|err| err.to_string());
        assert!(matches!(message, Err(text) if text.len() < 300));
    }
}
