//! A tenant's Customer Lockbox policy: who may decide, how many must, how long they have, and
//! how long access may last.

mod history;

pub use history::{PolicyChange, PolicyHistory, PolicyRefusal};

use chrono::TimeDelta;
use serde::{Deserialize, Serialize};

use crate::decision::{CustomerKey, Decision, DecisionContext, SignedDecision};
use crate::error::{Error, ErrorKind};
use crate::refusal::Refusal;
use crate::values::{
    AccessDuration, ApproverId, DecisionWindow, EmailAddress, TenantAdminId, TenantId,
};

/// A person the tenant designates to grant, deny and revoke access, with the address their
/// notifications go to, and the public keys they sign decisions with (none, unless the tenant
/// requires signed decisions).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DesignatedApprover {
    id: ApproverId,
    email: EmailAddress,
    /// Absent from a policy without keys, so that one serializes as it always did.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    keys: Vec<CustomerKey>,
}

impl DesignatedApprover {
    /// An approver reached at `email`.
    pub fn new(id: ApproverId, email: EmailAddress) -> Self {
        DesignatedApprover {
            id,
            email,
            keys: Vec::new(),
        }
    }

    /// The approver, signing their decisions with `keys` (OpenSSH public keys: an SSH key, a
    /// security key). A policy that lists any key requires every decision it governs signed.
    pub fn with_keys(mut self, keys: Vec<CustomerKey>) -> Self {
        self.keys = keys;
        self
    }

    /// The keys they sign decisions with.
    pub fn keys(&self) -> &[CustomerKey] {
        &self.keys
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
    administrators: Vec<TenantAdministrator>,
}

/// A tenant administrator who may change the tenant's policy, with the public keys they sign
/// changes with.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TenantAdministrator {
    id: TenantAdminId,
    keys: Vec<CustomerKey>,
}

impl TenantAdministrator {
    /// An administrator signing policy changes with `keys`.
    pub fn new(id: TenantAdminId, keys: Vec<CustomerKey>) -> Self {
        TenantAdministrator { id, keys }
    }

    /// Who they are.
    pub fn id(&self) -> &TenantAdminId {
        &self.id
    }

    /// The keys they sign policy changes with.
    pub fn keys(&self) -> &[CustomerKey] {
        &self.keys
    }
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
            administrators: Vec::new(),
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
            administrators: Vec::new(),
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

    /// The same policy naming the tenant administrators who may change it and the keys they
    /// sign changes with. With any key in the policy, every change of it must be signed by an
    /// administrator key of the version it replaces, and every grant by the approver's key.
    pub fn with_administrators(mut self, administrators: Vec<TenantAdministrator>) -> Self {
        self.administrators = administrators;
        self
    }

    /// The administrators who may change it, with their keys (none for a policy that requires
    /// no signatures).
    pub fn administrators(&self) -> &[TenantAdministrator] {
        &self.administrators
    }

    /// Whether the policy lists any key: then every grant it governs must be signed by the
    /// approver's key, and every change of it by an administrator's key.
    pub fn requires_signatures(&self) -> bool {
        self.approvers.iter().any(|a| !a.keys.is_empty())
            || self.administrators.iter().any(|a| !a.keys.is_empty())
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

    /// The keys `approver` signs decisions with under this policy (none when they are not
    /// designated).
    pub(crate) fn keys_of(&self, approver: &ApproverId) -> &[CustomerKey] {
        use crate::values::Person;
        self.approvers
            .iter()
            .find(|a| a.id.is_same_person_as(approver))
            .map_or(&[], |a| a.keys.as_slice())
    }

    /// The keys tenant administrator `admin` signs policy changes with under this policy (none
    /// when it does not name them).
    pub(crate) fn admin_keys(&self, admin: &TenantAdminId) -> &[CustomerKey] {
        use crate::values::Person;
        self.administrators
            .iter()
            .find(|a| a.id.is_same_person_as(admin))
            .map_or(&[], |a| a.keys.as_slice())
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
        self.check_keys()?;
        if self.approvals_required > Self::MAX_APPROVALS_REQUIRED {
            return Err(ErrorKind::ApprovalsRequiredOutOfRange {
                required: self.approvals_required,
                designated: self.approvers.len(),
            }
            .into());
        }
        Ok(())
    }

    /// Refuses a policy that lists keys yet leaves a designated approver, or its
    /// administrators, without one.
    fn check_keys(&self) -> Result<(), Error> {
        if self.requires_signatures() {
            let unkeyed = self
                .approvers
                .iter()
                .find(|a| a.keys.is_empty())
                .map(|a| format!("designated approver {}", a.id));
            let no_admin_key = (!self.administrators.iter().any(|a| !a.keys.is_empty()))
                .then(|| "no tenant administrator".to_owned());
            if let Some(who) = unkeyed.or(no_admin_key) {
                return Err(ErrorKind::MissingSigningKey { who }.into());
            }
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
    /// The signature the customer's decision `context` describes keeps, given `signed`:
    /// `Ok(Some(_))` a signature that verifies, `Ok(None)` an unsigned decision the policy
    /// allows (a grant when it lists no keys; a denial or a revocation always: taking access
    /// away never waits for a key), `Err` the refusal of a grant unsigned under a policy that
    /// lists keys, or signed wrongly.
    fn signature_verdict(
        &self,
        signed: Option<&SignedDecision>,
        context: &DecisionContext<'_>,
    ) -> Result<Option<SignedDecision>, Refusal>;
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

    fn signature_verdict(
        &self,
        signed: Option<&SignedDecision>,
        context: &DecisionContext<'_>,
    ) -> Result<Option<SignedDecision>, Refusal> {
        let grants = context.decision == Decision::Grant;
        let Some(signed) = signed else {
            return if grants && self.requires_signatures() {
                Err(Refusal::UnsignedDecision)
            } else {
                Ok(None)
            };
        };
        match signed.check(context, self.keys_of(context.approver)) {
            Ok(()) => Ok(Some(signed.clone())),
            Err(fault) if grants => Err(Refusal::DecisionSignatureRefused { fault }),
            // A denial or a revocation takes effect whatever its signature: it is kept as
            // unsigned.
            Err(_) => Ok(None),
        }
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
    /// Absent from a policy without administrators' keys, so that one serializes as it always
    /// did (its stored bytes are checked against its re-serialization on every read).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    administrators: Vec<TenantAdministrator>,
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
            administrators: fields.administrators,
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
            administrators: policy.administrators,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const MEGAN: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIKqPIpur+dQmhIEV6EWxOiyw/hyRzDGL4o7PWczotTx megan";
    const ADELE: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMZ1tP5ZmvRqaYZfdtw+B9f5H3GYZKbWfUdffm0qXtFP adele";

    fn approver(id: &str) -> DesignatedApprover {
        DesignatedApprover::new(ApproverId::new(id).unwrap(), EmailAddress::new(id).unwrap())
    }

    fn tenant() -> TenantId {
        TenantId::parse("8b5a0c4e-2f7d-4e4b-9a51-3c1f6d2e7a90").unwrap()
    }

    fn key(line: &str) -> CustomerKey {
        CustomerKey::parse(line).unwrap()
    }

    fn admin() -> TenantAdministrator {
        TenantAdministrator::new(
            TenantAdminId::new("adele@contoso.com").unwrap(),
            vec![key(ADELE)],
        )
    }

    #[test]
    fn a_policy_without_keys_serializes_as_it_always_did() {
        let policy = TenantPolicy::new(tenant(), vec![approver("megan@contoso.com")]).unwrap();
        assert!(!policy.requires_signatures());
        assert_eq!(
            serde_json::to_string(&policy).unwrap(),
            r#"{"tenant":"8b5a0c4e-2f7d-4e4b-9a51-3c1f6d2e7a90","approvers":[{"id":"megan@contoso.com","email":"megan@contoso.com"}],"approvals_required":1,"max_access_duration":240,"decision_window":720}"#
        );
    }

    #[test]
    fn a_policy_with_keys_keeps_them_and_requires_signatures() {
        let policy = TenantPolicy::new(
            tenant(),
            vec![approver("megan@contoso.com").with_keys(vec![key(MEGAN)])],
        )
        .unwrap()
        .with_administrators(vec![admin()]);
        assert!(policy.requires_signatures());
        assert!(policy.check().is_ok());
        let json = serde_json::to_string(&policy).unwrap();
        assert!(
            !json.contains("megan\""),
            "comments are no part of a key: {json}"
        );
        let back: TenantPolicy = serde_json::from_str(&json).unwrap();
        assert_eq!(back, policy);
        assert_eq!(back.approvers()[0].keys(), &[key(MEGAN)]);
        assert_eq!(back.administrators()[0].keys(), &[key(ADELE)]);
    }

    #[test]
    fn a_policy_with_keys_leaves_nobody_who_decides_without_one() {
        let unkeyed_approver = TenantPolicy::new(
            tenant(),
            vec![
                approver("megan@contoso.com").with_keys(vec![key(MEGAN)]),
                approver("lee@contoso.com"),
            ],
        )
        .unwrap()
        .with_administrators(vec![admin()]);
        let err = unkeyed_approver.check_keys().unwrap_err();
        assert!(err.is_missing_signing_key(), "{err}");
        assert!(err.to_string().contains("lee@contoso.com"), "{err}");
        let no_admin_key = TenantPolicy::new(
            tenant(),
            vec![approver("megan@contoso.com").with_keys(vec![key(MEGAN)])],
        )
        .unwrap();
        let err = no_admin_key.check_keys().unwrap_err();
        assert!(err.is_missing_signing_key(), "{err}");
        assert!(err.to_string().contains("no tenant administrator"), "{err}");
    }
}
