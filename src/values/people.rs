use std::fmt;

use serde::{Deserialize, Serialize};

use super::text::{Alphabet, Normalization, TextRule, text_value};
use crate::error::{Error, ErrorKind};
use crate::values::tenant::truncate_for_message;

const PERSON_MAX: usize = 128;

/// The rule every person's id follows; only what it is called differs.
const fn person_rule(what: &'static str, empty_hint: &'static str) -> TextRule {
    TextRule {
        what,
        empty_hint,
        max_chars: PERSON_MAX,
        alphabet: Alphabet::Identifier,
        normalization: Normalization::Identity,
    }
}

text_value! {
    /// The vendor's support engineer who drafts a request and, once granted, accesses the data.
    ///
    /// A sign-in name or object id, stored as its **normalized identity**: surrounding white
    /// space removed, then Unicode's compatibility caseless form (NFD, full case folding, NFKD,
    /// case folding again, NFKC; Unicode 3.13, D146). `ALEX@Support.Vendor.Example`,
    /// `alex@support.vendor.example ` and its fullwidth spelling are one engineer. The result
    /// must be 1 to 128 ASCII letters, digits and `. _ - @ +`.
    ///
    /// A distinct type from [`SupportManagerId`] and [`ApproverId`], so one role's id cannot be
    /// passed where another's is required; ids of different roles with one identity are one
    /// person ([`Person::is_same_person_as`]), which is how separation of duties is checked.
    ///
    /// ```
    /// use customer_lockbox::{EngineerId, Person, SupportManagerId};
    ///
    /// let alex = EngineerId::new(" ALEX@Support.Vendor.Example")?;
    /// assert_eq!(alex.as_str(), "alex@support.vendor.example");
    /// assert!(SupportManagerId::new("Alex@support.vendor.example")?.is_same_person_as(&alex));
    /// # Ok::<(), customer_lockbox::Error>(())
    /// ```
    EngineerId,
    person_rule("engineer id", "give the engineer's sign-in name")
}

text_value! {
    /// The vendor's support manager who approves or rejects a draft before the customer sees it.
    ///
    /// Normalized and checked as [`EngineerId`]; a distinct type.
    SupportManagerId,
    person_rule("support manager id", "give the support manager's sign-in name")
}

text_value! {
    /// A person on the customer's side who may grant, deny or revoke access, when the tenant's
    /// [`TenantPolicy`](crate::TenantPolicy) designates them.
    ///
    /// Normalized and checked as [`EngineerId`]; a distinct type.
    ApproverId,
    person_rule("approver id", "give the approver's sign-in name")
}

text_value! {
    /// A tenant administrator on the customer's side: the only person who may change the
    /// tenant's [`TenantPolicy`](crate::TenantPolicy) in a store (who may approve, how many must,
    /// how long access and decisions may take).
    ///
    /// Normalized and checked as [`EngineerId`]; a distinct type from every vendor role, so a
    /// vendor id cannot be passed where a customer administrator's is required.
    TenantAdminId,
    person_rule("tenant administrator id", "give the tenant administrator's sign-in name")
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::EngineerId {}
    impl Sealed for super::SupportManagerId {}
    impl Sealed for super::ApproverId {}
    impl Sealed for super::TenantAdminId {}
}

/// The person a sign-in name or an email address names, by the crate's one identity rule: the
/// text's normalized identity (NFKC and case folding, as [`EngineerId`] stores ids), without a
/// trailing dot of its domain and without a `+tag` of its local part. `megan@contoso.com`,
/// `MEGAN@contoso.com`, `megan@contoso.com.` and `megan+lockbox@contoso.com` are one person;
/// `megan` and `rnegan@contoso.com` are others (by id: an approver is also known by the
/// address a policy gives for them, see [`DesignatedApprover::is_same_person_as`](crate::DesignatedApprover::is_same_person_as)).
pub(crate) fn person_key(text: &str) -> String {
    let identity = super::text::identity(text);
    let (local, domain) = match identity.rsplit_once('@') {
        Some((local, domain)) => (local, Some(domain)),
        None => (identity.as_str(), None),
    };
    let local = local.split_once('+').map_or(local, |(base, _tag)| base);
    match domain {
        Some(domain) => format!("{local}@{}", domain.trim_end_matches('.')),
        None => local.to_owned(),
    }
}

/// A person in one of the workflow's roles, known by a normalized identity.
///
/// Sealed: implemented by [`EngineerId`], [`SupportManagerId`], [`ApproverId`] and
/// [`TenantAdminId`] only.
pub trait Person: sealed::Sealed {
    /// The person's normalized identity (see [`EngineerId`]).
    fn identity(&self) -> &str;

    /// Whether `other`, in whatever role, is the same person, by the crate's one identity rule:
    /// the same normalized identity once a trailing dot of the domain and a `+tag` of the local
    /// part are removed. Every separation-of-duties check and every count of approvals
    /// compares people this way.
    ///
    /// ```
    /// use customer_lockbox::{EngineerId, Person, SupportManagerId};
    ///
    /// let alex = EngineerId::new("alex@support.vendor.example")?;
    /// for spelling in ["alex@support.vendor.example.", "alex+mgr@support.vendor.example"] {
    ///     assert!(SupportManagerId::new(spelling)?.is_same_person_as(&alex));
    /// }
    /// # Ok::<(), customer_lockbox::Error>(())
    /// ```
    fn is_same_person_as(&self, other: &impl Person) -> bool {
        person_key(self.identity()) == person_key(other.identity())
    }
}

impl Person for EngineerId {
    fn identity(&self) -> &str {
        self.as_str()
    }
}

impl Person for SupportManagerId {
    fn identity(&self) -> &str {
        self.as_str()
    }
}

impl Person for ApproverId {
    fn identity(&self) -> &str {
        self.as_str()
    }
}

impl Person for TenantAdminId {
    fn identity(&self) -> &str {
        self.as_str()
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

    /// Whether `other` is the same mailbox's person, by the crate's identity rule (see
    /// [`Person::is_same_person_as`]): `MEGAN@contoso.com` and `megan+2@contoso.com` are
    /// `megan@contoso.com`.
    pub fn is_same_person_as(&self, other: &EmailAddress) -> bool {
        person_key(&self.0) == person_key(&other.0)
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
    fn separation_of_duties_compares_the_person_not_the_spelling() -> Result<(), Error> {
        let alex = EngineerId::new("alex@support.vendor.example")?;
        for spelling in [
            "alex@support.vendor.example",
            "ALEX@SUPPORT.VENDOR.EXAMPLE",
            "Alex@support.vendor.example",
            " alex@support.vendor.example ",
        ] {
            assert!(SupportManagerId::new(spelling)?.is_same_person_as(&alex));
            assert!(ApproverId::new(spelling)?.is_same_person_as(&alex));
            assert_eq!(EngineerId::new(spelling)?, alex);
        }
        assert!(!ApproverId::new("alexa@support.vendor.example")?.is_same_person_as(&alex));
        Ok(())
    }
}
