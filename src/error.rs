//! The error for values and drafts the workflow refuses to build.
//!
//! Constructors of domain values ([`TenantId`](crate::TenantId),
//! [`Justification`](crate::Justification), ...) and [`Request::draft`](crate::Request::draft)
//! return this one opaque type. Its message says what was wrong and what to do; its `is_*`
//! predicates let a caller branch without matching on private details.
//!
//! Refused *transitions* use [`Refused`](crate::Refused) instead, because they hand the request
//! back.

use std::fmt;

use crate::values::AccessDuration;

/// A value, or a draft, that the workflow refuses to build.
///
/// Cheap to move (one boxed allocation), `Send + Sync`, and displayed as a lowercase sentence
/// without a trailing period that says what was wrong and what to do.
///
/// # Example
///
/// ```
/// use customer_lockbox::Justification;
///
/// let err = Justification::new("").unwrap_err();
/// assert!(err.is_invalid_text());
/// assert_eq!(
///     err.to_string(),
///     "justification is empty: describe why the engineer needs the customer's data",
/// );
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Error {
    kind: Box<ErrorKind>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ErrorKind {
    #[error("{what} is empty: {hint}")]
    Empty {
        what: &'static str,
        hint: &'static str,
    },
    #[error("{what} is {len} characters long, over the limit of {max}: shorten it")]
    TooLong {
        what: &'static str,
        len: usize,
        max: usize,
    },
    #[error(
        "{what} contains the control character U+{code:04X} at character {at}: remove it (line breaks, tabs and NUL are not allowed)"
    )]
    ControlCharacter {
        what: &'static str,
        code: u32,
        at: usize,
    },
    #[error(
        "{what} contains the bidirectional formatting character U+{code:04X} at character {at}, which can make text display in a misleading order: remove it"
    )]
    BidiControl {
        what: &'static str,
        code: u32,
        at: usize,
    },
    #[error("{what} contains {found:?} at character {at}: use only {allowed}")]
    InvalidCharacter {
        what: &'static str,
        found: char,
        at: usize,
        allowed: &'static str,
    },
    #[error("{what} starts or ends with white space: trim it")]
    SurroundingWhitespace { what: &'static str },
    #[error(
        "tenant id {input:?} is not a GUID: use the directory (tenant) id, such as 8b5a0c4e-2f7d-4e4b-9a51-3c1f6d2e7a90"
    )]
    InvalidTenantId { input: String },
    #[error("tenant id is the nil GUID: use the tenant's real directory id")]
    NilTenantId,
    #[error("request id {input:?} is not a UUID: use the id the workflow gave the request")]
    InvalidRequestId { input: String },
    #[error(
        "request id {uuid} is a version {version} UUID, not version 7: create request ids with RequestId::new(now)"
    )]
    RequestIdNotV7 { uuid: uuid::Uuid, version: usize },
    #[error("access duration must be positive, got {requested}: ask for at least one minute")]
    DurationNotPositive { requested: DurationText },
    #[error(
        "access duration of {requested} is not a whole number of minutes: round it to whole minutes"
    )]
    DurationNotWholeMinutes { requested: DurationText },
    #[error(
        "access duration of {requested} is over the ceiling of {ceiling} that any tenant policy may allow: ask for less and extend with a new request if needed"
    )]
    DurationOverCeiling {
        requested: DurationText,
        ceiling: AccessDuration,
    },
    #[error(
        "access duration of {requested} is over tenant {tenant}'s maximum of {maximum}: ask for at most {maximum}"
    )]
    DurationOverPolicy {
        tenant: crate::TenantId,
        requested: AccessDuration,
        maximum: AccessDuration,
    },
    #[error(
        "decision window of {requested} is outside {minimum} to {maximum}: give the customer's approvers at least an hour and at most 14 days, in whole minutes"
    )]
    DecisionWindowOutOfRange {
        requested: DurationText,
        minimum: crate::DecisionWindow,
        maximum: crate::DecisionWindow,
    },
    #[error("{}", approvals_out_of_range(*.required, *.designated))]
    ApprovalsRequiredOutOfRange { required: u32, designated: usize },
    #[error(
        "the policy designates {designated} approvers: designate 1 to {max} (a tenant that has not set up Customer Lockbox sets no policy)"
    )]
    ApproverCountOutOfRange { designated: usize, max: usize },
    #[error(
        "tenant {tenant}'s policy history does not follow at version {version}: versions must run 1, 2, 3, ... in time order, each replacing the one before; restore the history from a verified copy"
    )]
    BrokenPolicyHistory {
        tenant: crate::TenantId,
        version: u32,
    },
    #[error(
        "tenant {tenant} has no policy in this store, so nobody could decide a request: its administrator sets one first (Store::set_policy)"
    )]
    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
    NoPolicy { tenant: crate::TenantId },
    #[error("the set of services is empty: name at least one service the engineer needs")]
    NoServices,
    #[error(
        "{input:?} is not a valid email address: give the approver's address, such as admin@contoso.com"
    )]
    InvalidEmail { input: String },
    #[error(
        "designated approvers {first} and {second} are the same person ({by} both name {person}, once case, a trailing dot and a +tag are set aside): list each person once"
    )]
    DuplicateApprover {
        first: String,
        second: String,
        by: &'static str,
        person: String,
    },
    #[error(
        "the policy lists keys, so every decision and change it governs must be signed, but {who} has none: give {who} a key, or list no keys at all"
    )]
    MissingSigningKey { who: String },
    #[error("{}", policy_signature(*.tenant, *.version, *.fault))]
    PolicyChangeSignature {
        tenant: crate::TenantId,
        version: u32,
        fault: Option<crate::decision::SignatureFault>,
    },
    #[error(
        "the draft is for tenant {draft} but the policy is tenant {policy}'s: pass the policy of the tenant whose data is needed"
    )]
    PolicyForOtherTenant {
        draft: crate::TenantId,
        policy: crate::TenantId,
    },
    #[error("the instant {at} is outside the years 1970 to 9999: pass the current time")]
    InstantOutOfRange { at: chrono::DateTime<chrono::Utc> },
    #[cfg(feature = "email")]
    #[error("the email message cannot be built: {reason}")]
    MessageBuild { reason: String },
    #[error("page size {size} is out of range: use 1 to {max}")]
    PageSize { size: u32, max: u32 },
    #[error("{input:?} is not {what}: use one of {known}")]
    UnknownName {
        what: &'static str,
        input: String,
        known: String,
    },
    #[error("{input:?} is not a page cursor: pass back the `next` of the page before, unchanged")]
    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
    InvalidCursor { input: String },
}

/// A duration as given by the caller in whole seconds, which may not be a valid
/// [`AccessDuration`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DurationText(pub(crate) i64);

impl fmt::Display for DurationText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            s if s > 0 && s % 60 == 0 => crate::values::duration::write_minutes(f, s / 60),
            1 => f.write_str("1 second"),
            s => write!(f, "{s} seconds"),
        }
    }
}

impl Error {
    pub(crate) fn new(kind: ErrorKind) -> Self {
        Error {
            kind: Box::new(kind),
        }
    }

    /// True when a text value is empty, too long, has surrounding white space, or contains a
    /// control character, a bidirectional formatting character or a character outside its
    /// alphabet.
    ///
    /// ```
    /// use customer_lockbox::ServiceRequestNumber;
    ///
    /// assert!(ServiceRequestNumber::new("SR 1").unwrap_err().is_invalid_text());
    /// ```
    pub fn is_invalid_text(&self) -> bool {
        matches!(
            *self.kind,
            ErrorKind::Empty { .. }
                | ErrorKind::TooLong { .. }
                | ErrorKind::ControlCharacter { .. }
                | ErrorKind::BidiControl { .. }
                | ErrorKind::InvalidCharacter { .. }
                | ErrorKind::SurroundingWhitespace { .. }
        )
    }

    /// True when a tenant id is not a GUID, or is the nil GUID.
    ///
    /// ```
    /// use customer_lockbox::TenantId;
    ///
    /// assert!(TenantId::parse("contoso.com").unwrap_err().is_invalid_tenant_id());
    /// ```
    pub fn is_invalid_tenant_id(&self) -> bool {
        matches!(
            *self.kind,
            ErrorKind::InvalidTenantId { .. } | ErrorKind::NilTenantId
        )
    }

    /// True when a request id is not a version 7 UUID.
    ///
    /// ```
    /// use customer_lockbox::RequestId;
    ///
    /// let v4 = uuid::Uuid::from_u128(0x6f1c_0c2a_9d3e_4b7a_8c11_2e5f_7a90_1b3c);
    /// assert!(RequestId::from_uuid(v4).unwrap_err().is_invalid_request_id());
    /// ```
    pub fn is_invalid_request_id(&self) -> bool {
        matches!(
            *self.kind,
            ErrorKind::RequestIdNotV7 { .. } | ErrorKind::InvalidRequestId { .. }
        )
    }

    /// True when an access duration is zero, negative, not whole minutes, or over the ceiling
    /// any policy may set ([`AccessDuration::CEILING`]).
    ///
    /// ```
    /// use customer_lockbox::AccessDuration;
    ///
    /// assert!(AccessDuration::from_minutes(0).unwrap_err().is_invalid_duration());
    /// ```
    pub fn is_invalid_duration(&self) -> bool {
        matches!(
            *self.kind,
            ErrorKind::DurationNotPositive { .. }
                | ErrorKind::DurationNotWholeMinutes { .. }
                | ErrorKind::DurationOverCeiling { .. }
        )
    }

    /// True when a draft asks for longer access than its tenant's policy allows.
    ///
    /// ```
    /// use customer_lockbox::{AccessDuration, Draft, Request, TenantPolicy};
    /// # use customer_lockbox::*;
    /// # let tenant = TenantId::parse("8b5a0c4e-2f7d-4e4b-9a51-3c1f6d2e7a90")?;
    /// # let now = chrono::DateTime::UNIX_EPOCH;
    /// # let megan = DesignatedApprover::new(ApproverId::new("megan")?, EmailAddress::new("megan@contoso.com")?);
    /// let policy = TenantPolicy::new(tenant, vec![megan])?; // allows 4 hours
    /// let draft = Draft {
    ///     access_duration: AccessDuration::from_hours(8)?,
    ///     // ...
    /// #   id: RequestId::new(now),
    /// #   tenant,
    /// #   service_request: ServiceRequestNumber::new("2611240010001234")?,
    /// #   services: Services::one(Service::ExchangeOnline),
    /// #   justification: Justification::new("mailbox will not sync")?,
    /// #   engineer: EngineerId::new("alex")?,
    /// };
    /// assert!(Request::draft(draft, &policy, now).unwrap_err().is_over_policy_maximum());
    /// # Ok::<(), customer_lockbox::Error>(())
    /// ```
    pub fn is_over_policy_maximum(&self) -> bool {
        matches!(*self.kind, ErrorKind::DurationOverPolicy { .. })
    }

    /// True when a decision window is outside [`DecisionWindow::MIN`](crate::DecisionWindow::MIN)
    /// to [`DecisionWindow::MAX`](crate::DecisionWindow::MAX), or not whole minutes.
    ///
    /// ```
    /// use customer_lockbox::DecisionWindow;
    ///
    /// assert!(DecisionWindow::from_hours(15 * 24).unwrap_err().is_invalid_decision_window());
    /// ```
    pub fn is_invalid_decision_window(&self) -> bool {
        matches!(*self.kind, ErrorKind::DecisionWindowOutOfRange { .. })
    }

    /// True when a policy designates no approvers, or more than
    /// [`TenantPolicy::MAX_APPROVERS`](crate::TenantPolicy::MAX_APPROVERS).
    ///
    /// ```
    /// use customer_lockbox::{TenantId, TenantPolicy};
    ///
    /// let tenant = TenantId::parse("8b5a0c4e-2f7d-4e4b-9a51-3c1f6d2e7a90")?;
    /// assert!(TenantPolicy::new(tenant, vec![]).unwrap_err().is_invalid_approver_count());
    /// # Ok::<(), customer_lockbox::Error>(())
    /// ```
    pub fn is_invalid_approver_count(&self) -> bool {
        matches!(*self.kind, ErrorKind::ApproverCountOutOfRange { .. })
    }

    /// True when a policy requires no approvals, more approvals than it designates approvers,
    /// or more than [`TenantPolicy::MAX_APPROVALS_REQUIRED`](crate::TenantPolicy::MAX_APPROVALS_REQUIRED).
    pub fn is_invalid_approvals_required(&self) -> bool {
        matches!(*self.kind, ErrorKind::ApprovalsRequiredOutOfRange { .. })
    }

    /// True when a tenant's policy history does not follow: a version missing, repeated, out of
    /// time order, or not replacing the one before.
    pub fn is_broken_policy_history(&self) -> bool {
        matches!(*self.kind, ErrorKind::BrokenPolicyHistory { .. })
    }

    /// True when a store was asked to draft a request for a tenant that has no policy yet:
    /// nobody is designated to decide it, so the store refuses it before anyone is asked.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use customer_lockbox::*;
    ///
    /// let store = SqliteStore::open_in_memory().await?;
    /// let now = "2026-11-24T08:00:00Z".parse()?;
    /// let draft = Draft {
    ///     id: RequestId::new(now),
    ///     tenant: TenantId::parse("8b5a0c4e-2f7d-4e4b-9a51-3c1f6d2e7a90")?,
    ///     service_request: ServiceRequestNumber::new("2611240010001234")?,
    ///     services: Services::one(Service::ExchangeOnline),
    ///     access_duration: AccessDuration::from_hours(4)?,
    ///     justification: Justification::new("CFO mailbox stopped syncing after migration")?,
    ///     engineer: EngineerId::new("alex@support.vendor.example")?,
    /// };
    /// let Err(StoreError::InvalidDraft(err)) = store.draft(draft, now).await else {
    ///     panic!("a tenant without a policy")
    /// };
    /// assert!(err.is_no_policy());
    /// # Ok(()) }
    /// ```
    pub fn is_no_policy(&self) -> bool {
        matches!(*self.kind, ErrorKind::NoPolicy { .. })
    }

    /// True when a name (a state, an event kind, an actor's role) is none of the names the
    /// type has.
    ///
    /// ```
    /// use customer_lockbox::StateKind;
    ///
    /// assert!("pending".parse::<StateKind>().unwrap_err().is_unknown_name());
    /// ```
    pub fn is_unknown_name(&self) -> bool {
        matches!(*self.kind, ErrorKind::UnknownName { .. })
    }

    /// True when a set of services is empty.
    ///
    /// ```
    /// use customer_lockbox::Services;
    ///
    /// assert!(Services::new([]).unwrap_err().is_no_services());
    /// ```
    pub fn is_no_services(&self) -> bool {
        matches!(*self.kind, ErrorKind::NoServices)
    }

    /// True when an email address is not valid.
    ///
    /// ```
    /// use customer_lockbox::EmailAddress;
    ///
    /// assert!(EmailAddress::new("not an address").unwrap_err().is_invalid_email());
    /// ```
    pub fn is_invalid_email(&self) -> bool {
        matches!(*self.kind, ErrorKind::InvalidEmail { .. })
    }

    /// True when a tenant policy lists a designated approver twice.
    ///
    /// ```
    /// use customer_lockbox::{ApproverId, DesignatedApprover, EmailAddress, TenantId, TenantPolicy};
    ///
    /// let tenant = TenantId::parse("8b5a0c4e-2f7d-4e4b-9a51-3c1f6d2e7a90")?;
    /// let admin = DesignatedApprover::new(
    ///     ApproverId::new("megan")?,
    ///     EmailAddress::new("megan@contoso.com")?,
    /// );
    /// let err = TenantPolicy::new(tenant, vec![admin.clone(), admin]).unwrap_err();
    /// assert!(err.is_duplicate_approver());
    /// # Ok::<(), customer_lockbox::Error>(())
    /// ```
    pub fn is_duplicate_approver(&self) -> bool {
        matches!(*self.kind, ErrorKind::DuplicateApprover { .. })
    }

    /// True when a policy that lists keys leaves a designated approver, or its administrators,
    /// without one: once a policy lists keys, every grant and every change must be signed.
    pub fn is_missing_signing_key(&self) -> bool {
        matches!(*self.kind, ErrorKind::MissingSigningKey { .. })
    }

    /// True when a policy change is not signed as the tenant's policy requires: unsigned,
    /// though the version before it (or, for the first version with keys, the change itself)
    /// lists keys, or signed by a key that is not the changing administrator's there, or over
    /// another change. [`policy_signature_fault`](Self::policy_signature_fault) says which.
    pub fn is_policy_change_unsigned(&self) -> bool {
        matches!(*self.kind, ErrorKind::PolicyChangeSignature { .. })
    }

    /// What was wrong with a policy change's signature: `Some(None)` when it was missing,
    /// `Some(Some(fault))` when it did not hold; `None` for another error.
    pub fn policy_signature_fault(&self) -> Option<Option<crate::decision::SignatureFault>> {
        match *self.kind {
            ErrorKind::PolicyChangeSignature { fault, .. } => Some(fault),
            _ => None,
        }
    }

    /// True when a draft is checked against another tenant's policy.
    ///
    /// ```
    /// # use customer_lockbox::*;
    /// # let tenant = TenantId::parse("8b5a0c4e-2f7d-4e4b-9a51-3c1f6d2e7a90")?;
    /// # let now = chrono::DateTime::UNIX_EPOCH;
    /// let other = TenantId::parse("11111111-2222-4333-8444-555555555555")?;
    /// let draft = Draft {
    ///     tenant,
    ///     // ...
    /// #   id: RequestId::new(now),
    /// #   service_request: ServiceRequestNumber::new("2611240010001234")?,
    /// #   services: Services::one(Service::ExchangeOnline),
    /// #   access_duration: AccessDuration::from_hours(1)?,
    /// #   justification: Justification::new("mailbox will not sync")?,
    /// #   engineer: EngineerId::new("alex")?,
    /// };
    /// # let megan = DesignatedApprover::new(ApproverId::new("megan")?, EmailAddress::new("megan@contoso.com")?);
    /// let err = Request::draft(draft, &TenantPolicy::new(other, vec![megan])?, now).unwrap_err();
    /// assert!(err.is_policy_for_other_tenant());
    /// # Ok::<(), customer_lockbox::Error>(())
    /// ```
    pub fn is_policy_for_other_tenant(&self) -> bool {
        matches!(*self.kind, ErrorKind::PolicyForOtherTenant { .. })
    }

    /// True when an audit page size is out of range.
    ///
    /// ```
    /// use customer_lockbox::PageSize;
    ///
    /// assert!(PageSize::new(0).unwrap_err().is_invalid_page_size());
    /// ```
    pub fn is_invalid_page_size(&self) -> bool {
        matches!(*self.kind, ErrorKind::PageSize { .. })
    }

    /// True when a page cursor's text is not one a page gave.
    ///
    /// ```
    /// use customer_lockbox::RequestCursor;
    ///
    /// assert!("page 2".parse::<RequestCursor>().unwrap_err().is_invalid_cursor());
    /// ```
    pub fn is_invalid_cursor(&self) -> bool {
        matches!(*self.kind, ErrorKind::InvalidCursor { .. })
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.kind, f)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.kind, f)
    }
}

impl std::error::Error for Error {}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Self {
        Error::new(kind)
    }
}

/// Why `required` approvals cannot be required of `designated` approvers, and what would do.
fn approvals_out_of_range(required: u32, designated: usize) -> String {
    let max = crate::TenantPolicy::MAX_APPROVALS_REQUIRED;
    if required > max {
        format!(
            "{required} approvals required: a policy requires at most {max} (more people never decide within a decision window)"
        )
    } else {
        format!(
            "{required} approvals required, but the policy designates {designated} approver(s): require 1 to {}, or designate more approvers",
            designated.min(max as usize)
        )
    }
}

/// The one of `all` whose name (`name_of`) is `input`, or an error that lists every name.
pub(crate) fn by_name<T: Copy>(
    what: &'static str,
    input: &str,
    all: &[T],
    name_of: impl Fn(T) -> &'static str,
) -> Result<T, Error> {
    all.iter()
        .copied()
        .find(|item| name_of(*item) == input)
        .ok_or_else(|| {
            let known: Vec<&str> = all.iter().map(|item| name_of(*item)).collect();
            ErrorKind::UnknownName {
                what,
                input: input.chars().take(64).collect(),
                known: known.join(", "),
            }
            .into()
        })
}

/// The message of a policy change refused for its signature.
fn policy_signature(
    tenant: crate::TenantId,
    version: u32,
    fault: Option<crate::decision::SignatureFault>,
) -> String {
    let what = match fault {
        None => "is unsigned".to_owned(),
        Some(fault) => format!("has a signature that does not hold ({fault})"),
    };
    format!(
        "version {version} of tenant {tenant}'s policy {what}, though the policy lists keys: a change is signed by a tenant administrator's key in the version before it (the first version with keys, by its own administrator's key); print its statement (`lockbox policy set ... --statement`, Store::policy_statement) and sign it with `ssh-keygen -Y sign -n customer-lockbox`"
    )
}
