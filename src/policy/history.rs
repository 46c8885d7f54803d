//! A tenant's policy over time: each change a tenant administrator made, numbered, with who,
//! when, and the policy before and after, so that any instant's policy can be shown.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::TenantPolicy;
use crate::decision::{PolicyStatement, SignedChange, check_change};
use crate::error::{Error, ErrorKind};
use crate::values::{TenantAdminId, TenantId};

/// One change of a tenant's policy: version `version` took effect at `at`, set by a tenant
/// administrator. `before` is the policy it replaced (none for version 1).
///
/// Changes are made through a [`PolicyHistory`] (or a store), which numbers them and keeps them
/// in time order; one read from storage is checked when its history is assembled.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyChange {
    version: u32,
    at: DateTime<Utc>,
    changed_by: TenantAdminId,
    before: Option<TenantPolicy>,
    after: TenantPolicy,
    /// The administrator's signature over the change's statement. Absent from an unsigned
    /// change, so that one serializes as it always did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    signature: Option<SignedChange>,
}

impl PolicyChange {
    /// A change as a store assembles it inside its write transaction, where it learns the
    /// version and the instant.
    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
    pub(crate) fn assemble(
        version: u32,
        at: DateTime<Utc>,
        changed_by: TenantAdminId,
        before: Option<TenantPolicy>,
        after: TenantPolicy,
        signature: Option<SignedChange>,
    ) -> Self {
        PolicyChange {
            version,
            at,
            changed_by,
            before,
            after,
            signature,
        }
    }

    /// The signature of the administrator who made it, over its
    /// [`statement`](Self::statement): `None` for an unsigned change (one under a policy
    /// without keys, or written before policies were signed).
    pub fn signature(&self) -> Option<&SignedChange> {
        self.signature.as_ref()
    }

    /// The statement its administrator signed (or would have), in the log its signature names
    /// (or `log`, for an unsigned change).
    pub fn statement(&self, log: &str) -> PolicyStatement {
        let log = self.signature.as_ref().map_or(log, SignedChange::log);
        PolicyStatement::new(log, self.version, &self.changed_by, &self.after)
    }

    /// Checks that it is signed as the rules require (see [`PolicyHistory::change_signed`]).
    fn check_signature(&self) -> Result<(), Error> {
        check_change(
            self.before.as_ref(),
            self.version,
            &self.changed_by,
            &self.after,
            self.signature.as_ref(),
        )
        .map_err(|fault| {
            ErrorKind::PolicyChangeSignature {
                tenant: self.after.tenant(),
                version: self.version,
                fault,
            }
            .into()
        })
    }

    /// The version this change created: 1 for a tenant's first policy, then 2, 3, ...
    pub fn version(&self) -> u32 {
        self.version
    }

    /// When it took effect: steps at this instant or later are checked against `after`.
    pub fn at(&self) -> DateTime<Utc> {
        self.at
    }

    /// The tenant administrator who made it.
    pub fn changed_by(&self) -> &TenantAdminId {
        &self.changed_by
    }

    /// The policy before the change; `None` for version 1.
    pub fn before(&self) -> Option<&TenantPolicy> {
        self.before.as_ref()
    }

    /// The policy from this change on.
    pub fn after(&self) -> &TenantPolicy {
        &self.after
    }

    /// The tenant.
    pub fn tenant(&self) -> TenantId {
        self.after.tenant()
    }
}

/// A change of a tenant's policy refused for its signature, as the tenant's log keeps it: the
/// version it would have made, when it was tried, by whom, the policy tried, and what was wrong
/// with its signature (`None`: it had none). The signature itself is not kept: it may be
/// anything a caller sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyRefusal {
    version: u32,
    at: DateTime<Utc>,
    attempted_by: TenantAdminId,
    policy: TenantPolicy,
    fault: Option<crate::decision::SignatureFault>,
}

impl PolicyRefusal {
    /// A refusal as a store assembles it inside its write transaction.
    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
    pub(crate) fn assemble(
        version: u32,
        at: DateTime<Utc>,
        attempted_by: TenantAdminId,
        policy: TenantPolicy,
        fault: Option<crate::decision::SignatureFault>,
    ) -> Self {
        PolicyRefusal {
            version,
            at,
            attempted_by,
            policy,
            fault,
        }
    }

    /// The version the change would have made.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// When it was tried.
    pub fn at(&self) -> DateTime<Utc> {
        self.at
    }

    /// Who tried it, as the caller named them.
    pub fn attempted_by(&self) -> &TenantAdminId {
        &self.attempted_by
    }

    /// The policy tried.
    pub fn policy(&self) -> &TenantPolicy {
        &self.policy
    }

    /// What was wrong with its signature: `None` when it had none.
    pub fn fault(&self) -> Option<crate::decision::SignatureFault> {
        self.fault
    }

    /// The tenant.
    pub fn tenant(&self) -> TenantId {
        self.policy.tenant()
    }
}

/// Every version of one tenant's policy, in order: what was in force at any instant, and who
/// set it.
///
/// ```
/// use customer_lockbox::*;
/// # let tenant = TenantId::parse("8b5a0c4e-2f7d-4e4b-9a51-3c1f6d2e7a90")?;
/// # let t0: chrono::DateTime<chrono::Utc> = "2026-11-24T08:00:00Z".parse()?;
/// let admin = TenantAdminId::new("adele@contoso.com")?;
/// let megan = DesignatedApprover::new(ApproverId::new("megan@contoso.com")?, EmailAddress::new("megan@contoso.com")?);
/// let lee = DesignatedApprover::new(ApproverId::new("lee@contoso.com")?, EmailAddress::new("lee@contoso.com")?);
///
/// let mut history = PolicyHistory::new(tenant);
/// history.change(&admin, TenantPolicy::new(tenant, vec![megan.clone()])?, t0)?;
/// let later = t0 + chrono::TimeDelta::days(1);
/// history.change(&admin, TenantPolicy::new(tenant, vec![megan, lee])?.with_approvals_required(2)?, later)?;
///
/// assert_eq!(history.in_force_at(t0).map(|c| c.version()), Some(1));
/// assert_eq!(history.current().map(|p| p.approvals_required()), Some(2));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PolicyHistory {
    tenant: TenantId,
    changes: Vec<PolicyChange>,
}

impl PolicyHistory {
    /// A tenant with no policy yet: nobody may decide for it.
    pub fn new(tenant: TenantId) -> Self {
        PolicyHistory {
            tenant,
            changes: Vec::new(),
        }
    }

    /// A history assembled from stored changes, checked: versions 1, 2, 3, ... in order, each
    /// of `tenant`, none earlier than the one before, each one's `before` the previous one's
    /// `after`, and each signed as the rules require (see
    /// [`change_signed`](Self::change_signed)).
    ///
    /// # Errors
    ///
    /// An error for which [`Error::is_broken_policy_history`] is true, naming the first change
    /// that does not follow, or [`Error::is_policy_change_unsigned`] the first that is not
    /// signed as required.
    pub fn from_changes(tenant: TenantId, changes: Vec<PolicyChange>) -> Result<Self, Error> {
        let mut history = PolicyHistory::new(tenant);
        for change in changes {
            history.follow(change)?;
        }
        Ok(history)
    }

    /// Appends `change`, read from storage, if it follows: the next version, of this tenant,
    /// no earlier than the one before, replacing its policy, and signed as the rules require
    /// (see [`change_signed`](Self::change_signed)).
    pub(crate) fn follow(&mut self, change: PolicyChange) -> Result<(), Error> {
        let tenant = self.tenant;
        let follows = change.version == self.next_version()
            && change.tenant() == tenant
            && change.before.as_ref().is_none_or(|b| b.tenant() == tenant)
            && change.before.as_ref() == self.current()
            && self.changes.last().is_none_or(|last| last.at <= change.at);
        if !follows {
            return Err(ErrorKind::BrokenPolicyHistory {
                tenant,
                version: change.version,
            }
            .into());
        }
        change.check_signature()?;
        self.changes.push(change);
        Ok(())
    }

    /// Makes `policy` the tenant's policy from `now` on, as `admin` decided, and returns the
    /// change. Unsigned: for a tenant whose policy lists no keys, before and after.
    ///
    /// # Errors
    ///
    /// [`Error::is_policy_for_other_tenant`] for another tenant's policy;
    /// [`Error::is_broken_policy_history`] when `now` is earlier than the last change (a
    /// history stays in time order); [`Error::is_policy_change_unsigned`] when the policy in
    /// force or `policy` lists keys (use [`change_signed`](Self::change_signed)).
    pub fn change(
        &mut self,
        admin: &TenantAdminId,
        policy: TenantPolicy,
        now: DateTime<Utc>,
    ) -> Result<&PolicyChange, Error> {
        self.push(admin, policy, None, now)
    }

    /// The statement `admin` signs to make `policy` the next version in `log`
    /// (`ssh-keygen -Y sign -n customer-lockbox`).
    pub fn statement(
        &self,
        log: &str,
        admin: &TenantAdminId,
        policy: &TenantPolicy,
    ) -> PolicyStatement {
        PolicyStatement::new(log, self.next_version(), admin, policy)
    }

    /// [`change`](Self::change), signed: `signed` holds `admin`'s signature over the change's
    /// [`statement`](Self::statement). When the policy in force lists keys, the signature must
    /// be by a key it lists for `admin` (every change is signed by an administrator of the
    /// version before it, even one that removes the keys); otherwise, when `policy` lists keys,
    /// by a key `policy` lists for `admin` (the first version with keys is the tenant's root of
    /// trust, and proves its administrator holds the key).
    ///
    /// # Errors
    ///
    /// As [`change`](Self::change); [`Error::is_policy_change_unsigned`] when the signature
    /// does not hold ([`Error::policy_signature_fault`] says why).
    pub fn change_signed(
        &mut self,
        admin: &TenantAdminId,
        policy: TenantPolicy,
        signed: SignedChange,
        now: DateTime<Utc>,
    ) -> Result<&PolicyChange, Error> {
        self.push(admin, policy, Some(signed), now)
    }

    fn push(
        &mut self,
        admin: &TenantAdminId,
        policy: TenantPolicy,
        signature: Option<SignedChange>,
        now: DateTime<Utc>,
    ) -> Result<&PolicyChange, Error> {
        if policy.tenant() != self.tenant {
            return Err(ErrorKind::PolicyForOtherTenant {
                draft: self.tenant,
                policy: policy.tenant(),
            }
            .into());
        }
        let version = self.next_version();
        if self.changes.last().is_some_and(|last| last.at > now) {
            return Err(ErrorKind::BrokenPolicyHistory {
                tenant: self.tenant,
                version,
            }
            .into());
        }
        let change = PolicyChange {
            version,
            at: now,
            changed_by: admin.clone(),
            before: self.current().cloned(),
            after: policy,
            signature,
        };
        change.check_signature()?;
        self.changes.push(change);
        // Just pushed, so never `None`; an empty history cannot be returned from here.
        self.changes.last().ok_or_else(|| {
            ErrorKind::BrokenPolicyHistory {
                tenant: self.tenant,
                version,
            }
            .into()
        })
    }

    /// The tenant.
    pub fn tenant(&self) -> TenantId {
        self.tenant
    }

    /// Every change, oldest first.
    pub fn changes(&self) -> &[PolicyChange] {
        &self.changes
    }

    /// The policy in force now (the last change's), if there is any.
    pub fn current(&self) -> Option<&TenantPolicy> {
        self.changes.last().map(|c| &c.after)
    }

    /// The change in force at `at`: the last one made at or before it.
    pub fn in_force_at(&self, at: DateTime<Utc>) -> Option<&PolicyChange> {
        self.changes.iter().rev().find(|c| c.at <= at)
    }

    /// Every change in force at some instant from `from` to `to`: the one in force at `from`
    /// (if any) and every one made after it, up to `to`. Who was designated at any time during
    /// an access window, or while a request was pending, is what they designate.
    pub fn in_force_during(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> impl Iterator<Item = &PolicyChange> {
        let first = self.in_force_at(from).map(PolicyChange::version);
        self.changes.iter().filter(move |change| {
            Some(change.version) == first || (change.at > from && change.at <= to)
        })
    }

    /// The version the next change will have.
    fn next_version(&self) -> u32 {
        u32::try_from(self.changes.len())
            .unwrap_or(u32::MAX)
            .saturating_add(1)
    }
}
