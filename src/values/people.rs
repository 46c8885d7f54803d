use std::fmt;

use serde::{Deserialize, Serialize};

use super::text::{Alphabet, TextRule, text_value};
use crate::error::{Error, ErrorKind};
use crate::values::tenant::truncate_for_message;

const PERSON_ALPHABET: Alphabet = Alphabet::Identifier;
const PERSON_MAX: usize = 128;

text_value! {
    /// The vendor's support engineer who drafts a request and, once granted, accesses the data.
    ///
    /// A sign-in name or object id: 1 to 128 ASCII letters, digits and `. _ - @ +`.
    /// A distinct type from [`SupportManagerId`] and [`ApproverId`], so one role's id cannot be
    /// passed where another's is required; two ids of different roles with the same text are
    /// the same person (which is how separation of duties is checked).
    EngineerId,
    TextRule {
        what: "engineer id",
        empty_hint: "give the engineer's sign-in name",
        max_chars: PERSON_MAX,
        alphabet: PERSON_ALPHABET,
    }
}

text_value! {
    /// The vendor's support manager who approves or rejects a draft before the customer sees it.
    ///
    /// Same alphabet as [`EngineerId`]; a distinct type.
    SupportManagerId,
    TextRule {
        what: "support manager id",
        empty_hint: "give the support manager's sign-in name",
        max_chars: PERSON_MAX,
        alphabet: PERSON_ALPHABET,
    }
}

text_value! {
    /// A person on the customer's side who may grant, deny or revoke access, when the tenant's
    /// [`TenantPolicy`](crate::TenantPolicy) designates them.
    ///
    /// Same alphabet as [`EngineerId`]; a distinct type.
    ApproverId,
    TextRule {
        what: "approver id",
        empty_hint: "give the approver's sign-in name",
        max_chars: PERSON_MAX,
        alphabet: PERSON_ALPHABET,
    }
}

impl SupportManagerId {
    /// Whether this manager is the same person as `engineer` (the same id text).
    pub fn is_same_person_as(&self, engineer: &EngineerId) -> bool {
        self.as_str() == engineer.as_str()
    }
}

/// An email address to which notifications are sent, checked against RFC 5322's `addr-spec`
/// by the `email_address` crate, at most 254 characters, without white space or control
/// characters.
///
/// ```
/// use customer_lockbox::EmailAddress;
///
/// assert!(EmailAddress::new("megan@contoso.com").is_ok());
/// assert!(EmailAddress::new("megan").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EmailAddress(String);

impl EmailAddress {
    /// Checks an address.
    ///
    /// # Errors
    ///
    /// Returns an error for which [`Error::is_invalid_email`] is true when `address` is not a
    /// plain `local@domain` address.
    pub fn new(address: impl Into<String>) -> Result<Self, Error> {
        let address = address.into();
        let plain = !address.is_empty()
            && address.len() <= 254
            && !address.chars().any(|c| c.is_whitespace() || c.is_control())
            && email_address::EmailAddress::is_valid(&address);
        if plain {
            Ok(EmailAddress(address))
        } else {
            Err(ErrorKind::InvalidEmail {
                input: truncate_for_message(&address),
            }
            .into())
        }
    }

    /// The address as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EmailAddress({:?})", self.0)
    }
}

impl TryFrom<String> for EmailAddress {
    type Error = Error;
    fn try_from(value: String) -> Result<Self, Error> {
        Self::new(value)
    }
}

impl From<EmailAddress> for String {
    fn from(value: EmailAddress) -> String {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_refuses_spaces_and_display_names() {
        for bad in [
            "",
            "a b@c.d",
            "Megan <megan@contoso.com>",
            "megan@",
            "@contoso.com",
            "m\n@c.d",
        ] {
            assert!(EmailAddress::new(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn separation_of_duties_compares_the_person() {
        let same = SupportManagerId::new("alex")
            .and_then(|manager| Ok(manager.is_same_person_as(&EngineerId::new("alex")?)));
        assert_eq!(same, Ok(true));
    }
}
