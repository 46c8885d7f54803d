//! A tenant's Customer Lockbox policy: who may decide, how many must, how long they have, and
//! how long access may last.

mod history;

pub use history::{PolicyChange, PolicyHistory};

use chrono::TimeDelta;
use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind};
use crate::refusal::Refusal;
use crate::values::{AccessDuration, ApproverId, DecisionWindow, EmailAddress, TenantId};

/// A person the tenant designates to grant, deny and revoke access, with the address their
/// notifications go to.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DesignatedApprover {
    id: ApproverId,
    email: EmailAddress,
}

impl DesignatedApprover {
    /// An approver reached at `email`.
    pub fn new(id: ApproverId, email: EmailAddress) -> Self {
        DesignatedApprover { id, email }
    }

    /// Who they are.
    pub fn id(&self) -> &ApproverId {
        &self.id
    }

    /// Where their notifications go.
    pub fn email(&self) -> &EmailAddress {
        &self.email
    }

    /// Whether `other` is the same person, by the crate's identity rule
    /// ([`Person::is_same_person_as`](crate::Person::is_same_person_as)), known by either's id
    /// or address: ids that name one person, addresses that name one mailbox, or one's id that
    /// names the other's mailbox.
    pub fn is_same_person_as(&self, other: &DesignatedApprover) -> bool {
        self.shared_name(other).is_some()
    }

    /// What `other` and this approver share, if they are one person: which names, and the
    /// person they name.
    fn shared_name(&self, other: &DesignatedApprover) -> Option<(&'static str, String)> {
        use crate::values::people::person_key;
        let (id, email) = (
            person_key(self.id.as_str()),
            person_key(self.email.as_str()),
        );
        let (other_id, other_email) = (
            person_key(other.id.as_str()),
            person_key(other.email.as_str()),
        );
        if id == other_id {
            Some(("their ids", id))
        } else if email == other_email {
            Some(("their addresses", email))
        } else if id == other_email || email == other_id {
            Some((
                "one's id and the other's address",
                if id == other_email { id } else { email },
            ))
        } else {
            None
        }
    }
}

/// A tenant's policy: who may decide for the customer, how many of them must grant, how long
/// they have to decide, and the longest access they allow.
///
/// The customer's to set: in a store, only a [`TenantAdminId`](crate::TenantAdminId) changes it,
/// and each change is on record. Decisions are checked against the approvers designated at
/// their instant, so removing an approver takes effect at their next attempt. A request keeps
/// what it was notified under: its deadline (the decision window then) and how many approvals
/// it needs. A policy may designate nobody (a tenant that has not set up Customer Lockbox yet);
/// such a request cannot be notified, because nobody could decide it.
///
/// Presets for the two products this crate models: [`microsoft_365`](Self::microsoft_365) (the
/// default) and [`azure`](Self::azure).
///
/// ```
/// use customer_lockbox::*;
///
/// let policy = TenantPolicy::new(
///     TenantId::parse("8b5a0c4e-2f7d-4e4b-9a51-3c1f6d2e7a90")?,
///     vec![
///         DesignatedApprover::new(ApproverId::new("megan")?, EmailAddress::new("megan@contoso.com")?),
///         DesignatedApprover::new(ApproverId::new("lee")?, EmailAddress::new("lee@contoso.com")?),
///     ],
/// )?
/// .with_max_access_duration(AccessDuration::from_hours(8)?)
/// .with_decision_window(DecisionWindow::from_hours(24)?)
/// .with_approvals_required(2)?; // the two-person rule
/// assert!(policy.designates(&ApproverId::new("megan")?));
/// assert_eq!(policy.approvals_required(), 2);
/// # Ok::<(), customer_lockbox::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "PolicyFields", into = "PolicyFields")]
pub struct TenantPolicy {
    tenant: TenantId,
    approvers: Vec<DesignatedApprover>,
    approvals_required: u32,
    max_access_duration: AccessDuration,
    decision_window: DecisionWindow,
}

impl TenantPolicy {
    /// The most approvers a policy designates: each is notified of every request, by name.
    pub const MAX_APPROVERS: usize = 50;

    /// The most approvals a policy may require: more people than this never decide within a
    /// decision window.
    pub const MAX_APPROVALS_REQUIRED: u32 = 10;

    /// A policy for `tenant` designating `approvers`, with Microsoft 365's settings: one
    /// approval, 12 hours to decide, at most 4 hours of access
    /// ([`microsoft_365`](Self::microsoft_365)).
    ///
    /// # Errors
    ///
    /// Returns an error for which [`Error::is_invalid_approver_count`] is true when it
    /// designates nobody or more than [`MAX_APPROVERS`](Self::MAX_APPROVERS), and one for which
    /// [`Error::is_duplicate_approver`] is true when two approvers are the same person, by id
    /// or by address ([`DesignatedApprover::is_same_person_as`]): each person counts once.
    pub fn new(tenant: TenantId, approvers: Vec<DesignatedApprover>) -> Result<Self, Error> {
        Self::microsoft_365(tenant, approvers)
    }

    /// The policy of a tenant that has set none: it designates nobody, so its requests cannot
    /// be notified, and has Microsoft 365's other settings.
    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
    pub(crate) fn none(tenant: TenantId) -> Self {
        TenantPolicy {
            tenant,
            approvers: Vec::new(),
            approvals_required: 1,
            max_access_duration: AccessDuration::DEFAULT_POLICY_MAXIMUM,
            decision_window: DecisionWindow::DEFAULT,
        }
    }

    /// Microsoft 365's Customer Lockbox: a request not approved within 12 hours expires, and
    /// approved access lasts at most 4 hours; one approver decides. Source: Microsoft Learn,
    /// "Manage Customer Lockbox requests" ("If you take no action, the request expires after 12
    /// hours") and "Microsoft Purview Customer Lockbox".
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn microsoft_365(
        tenant: TenantId,
        approvers: Vec<DesignatedApprover>,
    ) -> Result<Self, Error> {
        check_approvers(&approvers)?;
        Ok(TenantPolicy {
            tenant,
            approvers,
            approvals_required: 1,
            max_access_duration: AccessDuration::DEFAULT_POLICY_MAXIMUM,
            decision_window: DecisionWindow::DEFAULT,
        })
    }

    /// Azure's Customer Lockbox: approvers have 4 days to decide, and approved access lasts at
    /// most 8 hours; one approver decides. Source: Microsoft Learn, "Customer Lockbox for
    /// Microsoft Azure" (requests expire after four days; access is granted for eight hours).
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn azure(tenant: TenantId, approvers: Vec<DesignatedApprover>) -> Result<Self, Error> {
        Ok(Self::microsoft_365(tenant, approvers)?
            .with_max_access_duration(AccessDuration::AZURE_MAXIMUM)
            .with_decision_window(DecisionWindow::AZURE))
    }

    /// The same policy allowing access of up to `maximum`. Any [`AccessDuration`] is within
    /// [`AccessDuration::CEILING`], so this cannot fail.
    pub fn with_max_access_duration(mut self, maximum: AccessDuration) -> Self {
        self.max_access_duration = maximum;
        self
    }

    /// The same policy giving approvers `window` to decide. Any [`DecisionWindow`] is within
    /// its documented range, so this cannot fail.
    pub fn with_decision_window(mut self, window: DecisionWindow) -> Self {
        self.decision_window = window;
        self
    }

    /// The same policy requiring `required` distinct designated approvers to grant before
    /// access starts (2 for the two-person rule).
    ///
    /// # Errors
    ///
    /// Returns an error for which [`Error::is_invalid_approvals_required`] is true when
    /// `required` is 0, more than the approvers the policy designates, or more than
    /// [`MAX_APPROVALS_REQUIRED`](Self::MAX_APPROVALS_REQUIRED).
    pub fn with_approvals_required(mut self, required: u32) -> Result<Self, Error> {
        let designated = self.approvers.len();
        let enough = usize::try_from(required).is_ok_and(|n| n <= designated.max(1));
        if required == 0 || !enough || required > Self::MAX_APPROVALS_REQUIRED {
            return Err(ErrorKind::ApprovalsRequiredOutOfRange {
                required,
                designated,
            }
            .into());
        }
        self.approvals_required = required;
        Ok(self)
    }

    /// The tenant this policy belongs to.
    pub fn tenant(&self) -> TenantId {
        self.tenant
    }

    /// The designated approvers, in the order given.
    pub fn approvers(&self) -> &[DesignatedApprover] {
        &self.approvers
    }

    /// How many distinct designated approvers must grant a request before access starts.
    pub fn approvals_required(&self) -> u32 {
        self.approvals_required
    }

    /// The longest access a request of this tenant may ask for.
    pub fn max_access_duration(&self) -> AccessDuration {
        self.max_access_duration
    }

    /// How long approvers have to decide once notified.
    pub fn decision_window(&self) -> DecisionWindow {
        self.decision_window
    }

    /// Whether `approver` is designated by this policy: the same person as a designated
    /// approver's id ([`Person::is_same_person_as`](crate::Person::is_same_person_as)).
    pub fn designates(&self, approver: &ApproverId) -> bool {
        use crate::values::Person;
        self.approvers
            .iter()
            .any(|a| a.id.is_same_person_as(approver))
    }

    /// Who may take access away at an instant: the policy `now`, designating too everyone the
    /// `earlier` versions designated (those in force since the grant, for a revocation, or
    /// since the notification, for a denial). A change never blocks a revocation or a denial
    /// by someone designated during the access or while the request was pending.
    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
    pub(crate) fn designating_too<'a>(
        &self,
        earlier: impl IntoIterator<Item = &'a TenantPolicy>,
    ) -> TenantPolicy {
        let mut union = self.clone();
        for policy in earlier {
            for approver in &policy.approvers {
                if !union.designates(&approver.id) {
                    union.approvers.push(approver.clone());
                }
            }
        }
        union
    }

    /// Checks a policy as it comes to be changed to (a store's `set_policy`, however it was
    /// made, even deserialized): the rules of [`new`](Self::new) and
    /// [`with_approvals_required`](Self::with_approvals_required). Deserializing checks fewer
    /// (a stored version is read as the build that wrote it checked it) but never lets through
    /// no approvals required or more than designated; the rest is checked here.
    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
    pub(crate) fn check(&self) -> Result<(), Error> {
        check_approvers(&self.approvers)?;
        if self.approvals_required > Self::MAX_APPROVALS_REQUIRED {
            return Err(ErrorKind::ApprovalsRequiredOutOfRange {
                required: self.approvals_required,
                designated: self.approvers.len(),
            }
            .into());
        }
        Ok(())
    }
}

/// Refuses a list of approvers a policy may not designate: none, more than
/// [`TenantPolicy::MAX_APPROVERS`], or one person twice (by id or by address).
fn check_approvers(approvers: &[DesignatedApprover]) -> Result<(), Error> {
    if approvers.is_empty() || approvers.len() > TenantPolicy::MAX_APPROVERS {
        return Err(ErrorKind::ApproverCountOutOfRange {
            designated: approvers.len(),
            max: TenantPolicy::MAX_APPROVERS,
        }
        .into());
    }
    for (i, approver) in approvers.iter().enumerate() {
        for earlier in &approvers[..i] {
            if let Some((by, person)) = earlier.shared_name(approver) {
                return Err(ErrorKind::DuplicateApprover {
                    first: earlier.id.to_string(),
                    second: approver.id.to_string(),
                    by,
                    person,
                }
                .into());
            }
        }
    }
    Ok(())
}

/// What a notification takes from the policy in force: whom to notify, how many of them must
/// grant, and how long they have. The request keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Notice {
    pub(crate) approvers: Vec<ApproverId>,
    pub(crate) approvals_required: u32,
    pub(crate) window: TimeDelta,
}

/// The answers a step needs from a tenant's policy.
///
/// The live workflow asks a [`TenantPolicy`]. Replaying a stored trail answers as the trail
/// recorded: that is how a load runs the very same transition functions as the live workflow.
pub(crate) trait Authority {
    /// Why `approver` may not decide for a request of `tenant`, if they may not.
    fn decision_refusal(&self, tenant: TenantId, approver: &ApproverId) -> Option<Refusal>;
    /// What to notify about a request of `tenant`, or why nobody can be.
    fn notice(&self, tenant: TenantId) -> Result<Notice, Refusal>;
    /// How many of the `earlier` approvals of a request needing `required` count towards
    /// access now: those by approvers designated at this instant.
    fn counted(&self, required: u32, earlier: &[ApproverId]) -> usize;
}

impl Authority for TenantPolicy {
    fn decision_refusal(&self, tenant: TenantId, approver: &ApproverId) -> Option<Refusal> {
        if self.tenant != tenant {
            Some(Refusal::PolicyForOtherTenant)
        } else if !self.designates(approver) {
            Some(Refusal::NotDesignatedApprover)
        } else {
            None
        }
    }

    fn counted(&self, _required: u32, earlier: &[ApproverId]) -> usize {
        earlier
            .iter()
            .filter(|approver| self.designates(approver))
            .count()
    }

    fn notice(&self, tenant: TenantId) -> Result<Notice, Refusal> {
        if self.tenant != tenant {
            Err(Refusal::PolicyForOtherTenant)
        } else if self.approvers.is_empty() {
            Err(Refusal::NoDesignatedApprovers)
        } else {
            Ok(Notice {
                approvers: self.approvers.iter().map(|a| a.id.clone()).collect(),
                approvals_required: self.approvals_required,
                window: self.decision_window.as_time_delta(),
            })
        }
    }
}

/// The serialized form of a [`TenantPolicy`], validated on the way in.
/// Format 1 had no `approvals_required` and no `decision_window`: they read as 1 and 12 hours,
/// what format 1 enforced.
#[derive(Serialize, Deserialize)]
struct PolicyFields {
    tenant: TenantId,
    approvers: Vec<DesignatedApprover>,
    #[serde(default = "one")]
    approvals_required: u32,
    max_access_duration: AccessDuration,
    #[serde(default)]
    decision_window: DecisionWindow,
}

fn one() -> u32 {
    1
}

/// A policy read back as earlier builds checked it: an approver's id listed once, and 1 to as
/// many approvals as approvers (1 for none). A version stored before the identity rule and the
/// bounds of this build still reads, and decisions under it still count people by the rule; a
/// policy to be set now is checked by every rule ([`TenantPolicy::check`]).
impl TryFrom<PolicyFields> for TenantPolicy {
    type Error = Error;
    fn try_from(fields: PolicyFields) -> Result<Self, Error> {
        for (i, approver) in fields.approvers.iter().enumerate() {
            if let Some(earlier) = fields.approvers[..i].iter().find(|a| a.id == approver.id) {
                return Err(ErrorKind::DuplicateApprover {
                    first: earlier.id.to_string(),
                    second: approver.id.to_string(),
                    by: "their ids",
                    person: approver.id.to_string(),
                }
                .into());
            }
        }
        let designated = fields.approvers.len();
        let required = fields.approvals_required;
        if required == 0 || usize::try_from(required).is_ok_and(|n| n > designated.max(1)) {
            return Err(ErrorKind::ApprovalsRequiredOutOfRange {
                required,
                designated,
            }
            .into());
        }
        Ok(TenantPolicy {
            tenant: fields.tenant,
            approvers: fields.approvers,
            approvals_required: required,
            max_access_duration: fields.max_access_duration,
            decision_window: fields.decision_window,
        })
    }
}

impl From<TenantPolicy> for PolicyFields {
    fn from(policy: TenantPolicy) -> Self {
        PolicyFields {
            tenant: policy.tenant,
            approvers: policy.approvers,
            approvals_required: policy.approvals_required,
            max_access_duration: policy.max_access_duration,
            decision_window: policy.decision_window,
        }
    }
}
