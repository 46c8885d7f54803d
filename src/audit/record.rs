use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::audit::AuditCursor;
use crate::decision::SignedDecision;
use crate::refusal::{Refusal, Step};
use crate::values::DeliveryFailure;
use crate::values::NotificationKind;
use crate::values::{
    AccessDuration, ApproverId, EmailAddress, EngineerAction, EngineerId, Justification, RequestId,
    ServiceRequestNumber, Services, SupportManagerId, TenantId,
};

/// Who took a step: a person in one of the workflow's roles, or the system (notifications,
/// expiry, the end of an access window).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "role", content = "id", rename_all = "snake_case")]
pub enum Actor {
    /// A vendor support engineer.
    Engineer(EngineerId),
    /// A vendor support manager.
    SupportManager(SupportManagerId),
    /// A person on the customer's side acting as an approver (designated or, in a refused
    /// attempt, not).
    Approver(ApproverId),
    /// The workflow itself.
    System,
}

impl Actor {
    /// The role as stored and searched: `engineer`, `support_manager`, `approver` or `system`
    /// (the serde tag).
    pub fn role(&self) -> &'static str {
        match self {
            Actor::Engineer(_) => "engineer",
            Actor::SupportManager(_) => "support_manager",
            Actor::Approver(_) => "approver",
            Actor::System => "system",
        }
    }

    /// The actor in `role` ([`role`](Self::role)'s names) with `id` (ignored for `system`),
    /// as a search form or a query string carries it.
    ///
    /// ```
    /// use customer_lockbox::{Actor, EngineerId};
    ///
    /// let alex = Actor::from_role("engineer", "alex@support.vendor.example")?;
    /// assert_eq!(alex, Actor::Engineer(EngineerId::new("alex@support.vendor.example")?));
    /// assert!(Actor::from_role("manager", "sam").unwrap_err().is_unknown_name());
    /// # Ok::<(), customer_lockbox::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// When `role` is none of the roles, or `id` is not a valid id of that role.
    pub fn from_role(role: &str, id: &str) -> Result<Actor, crate::Error> {
        const ROLES: [&str; 4] = ["engineer", "support_manager", "approver", "system"];
        match crate::error::by_name("a role", role, &ROLES, |role| role)? {
            "engineer" => EngineerId::new(id).map(Actor::Engineer),
            "support_manager" => SupportManagerId::new(id).map(Actor::SupportManager),
            "approver" => ApproverId::new(id).map(Actor::Approver),
            _ => Ok(Actor::System),
        }
    }

    /// The person's id; empty for the system.
    pub fn id(&self) -> &str {
        match self {
            Actor::Engineer(id) => id.as_str(),
            Actor::SupportManager(id) => id.as_str(),
            Actor::Approver(id) => id.as_str(),
            Actor::System => "",
        }
    }
}

/// An actor as `ROLE:ID` (`engineer:alex@support.vendor.example`), or `system`: see
/// [`Actor::from_role`].
impl std::str::FromStr for Actor {
    type Err = crate::Error;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.split_once(':') {
            Some((role, id)) => Actor::from_role(role, id),
            None if text == "system" => Ok(Actor::System),
            None => Err(crate::error::ErrorKind::UnknownName {
                what: "an actor",
                input: text.chars().take(64).collect(),
                known: "engineer:ID, support_manager:ID, approver:ID, system".to_owned(),
            }
            .into()),
        }
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::Engineer(id) => write!(f, "engineer {id}"),
            Actor::SupportManager(id) => write!(f, "support manager {id}"),
            Actor::Approver(id) => write!(f, "approver {id}"),
            Actor::System => f.write_str("system"),
        }
    }
}

/// What happened, with its details.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "details", rename_all = "snake_case")]
#[non_exhaustive]
pub enum AuditEvent {
    /// The engineer drafted the request.
    Drafted {
        /// The support case.
        service_request: ServiceRequestNumber,
        /// The services to access.
        services: Services,
        /// How long access is needed.
        access_duration: AccessDuration,
        /// Why.
        justification: Justification,
    },
    /// A support manager approved the draft.
    ManagerApproved,
    /// A support manager rejected the draft.
    ManagerRejected,
    /// The engineer withdrew the request.
    Withdrawn,
    /// The tenant's designated approvers were notified.
    ApproversNotified {
        /// Who was notified.
        approvers: Vec<ApproverId>,
        /// When the request expires unanswered.
        decision_deadline: DateTime<Utc>,
        /// How many distinct designated approvers must grant before access starts (the
        /// policy's, at the notification). Absent in format 1, which allowed only 1.
        #[serde(default = "one_approval")]
        approvals_required: u32,
    },
    /// A designated approver granted, and more approvals are needed before access starts.
    Approved {
        /// How many more distinct designated approvers must grant.
        remaining: u32,
    },
    /// A designated approver granted access: the last approval the request needed.
    Granted {
        /// When access ends.
        access_ends_at: DateTime<Utc>,
    },
    /// A designated approver denied access.
    Denied,
    /// Nobody decided before the deadline; recorded at the deadline.
    Expired,
    /// The engineer acted on the customer's data.
    EngineerActed {
        /// What they did.
        action: EngineerAction,
    },
    /// The engineer closed the request after the fix.
    Completed,
    /// The access window ran out; recorded at its end.
    AccessElapsed,
    /// A designated approver revoked access.
    Revoked,
    /// A step was refused.
    Refused {
        /// The step tried.
        step: Step,
        /// The rule that refused it.
        refusal: Refusal,
    },
    /// An engineer action was refused.
    ActionRefused {
        /// The action tried.
        action: EngineerAction,
        /// The rule that refused it.
        refusal: Refusal,
    },
    /// A notification was handed to the platform's transport, which accepted it.
    NotificationSent {
        /// What it was about.
        notification: NotificationKind,
        /// The sequence of the record whose step caused it.
        cause: u64,
        /// The addresses it went to.
        recipients: Vec<EmailAddress>,
    },
    /// An attempt to send a notification failed; it stays in the outbox for another attempt.
    DeliveryFailed {
        /// What it was about.
        notification: NotificationKind,
        /// The sequence of the record whose step caused it.
        cause: u64,
        /// Why, as the sender or the directory reported it.
        failure: DeliveryFailure,
    },
    /// A notification asking for a decision was not sent because the request no longer awaits
    /// one (it was decided, withdrawn or expired first).
    NotificationDropped {
        /// What it was about.
        notification: NotificationKind,
        /// The sequence of the record whose step caused it.
        cause: u64,
    },
}

fn one_approval() -> u32 {
    1
}

/// The kind of an [`AuditEvent`], without its details: what audit searches filter on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
#[allow(missing_docs)] // each variant is the AuditEvent variant of the same name
pub enum AuditEventKind {
    Drafted,
    ManagerApproved,
    ManagerRejected,
    Withdrawn,
    ApproversNotified,
    Approved,
    Granted,
    Denied,
    Expired,
    EngineerActed,
    Completed,
    AccessElapsed,
    Revoked,
    Refused,
    ActionRefused,
    NotificationSent,
    DeliveryFailed,
    NotificationDropped,
}

impl AuditEventKind {
    /// Every kind, in declaration order.
    pub const ALL: [AuditEventKind; 18] = [
        AuditEventKind::Drafted,
        AuditEventKind::ManagerApproved,
        AuditEventKind::ManagerRejected,
        AuditEventKind::Withdrawn,
        AuditEventKind::ApproversNotified,
        AuditEventKind::Approved,
        AuditEventKind::Granted,
        AuditEventKind::Denied,
        AuditEventKind::Expired,
        AuditEventKind::EngineerActed,
        AuditEventKind::Completed,
        AuditEventKind::AccessElapsed,
        AuditEventKind::Revoked,
        AuditEventKind::Refused,
        AuditEventKind::ActionRefused,
        AuditEventKind::NotificationSent,
        AuditEventKind::DeliveryFailed,
        AuditEventKind::NotificationDropped,
    ];

    /// The kind as stored and searched (the serde name): `drafted`, `engineer_acted`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            AuditEventKind::Drafted => "drafted",
            AuditEventKind::ManagerApproved => "manager_approved",
            AuditEventKind::ManagerRejected => "manager_rejected",
            AuditEventKind::Withdrawn => "withdrawn",
            AuditEventKind::ApproversNotified => "approvers_notified",
            AuditEventKind::Approved => "approved",
            AuditEventKind::Granted => "granted",
            AuditEventKind::Denied => "denied",
            AuditEventKind::Expired => "expired",
            AuditEventKind::EngineerActed => "engineer_acted",
            AuditEventKind::Completed => "completed",
            AuditEventKind::AccessElapsed => "access_elapsed",
            AuditEventKind::Revoked => "revoked",
            AuditEventKind::Refused => "refused",
            AuditEventKind::ActionRefused => "action_refused",
            AuditEventKind::NotificationSent => "notification_sent",
            AuditEventKind::DeliveryFailed => "delivery_failed",
            AuditEventKind::NotificationDropped => "notification_dropped",
        }
    }
}

/// An event kind by its stored name ([`AuditEventKind::as_str`]), as a query string carries it.
///
/// ```
/// use customer_lockbox::AuditEventKind;
///
/// assert_eq!("engineer_acted".parse::<AuditEventKind>()?, AuditEventKind::EngineerActed);
/// # Ok::<(), customer_lockbox::Error>(())
/// ```
impl std::str::FromStr for AuditEventKind {
    type Err = crate::Error;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        crate::error::by_name(
            "an event kind",
            text,
            &AuditEventKind::ALL,
            AuditEventKind::as_str,
        )
    }
}

impl AuditEvent {
    /// The notification the event's step causes, if any: the approvers are asked to decide
    /// when notified; the engineer is told of a grant, a denial or an expiry; the approvers get
    /// the post-access report when access ends (closed, revoked or elapsed).
    pub fn notification(&self) -> Option<NotificationKind> {
        match self {
            AuditEvent::ApproversNotified { .. } => Some(NotificationKind::DecisionNeeded),
            AuditEvent::Granted { .. } => Some(NotificationKind::AccessGranted),
            AuditEvent::Denied | AuditEvent::Expired => Some(NotificationKind::NoAccess),
            AuditEvent::Completed | AuditEvent::Revoked | AuditEvent::AccessElapsed => {
                Some(NotificationKind::AccessEnded)
            }
            _ => None,
        }
    }

    /// The event's kind.
    pub fn kind(&self) -> AuditEventKind {
        match self {
            AuditEvent::Drafted { .. } => AuditEventKind::Drafted,
            AuditEvent::ManagerApproved => AuditEventKind::ManagerApproved,
            AuditEvent::ManagerRejected => AuditEventKind::ManagerRejected,
            AuditEvent::Withdrawn => AuditEventKind::Withdrawn,
            AuditEvent::ApproversNotified { .. } => AuditEventKind::ApproversNotified,
            AuditEvent::Approved { .. } => AuditEventKind::Approved,
            AuditEvent::Granted { .. } => AuditEventKind::Granted,
            AuditEvent::Denied => AuditEventKind::Denied,
            AuditEvent::Expired => AuditEventKind::Expired,
            AuditEvent::EngineerActed { .. } => AuditEventKind::EngineerActed,
            AuditEvent::Completed => AuditEventKind::Completed,
            AuditEvent::AccessElapsed => AuditEventKind::AccessElapsed,
            AuditEvent::Revoked => AuditEventKind::Revoked,
            AuditEvent::Refused { .. } => AuditEventKind::Refused,
            AuditEvent::ActionRefused { .. } => AuditEventKind::ActionRefused,
            AuditEvent::NotificationSent { .. } => AuditEventKind::NotificationSent,
            AuditEvent::DeliveryFailed { .. } => AuditEventKind::DeliveryFailed,
            AuditEvent::NotificationDropped { .. } => AuditEventKind::NotificationDropped,
        }
    }
}

impl fmt::Display for AuditEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuditEvent::Drafted {
                service_request,
                services,
                access_duration,
                ..
            } => write!(
                f,
                "drafted for service request {service_request}: {services} for {access_duration}"
            ),
            AuditEvent::ManagerApproved => f.write_str("approved by the support manager"),
            AuditEvent::ManagerRejected => f.write_str("rejected by the support manager"),
            AuditEvent::Withdrawn => f.write_str("withdrawn"),
            AuditEvent::ApproversNotified {
                approvers,
                decision_deadline,
                approvals_required,
            } => {
                f.write_str("notified ")?;
                for (i, approver) in approvers.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{approver}")?;
                }
                write!(
                    f,
                    "; decide by {}",
                    decision_deadline.format("%Y-%m-%d %H:%M UTC")
                )?;
                if *approvals_required > 1 {
                    write!(f, "; {approvals_required} approvals needed")?;
                }
                Ok(())
            }
            AuditEvent::Approved { remaining } => {
                write!(f, "approved; {remaining} more approval(s) needed")
            }
            AuditEvent::Granted { access_ends_at } => write!(
                f,
                "granted until {}",
                access_ends_at.format("%Y-%m-%d %H:%M UTC")
            ),
            AuditEvent::Denied => f.write_str("denied"),
            AuditEvent::Expired => f.write_str("expired unanswered"),
            AuditEvent::EngineerActed { action } => write!(
                f,
                "{}: {} on {}",
                action.service(),
                action.operation(),
                action.target()
            ),
            AuditEvent::Completed => f.write_str("closed after the fix"),
            AuditEvent::AccessElapsed => f.write_str("access duration elapsed"),
            AuditEvent::Revoked => f.write_str("access revoked"),
            AuditEvent::Refused { step, refusal } => write!(f, "{step} refused: {refusal}"),
            AuditEvent::ActionRefused { action, refusal } => write!(
                f,
                "{}: {} on {} refused: {refusal}",
                action.service(),
                action.operation(),
                action.target()
            ),
            AuditEvent::NotificationSent {
                notification,
                cause,
                recipients,
            } => {
                write!(f, "sent the {notification} message of #{cause} to ")?;
                for (i, recipient) in recipients.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{recipient}")?;
                }
                Ok(())
            }
            AuditEvent::DeliveryFailed {
                notification,
                cause,
                failure,
            } => write!(
                f,
                "sending the {notification} message of #{cause} failed: {failure}"
            ),
            AuditEvent::NotificationDropped {
                notification,
                cause,
            } => write!(
                f,
                "dropped the {notification} message of #{cause}: the request no longer awaits a decision"
            ),
        }
    }
}

/// One audit record: the `sequence`-th thing that happened to one request.
///
/// Records are produced by the request itself, inside each transition, and travel with it
/// ([`Request::audit_trail`](crate::Request::audit_trail)): a step cannot happen without its
/// record, and a record cannot be dropped without dropping the request. [`AuditLog`](crate::AuditLog) collects
/// them from requests for searching in memory; the stores implement the same [`AuditQuery`](crate::AuditQuery)
/// over SQL.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AuditRecord {
    sequence: u64,
    at: DateTime<Utc>,
    tenant: TenantId,
    request: RequestId,
    actor: Actor,
    event: AuditEvent,
    /// A customer's decision signed by its person (record format 3). Absent from every other
    /// record, so that one serializes as it always did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    signature: Option<SignedDecision>,
}

impl AuditRecord {
    pub(crate) fn new(
        sequence: u64,
        at: DateTime<Utc>,
        tenant: TenantId,
        request: RequestId,
        actor: Actor,
        event: AuditEvent,
    ) -> Self {
        AuditRecord {
            sequence,
            at,
            tenant,
            request,
            actor,
            event,
            signature: None,
        }
    }

    /// The record, of a customer's decision, keeping the signature its person made over it.
    pub(crate) fn signed(mut self, signature: Option<SignedDecision>) -> Self {
        self.signature = signature;
        self
    }

    /// The signature of a customer's decision (a grant, an approval, a denial, a revocation)
    /// its person made with their own key, if they signed it: `None` for an unsigned decision
    /// and for every other record.
    pub fn signature(&self) -> Option<&SignedDecision> {
        self.signature.as_ref()
    }

    /// The record's place in its request's trail: 1 for the draft, then 2, 3, ... without gaps.
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    /// When it happened. Never earlier than the record before it.
    pub fn at(&self) -> DateTime<Utc> {
        self.at
    }

    /// The customer's tenant.
    pub fn tenant(&self) -> TenantId {
        self.tenant
    }

    /// The request.
    pub fn request(&self) -> RequestId {
        self.request
    }

    /// Who did it.
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    /// What happened.
    pub fn event(&self) -> &AuditEvent {
        &self.event
    }

    /// Where this record sits in the order audit searches return: by instant, then request id,
    /// then sequence.
    pub fn cursor(&self) -> AuditCursor {
        AuditCursor::new(self.at, self.request, self.sequence)
    }
}

/// A customer's decision says whether its person signed it: `(signed by SHA256:...)` or
/// `(unsigned)`.
impl fmt::Display for AuditRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "#{} {} {}: {}",
            self.sequence,
            self.at.format("%Y-%m-%d %H:%M:%S UTC"),
            self.actor,
            self.event
        )?;
        let decision = matches!(
            self.event,
            AuditEvent::Approved { .. }
                | AuditEvent::Granted { .. }
                | AuditEvent::Denied
                | AuditEvent::Revoked
        );
        match &self.signature {
            Some(signed) => {
                let by = crate::decision::DecisionSignature::parse(signed.armor()).map_or_else(
                    |_| "an unreadable key".to_owned(),
                    |s| s.signer_fingerprint(),
                );
                write!(f, " (signed by {by})")
            }
            None if decision => f.write_str(" (unsigned)"),
            None => Ok(()),
        }
    }
}
