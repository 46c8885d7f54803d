//! A tenant's Customer Lockbox policy: who may decide, and how long access may last.

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind};
use crate::refusal::Refusal;
use crate::values::{AccessDuration, ApproverId, EmailAddress, TenantId};

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
}

/// A tenant's policy: its designated approvers and the longest access it allows.
///
/// Grants, denials and revocations are checked against the policy passed to them, so removing
/// an approver from the policy takes effect at their next attempt. A policy may designate
/// nobody (a tenant that has not set up Customer Lockbox yet); such a request cannot be
/// notified, because nobody could decide it.
///
/// ```
/// use customer_lockbox::*;
///
/// let policy = TenantPolicy::new(
///     TenantId::parse("8b5a0c4e-2f7d-4e4b-9a51-3c1f6d2e7a90")?,
///     vec![DesignatedApprover::new(
///         ApproverId::new("megan")?,
///         EmailAddress::new("megan@contoso.com")?,
///     )],
/// )?
/// .with_max_access_duration(AccessDuration::from_hours(8)?);
/// assert!(policy.designates(&ApproverId::new("megan")?));
/// # Ok::<(), customer_lockbox::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "PolicyFields", into = "PolicyFields")]
pub struct TenantPolicy {
    tenant: TenantId,
    approvers: Vec<DesignatedApprover>,
    max_access_duration: AccessDuration,
}

impl TenantPolicy {
    /// A policy for `tenant` designating `approvers`, allowing
    /// [`AccessDuration::DEFAULT_POLICY_MAXIMUM`] (4 hours).
    ///
    /// # Errors
    ///
    /// Returns an error for which [`Error::is_duplicate_approver`] is true when an approver is
    /// listed twice.
    pub fn new(tenant: TenantId, approvers: Vec<DesignatedApprover>) -> Result<Self, Error> {
        for (i, approver) in approvers.iter().enumerate() {
            if approvers[..i].iter().any(|a| a.id == approver.id) {
                return Err(ErrorKind::DuplicateApprover {
                    id: approver.id.to_string(),
                }
                .into());
            }
        }
        Ok(TenantPolicy {
            tenant,
            approvers,
            max_access_duration: AccessDuration::DEFAULT_POLICY_MAXIMUM,
        })
    }

    /// The same policy allowing access of up to `maximum`. Any [`AccessDuration`] is within
    /// [`AccessDuration::CEILING`], so this cannot fail.
    pub fn with_max_access_duration(mut self, maximum: AccessDuration) -> Self {
        self.max_access_duration = maximum;
        self
    }

    /// The tenant this policy belongs to.
    pub fn tenant(&self) -> TenantId {
        self.tenant
    }

    /// The designated approvers, in the order given.
    pub fn approvers(&self) -> &[DesignatedApprover] {
        &self.approvers
    }

    /// The longest access a request of this tenant may ask for.
    pub fn max_access_duration(&self) -> AccessDuration {
        self.max_access_duration
    }

    /// Whether `approver` is designated by this policy.
    pub fn designates(&self, approver: &ApproverId) -> bool {
        self.approvers.iter().any(|a| &a.id == approver)
    }
}

/// The answers a step needs from a tenant's policy.
///
/// The live workflow asks a [`TenantPolicy`]. Replaying a stored trail answers as the trail
/// recorded, since the policy of the day is not stored: that is how a load runs the very same
/// transition functions as the live workflow.
pub(crate) trait Authority {
    /// Why `approver` may not decide for a request of `tenant`, if they may not.
    fn decision_refusal(&self, tenant: TenantId, approver: &ApproverId) -> Option<Refusal>;
    /// Whom to notify about a request of `tenant`, or why nobody can be.
    fn approvers_to_notify(&self, tenant: TenantId) -> Result<Vec<ApproverId>, Refusal>;
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

    fn approvers_to_notify(&self, tenant: TenantId) -> Result<Vec<ApproverId>, Refusal> {
        if self.tenant != tenant {
            Err(Refusal::PolicyForOtherTenant)
        } else if self.approvers.is_empty() {
            Err(Refusal::NoDesignatedApprovers)
        } else {
            Ok(self.approvers.iter().map(|a| a.id.clone()).collect())
        }
    }
}

/// The serialized form of a [`TenantPolicy`], validated on the way in.
#[derive(Serialize, Deserialize)]
struct PolicyFields {
    tenant: TenantId,
    approvers: Vec<DesignatedApprover>,
    max_access_duration: AccessDuration,
}

impl TryFrom<PolicyFields> for TenantPolicy {
    type Error = Error;
    fn try_from(fields: PolicyFields) -> Result<Self, Error> {
        Ok(TenantPolicy::new(fields.tenant, fields.approvers)?
            .with_max_access_duration(fields.max_access_duration))
    }
}

impl From<TenantPolicy> for PolicyFields {
    fn from(policy: TenantPolicy) -> Self {
        PolicyFields {
            tenant: policy.tenant,
            approvers: policy.approvers,
            max_access_duration: policy.max_access_duration,
        }
    }
}
