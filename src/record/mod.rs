//! The stored form of a request, and the load that refuses anything the workflow could not have
//! produced.

mod designation;
mod replay;
mod signatures;

#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) use replay::{decide_again, replay_trail};
pub(crate) use signatures::{SignedTrail, refused};

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::audit::{AuditEventKind, AuditRecord};
use crate::policy::PolicyHistory;
use crate::refusal::Refusal;
use crate::request::{AnyRequest, Request, with_request};
use crate::state::{State, StateKind};
use crate::values::{RequestId, TenantId};

/// The record format version this build writes. It reads this version and every earlier one
/// (see [`RequestRecord::from_json`]).
pub const RECORD_VERSION: u32 = 3;

/// Whether this build reads records of format `version`: 1, 2 and 3. Each format adds to the one
/// before only what that one could not say, each with the value it implied (format 2: one
/// approval required; format 3: every decision unsigned), so an older record reads as the
/// current one with those values, and its stored bytes, which a store's hash chain covers, are
/// never rewritten.
pub(crate) fn readable(version: u32) -> bool {
    (1..=RECORD_VERSION).contains(&version)
}

/// A request in its stored form: versioned, self-contained, and loaded only through a replay
/// that checks it.
///
/// ```
/// use customer_lockbox::*;
/// # let now: chrono::DateTime<chrono::Utc> = "2026-11-24T08:00:00Z".parse()?;
/// # let tenant = TenantId::parse("8b5a0c4e-2f7d-4e4b-9a51-3c1f6d2e7a90")?;
/// # let megan = ApproverId::new("megan")?;
/// # let policy = TenantPolicy::new(tenant, vec![DesignatedApprover::new(megan.clone(), EmailAddress::new("megan@contoso.com")?)])?;
/// # let draft = Draft { id: RequestId::new(now), tenant, service_request: ServiceRequestNumber::new("2611240010001234")?, services: Services::one(Service::ExchangeOnline), access_duration: AccessDuration::from_hours(4)?, justification: Justification::new("CFO mailbox stopped syncing after migration")?, engineer: EngineerId::new("alex")? };
/// # let drafted = Request::draft(draft, &policy, now)?;
/// # let approved = drafted.approve(&SupportManagerId::new("sam")?, now)?;
/// # let (pending, _message) = approved.notify(&policy, now)?;
/// # let GrantOutcome::Granted(granted) = pending.grant(&megan, &policy, now)? else { return Err("granted before the deadline".into()) };
///
/// let json = granted.to_record().to_json()?;
/// let loaded = RequestRecord::from_json(&json)?.load()?;
/// assert!(matches!(loaded, AnyRequest::Granted(_)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Format, version 3
///
/// A [`RequestRecord`] serializes (with serde, as JSON in the stores) to:
///
/// ```json
/// {
///   "version": 3,
///   "id": "019ab5c0-0000-7000-8000-000000000001",
///   "tenant": "8b5a0c4e-2f7d-4e4b-9a51-3c1f6d2e7a90",
///   "state": "granted",
///   "trail": [ { "sequence": 1, "at": "2026-11-24T08:00:00Z", "tenant": "…", "request": "…",
///                "actor": { "role": "engineer", "id": "alex" },
///                "event": { "kind": "drafted", "details": { "service_request": "…", … } } }, … ]
/// }
/// ```
///
/// The trail is the request: its first record holds everything drafted, and each later record
/// holds what its step decided. `state` is a summary for readers and indexes; it is checked, not
/// trusted. The serde forms of [`AuditRecord`] and the value types *are* format version 3, pinned
/// by snapshot tests: changing any of them means a new version number and a tested upgrade from
/// the old one, never a silent change.
///
/// ## Version 3: signed decisions
///
/// Version 3 adds one optional field to an audit record: `signature`, on a customer's decision
/// (a grant, an approval, a denial, a revocation) its person signed with their own key
/// ([`SignedDecision`](crate::SignedDecision): the log's name, the sequence and link of the
/// record the decision answers, and the SSH signature), and two refusals
/// ([`Refusal::UnsignedDecision`](crate::Refusal::UnsignedDecision),
/// [`Refusal::DecisionSignatureRefused`](crate::Refusal::DecisionSignatureRefused)). A record
/// of version 1 or 2 could sign nothing, so its decisions read as unsigned; the field is absent
/// from an unsigned record, whose bytes are exactly what version 2 wrote. The committed
/// fixtures in `tests/fixtures/record-v2/` and `tests/fixtures/schema-5/` are loaded by the
/// test suite; their decisions load as unsigned.
///
/// ## Version 1, and reading it
///
/// Version 2 added what N-of-M approvals and configurable windows need: a notification says how
/// many approvals it requires (`approvals_required`), a grant that is not yet the last approval
/// is an `approved` record, and a decision deadline may be any decision window (1 hour to 14
/// days) after the notification instead of exactly 12 hours. Version 1 could say none of this,
/// so a version-1 record reads as the version-2 record with one approval required, and replays
/// under the same rules. Stored bytes are never rewritten (a store's hash chain covers them);
/// records are read as version 2 and written as version 2. The committed fixtures in
/// `tests/fixtures/record-v1/`, written by the version-1 build, are loaded by the test suite.
///
/// # Loading
///
/// [`RequestRecord::load`] replays the trail through the same transition functions the live
/// workflow runs, and accepts the record only if every step produces exactly the stored record.
/// A grant without manager approval, a manager who is the engineer, a grant at the deadline, an
/// access window of the wrong length, an action in a service not requested, a gap in the
/// sequence numbers: each fails the replay, and the error names the record and the rule.
///
/// Some facts cannot be checked from a trail, such as whether an approver was designated by the
/// tenant's policy on the day (the policy's history is not stored): [`RequestRecord::load`]
/// lists what replay takes on trust, and the stores' hash chain is what protects it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct RequestRecord {
    version: u32,
    id: RequestId,
    tenant: TenantId,
    state: StateKind,
    trail: Vec<AuditRecord>,
}

/// A record serializes in the current format, [`RECORD_VERSION`], whatever format it was read
/// from: what format 2 adds, a format-1 record reads with the values format 1 implied.
impl Serialize for RequestRecord {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Current<'a> {
            version: u32,
            id: RequestId,
            tenant: TenantId,
            state: StateKind,
            trail: &'a [AuditRecord],
        }
        Current {
            version: RECORD_VERSION,
            id: self.id,
            tenant: self.tenant,
            state: self.state,
            trail: &self.trail,
        }
        .serialize(serializer)
    }
}

impl<S: State> Request<S> {
    /// The request in its stored form.
    pub fn to_record(&self) -> RequestRecord {
        RequestRecord {
            version: RECORD_VERSION,
            id: self.id(),
            tenant: self.tenant(),
            state: S::KIND,
            trail: self.audit_trail().to_vec(),
        }
    }
}

impl AnyRequest {
    /// The request in its stored form.
    pub fn to_record(&self) -> RequestRecord {
        with_request!(self, r => r.to_record())
    }
}

impl RequestRecord {
    /// Assembles a record from stored parts (a store's rows), to be checked by
    /// [`load`](Self::load).
    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
    pub(crate) fn from_parts(
        version: u32,
        id: RequestId,
        tenant: TenantId,
        state: StateKind,
        trail: Vec<AuditRecord>,
    ) -> Self {
        RequestRecord {
            version,
            id,
            tenant,
            state,
            trail,
        }
    }

    /// Reads a record from JSON, of format [`RECORD_VERSION`] or an earlier one, which is read
    /// as the current format (see [`RequestRecord`]).
    ///
    /// # Errors
    ///
    /// A [`RecordError`] when the text is not JSON, names a version this build does not read
    /// (0, or newer than [`RECORD_VERSION`]: [`BrokenRule::UnsupportedVersion`]), or does not fit
    /// its format
    /// ([`BrokenRule::Malformed`], which includes every invalid value: an empty justification, a
    /// nil tenant id, ...).
    pub fn from_json(json: &str) -> Result<Self, RecordError> {
        #[derive(Deserialize)]
        struct Version {
            version: u32,
        }
        let malformed = |err: serde_json::Error| {
            RecordError::new(
                None,
                None,
                BrokenRule::Malformed {
                    reason: err.to_string(),
                },
            )
        };
        let Version { version } = serde_json::from_str(json).map_err(malformed)?;
        if !readable(version) {
            return Err(RecordError::new(
                None,
                None,
                BrokenRule::UnsupportedVersion { found: version },
            ));
        }
        // The record keeps the format it was written in (a format-1 request's decisions,
        // from before stores kept policies, are checked by replay alone), and is written again
        // as the current one.
        serde_json::from_str(json).map_err(malformed)
    }

    /// The record as JSON, in format [`RECORD_VERSION`].
    ///
    /// # Errors
    ///
    /// None in practice: every part of a record serializes. The `Result` stands for
    /// serde_json's own contract.
    pub fn to_json(&self) -> Result<String, RecordError> {
        serde_json::to_string(self).map_err(|err| {
            RecordError::new(
                Some(self.id),
                None,
                BrokenRule::Malformed {
                    reason: err.to_string(),
                },
            )
        })
    }

    /// Checks the record by replaying it, and returns the request in its state.
    ///
    /// The loaded request counts its whole trail as saved
    /// ([`Request::unsaved_records`] is empty).
    ///
    /// # What it checks, and what it trusts
    ///
    /// Every step is run again through the workflow's own transitions and must produce exactly
    /// the stored record: the order of steps, who may take each (the engineer, a support manager
    /// who is not the engineer, an approver who is neither, compared by normalized identity),
    /// every deadline and window, every refusal, every delivery's cause. A record the workflow
    /// could not have produced is refused, naming the record and the rule.
    ///
    /// A trail cannot prove facts from outside it, so `load` trusts the record for these:
    ///
    /// - **The tenant's policy.** That an approver who granted, denied or revoked was designated
    ///   by the tenant's policy at that moment, that the approvers recorded as notified were the
    ///   designated ones, and that the decision window, the approvals required and the access
    ///   maximum were the policy's (replay only checks that a policy could have set them: a
    ///   window of 1 hour to 14 days, 1 to the notified approvals): the record holds the
    ///   policy's answers, and replay takes them. [`load_under`](Self::load_under) checks them
    ///   against the tenant's policy history, as every store load does.
    /// - **Identity.** That each id names the person who acted: an id is a sign-in name, and
    ///   whoever called the workflow chose it.
    /// - **Instants.** That each step happened when recorded, within the trail's order. (A store
    ///   refuses a step stamped further ahead of its clock than
    ///   [`MAX_CLOCK_SKEW`](crate::MAX_CLOCK_SKEW).)
    /// - **Deliveries.** That the transport accepted the messages recorded as sent.
    /// - **Provenance.** That this is the stored request. A request loaded here is a lawful run,
    ///   not necessarily the one a store holds; it cannot be handed to a store either, since a
    ///   store only moves requests it loaded itself (there is no `save`). A store's hash chain
    ///   is what shows that the stored records were not rewritten.
    ///
    /// So a record is evidence only together with the store's chain (keep the
    /// [`ChainHead`](crate::ChainHead) somewhere the database's writers cannot reach).
    ///
    /// # Errors
    ///
    /// A [`RecordError`] naming the first record the workflow could not have produced and the
    /// rule it breaks.
    pub fn load(&self) -> Result<AnyRequest, RecordError> {
        replay::replay(self)
    }

    /// [`load`](Self::load), then checks every step that depended on the tenant's policy
    /// against the version in force at its instant in `history`: that each approver who
    /// granted or approved was designated then (and notified, or designated only since), and
    /// counted only the earlier approvals of approvers designated then; that each approver who
    /// revoked was designated at the grant or at some time during the access, and each who
    /// denied at some time while the request was pending; and that each notification and draft
    /// followed that version's approvers, approvals, window and maximum. A notification or a
    /// decision when the tenant had no policy at all is refused, unless the record is of format
    /// 1 (written before stores kept policies), which replay alone checks. A store loads this
    /// way.
    ///
    /// # Errors
    ///
    /// As [`load`](Self::load); and [`BrokenRule::NotDesignatedAtDecision`],
    /// [`BrokenRule::ApprovalsMiscounted`], [`BrokenRule::NoPolicyInForce`],
    /// [`BrokenRule::NotificationDisagreesWithPolicy`], [`BrokenRule::DraftOverPolicyMaximum`]
    /// naming the first record that breaks the policy, or [`BrokenRule::ForeignRecord`] for
    /// another tenant's history.
    pub fn load_under(&self, history: &PolicyHistory) -> Result<AnyRequest, RecordError> {
        if history.tenant() != self.tenant {
            return Err(RecordError::new(
                Some(self.id),
                None,
                BrokenRule::ForeignRecord,
            ));
        }
        let loaded = replay::replay(self)?;
        let before_policies = if self.version == 1 {
            designation::BeforePolicies::Replayed
        } else {
            designation::BeforePolicies::Refused
        };
        designation::check(self.id, history, &self.trail, before_policies)?;
        Ok(loaded)
    }

    /// The format version the record was written in: [`RECORD_VERSION`] for a record of this
    /// build, 1 for one read from format 1 (which [`to_json`](Self::to_json) writes again as
    /// [`RECORD_VERSION`]).
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The request's id.
    pub fn id(&self) -> RequestId {
        self.id
    }

    /// The tenant.
    pub fn tenant(&self) -> TenantId {
        self.tenant
    }

    /// The state the record claims.
    pub fn state(&self) -> StateKind {
        self.state
    }

    /// The audit trail.
    pub fn trail(&self) -> &[AuditRecord] {
        &self.trail
    }
}

/// A workflow rule a stored record breaks.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BrokenRule {
    /// The record is in a format version this build does not read.
    UnsupportedVersion {
        /// The version found.
        found: u32,
    },
    /// The record does not fit the format, or holds an invalid value.
    Malformed {
        /// What the decoder said.
        reason: String,
    },
    /// The trail is empty.
    EmptyTrail,
    /// A sequence number is missing, repeated or out of order.
    SequenceOutOfOrder {
        /// The number expected at this place.
        expected: u64,
        /// The number found.
        found: u64,
    },
    /// An audit record names another tenant or request than the record.
    ForeignRecord,
    /// The trail does not start with the engineer's draft.
    NotStartedByDraft,
    /// A record is earlier than the one before it.
    TimeWentBackwards,
    /// A record's instant is outside the years 1970 to 9999.
    InstantOutOfRange,
    /// The step cannot happen in the state the request was in, such as a grant without manager
    /// approval.
    StepNotLegal {
        /// The state the replay had reached.
        state: StateKind,
        /// The step the record claims.
        event: AuditEventKind,
    },
    /// The workflow refuses the step the record claims, such as an approval by the engineer.
    StepRefused(Refusal),
    /// A grant or denial is recorded at or after the decision deadline.
    DecisionAtOrAfterDeadline,
    /// A decision deadline is not a decision window (1 hour to 14 days, whole minutes) after
    /// the notification.
    DeadlineNotDecisionWindow,
    /// A notification requires no approvals, or more than it notified approvers.
    InvalidApprovalsRequired,
    /// An access window is not exactly the requested duration.
    AccessWindowNotRequestedDuration,
    /// An engineer action is recorded at or after the end of the access window.
    ActionOutsideAccessWindow,
    /// An expiry or the end of access is recorded at an instant other than the deadline or the
    /// window's end.
    ClosureAtWrongInstant,
    /// The notified approvers are none, or one is listed twice.
    InvalidNotifiedApprovers,
    /// A workflow step follows the close of the request (only deliveries may).
    RecordAfterClose,
    /// The state the record claims is not the state its trail leads to.
    StateMismatch {
        /// What the record claims.
        stored: StateKind,
        /// Where the trail leads.
        replayed: StateKind,
    },
    /// The record differs from what the workflow produces for that step.
    RecordDiffers,
    /// A delivery is recorded for a record whose step causes no notification, or a later one.
    DeliveryWithoutCause,
    /// A delivery is recorded for a notification already sent or dropped.
    DeliveredTwice,
    /// A delivery is recorded while time had moved the request on (past its decision deadline
    /// or the end of its access window) without that being recorded first.
    DeliveryWhileDue,
    /// A notification is recorded as sent to nobody.
    SentToNobody,
    /// A notification is recorded as dropped though it was still needed.
    NeededMessageDropped,
    /// An approver granted, approved, denied or revoked without being designated by the tenant's
    /// policy at that instant, or without having been notified while designated.
    NotDesignatedAtDecision,
    /// A notification's approvers, approvals required or deadline are not what the tenant's
    /// policy in force at that instant set, or the access asked for exceeded its maximum.
    NotificationDisagreesWithPolicy,
    /// An approval counted (or did not count) an earlier approval contrary to the policy in
    /// force at that instant: only approvals by approvers designated then count towards access.
    ApprovalsMiscounted,
    /// A notification or a customer's decision was taken when the tenant had no policy at all:
    /// nobody was designated. (A request written in record format 1, before stores kept
    /// policies, is checked by replay alone.)
    NoPolicyInForce,
    /// The draft asks for more access than the tenant's policy at that instant allowed.
    DraftOverPolicyMaximum,
    /// The request's audit records are in the tenant's log, but its row is gone: deleted from
    /// the database (which hides the request from every listing).
    RequestRowMissing,
    /// A grant or an approval is unsigned though the tenant's policy at that instant listed
    /// keys, so required every grant signed by the approver's own key.
    UnsignedDecision,
    /// A decision's signature does not verify: it is not by a key of its approver in the
    /// tenant's policy, not over that decision's statement, or not an SSH signature at all.
    DecisionSignatureRefused {
        /// What is wrong with it.
        fault: crate::decision::SignatureFault,
    },
    /// A store's column disagrees with the record it summarizes.
    StoredColumnDisagrees {
        /// The column.
        column: &'static str,
    },
    /// A stored record's hash is not the hash of its columns after the hash before it: the
    /// record was edited after it was written.
    LinkDisagrees,
}

impl fmt::Display for BrokenRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BrokenRule::UnsupportedVersion { found } => write!(
                f,
                "record format version {found} is not supported (this build reads versions 1 to {RECORD_VERSION}): use a build of customer-lockbox that knows it"
            ),
            BrokenRule::Malformed { reason } => {
                write!(f, "the record does not fit format version {RECORD_VERSION}: {reason}")
            }
            BrokenRule::EmptyTrail => f.write_str("the audit trail is empty, but every request starts with its draft"),
            BrokenRule::SequenceOutOfOrder { expected, found } => write!(
                f,
                "audit record #{found} stands where #{expected} belongs: records are missing, repeated or reordered"
            ),
            BrokenRule::ForeignRecord => f.write_str("an audit record belongs to another tenant or request"),
            BrokenRule::NotStartedByDraft => f.write_str("the trail does not start with the engineer's draft"),
            BrokenRule::TimeWentBackwards => f.write_str("a record is earlier than the record before it"),
            BrokenRule::InstantOutOfRange => f.write_str("a record's instant is outside the years 1970 to 9999"),
            BrokenRule::StepNotLegal { state, event } => {
                write!(f, "a {event:?} record cannot follow a {state} request")
            }
            BrokenRule::StepRefused(refusal) => write!(f, "the workflow refuses this step: {refusal}"),
            BrokenRule::DecisionAtOrAfterDeadline => {
                f.write_str("a decision is recorded at or after the decision deadline, when the request had expired")
            }
            BrokenRule::DeadlineNotDecisionWindow => {
                f.write_str("the decision deadline is not a decision window (1 hour to 14 days, whole minutes) after the notification")
            }
            BrokenRule::AccessWindowNotRequestedDuration => {
                f.write_str("the access window is not exactly the requested duration")
            }
            BrokenRule::ActionOutsideAccessWindow => {
                f.write_str("an engineer action is recorded at or after the end of the access window")
            }
            BrokenRule::ClosureAtWrongInstant => f.write_str(
                "an expiry or the end of access is recorded at another instant than the deadline or the window's end",
            ),
            BrokenRule::InvalidNotifiedApprovers => {
                f.write_str("the notified approvers are none, or one is listed twice")
            }
            BrokenRule::NotDesignatedAtDecision => f.write_str(
                "the approver was not designated by the tenant's policy at that instant, or was not among those notified",
            ),
            BrokenRule::ApprovalsMiscounted => f.write_str(
                "the approvals counted towards access are not those of the approvers the tenant's policy designated at that instant",
            ),
            BrokenRule::NoPolicyInForce => f.write_str(
                "the tenant had no policy at that instant, so nobody was designated to be notified or to decide",
            ),
            BrokenRule::RequestRowMissing => f.write_str(
                "its audit records are in the tenant's log but its row is missing: it was deleted from the database",
            ),
            BrokenRule::NotificationDisagreesWithPolicy => f.write_str(
                "the notification's approvers, approvals required or deadline are not what the tenant's policy then set",
            ),
            BrokenRule::DraftOverPolicyMaximum => f.write_str(
                "the draft asks for more access than the tenant's policy then allowed",
            ),
            BrokenRule::InvalidApprovalsRequired => f.write_str(
                "the notification requires no approvals, or more than the approvers it notified",
            ),
            BrokenRule::RecordAfterClose => f.write_str("a workflow step follows the close of the request"),
            BrokenRule::StateMismatch { stored, replayed } => write!(
                f,
                "the record says the request is {stored} but its trail leads to {replayed}"
            ),
            BrokenRule::RecordDiffers => {
                f.write_str("the record differs from what the workflow produces for that step")
            }
            BrokenRule::DeliveryWithoutCause => f.write_str(
                "a delivery names a cause that is not an earlier record causing that notification",
            ),
            BrokenRule::DeliveredTwice => {
                f.write_str("a delivery follows the notification's sending or dropping")
            }
            BrokenRule::DeliveryWhileDue => f.write_str(
                "a delivery is recorded after the request's deadline or access window passed, before the expiry or the end of access",
            ),
            BrokenRule::SentToNobody => f.write_str("a notification is recorded as sent to nobody"),
            BrokenRule::NeededMessageDropped => {
                f.write_str("a notification is recorded as dropped though it was still needed")
            }
            BrokenRule::UnsignedDecision => f.write_str(
                "the grant is unsigned, though the tenant's policy then listed keys and so required it signed by the approver's own key: it was not the approver's decision",
            ),
            BrokenRule::DecisionSignatureRefused { fault } => write!(
                f,
                "the decision's signature does not hold: {fault}; the approver did not sign this decision",
            ),
            BrokenRule::StoredColumnDisagrees { column } => {
                write!(f, "the stored column `{column}` disagrees with the record")
            }
            BrokenRule::LinkDisagrees => f.write_str(
                "the record's stored hash is not the hash of its columns: it was edited after it was written; verify the tenant's chain to see what else was",
            ),
        }
    }
}

/// A stored record refused on load: which request, which audit record, which rule.
///
/// Its message ends with what to do: the record cannot be used as it is, so it must be restored
/// from a copy the store has verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordError {
    request: Option<RequestId>,
    sequence: Option<u64>,
    rule: BrokenRule,
}

impl RecordError {
    pub(crate) fn new(request: Option<RequestId>, sequence: Option<u64>, rule: BrokenRule) -> Self {
        RecordError {
            request,
            sequence,
            rule,
        }
    }

    /// The request, when the record got far enough to name it.
    pub fn request(&self) -> Option<RequestId> {
        self.request
    }

    /// The sequence number of the first audit record that breaks a rule, if one does.
    pub fn sequence(&self) -> Option<u64> {
        self.sequence
    }

    /// The rule broken.
    pub fn rule(&self) -> &BrokenRule {
        &self.rule
    }
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("stored request")?;
        if let Some(request) = self.request {
            write!(f, " {request}")?;
        }
        f.write_str(" refused")?;
        if let Some(sequence) = self.sequence {
            write!(f, " at audit record #{sequence}")?;
        }
        write!(
            f,
            ": {}; the workflow cannot have produced it, so restore it from a verified copy",
            self.rule
        )
    }
}

impl std::error::Error for RecordError {}

impl From<crate::request::DeliveryRefused> for BrokenRule {
    fn from(refused: crate::request::DeliveryRefused) -> Self {
        use crate::request::DeliveryRefused as R;
        match refused {
            R::InstantOutOfRange => BrokenRule::InstantOutOfRange,
            R::TimeWentBackwards => BrokenRule::TimeWentBackwards,
            R::WhileDue => BrokenRule::DeliveryWhileDue,
            R::WithoutCause => BrokenRule::DeliveryWithoutCause,
            R::DeliveredTwice => BrokenRule::DeliveredTwice,
            R::SentToNobody => BrokenRule::SentToNobody,
            R::NeededMessageDropped => BrokenRule::NeededMessageDropped,
        }
    }
}
