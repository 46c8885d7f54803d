//! The email notification that asks a tenant's designated approvers to decide.
//!
//! Customer Lockbox notifications contain no links: an approver is told to sign in to their
//! admin center, so a phishing message that imitates a notification has nothing legitimate to
//! imitate. That holds whatever text the engineer or the tenant supplied: every free-text value
//! is quoted with the characters that make a link (`.`, `@`, `:`, `/`, `\`, and every Unicode
//! character that normalizes to one of them, such as the fullwidth full stop) neutralized in
//! brackets, so `https://evil.example` is shown as `https[:][/][/]evil[.]example`.

use std::fmt;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use unicode_normalization::UnicodeNormalization;

use crate::audit::{Actor, AuditEvent, AuditRecord};
use crate::policy::{PolicyChange, TenantPolicy};
use crate::request::Request;
use crate::state::{Closed, ClosureReason, Granted, PendingCustomer, State};
use crate::values::EmailAddress;

/// What a notification is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum NotificationKind {
    /// To the tenant's designated approvers: a request awaits their decision.
    DecisionNeeded,
    /// To the engineer: the customer granted access.
    AccessGranted,
    /// To the engineer: the customer denied the request, or it expired unanswered.
    NoAccess,
    /// To the tenant's designated approvers: access has ended; the post-access report.
    AccessEnded,
    /// To the approvers designated before and after a change of the tenant's policy: who
    /// changed what, and when.
    PolicyChanged,
}

/// A message to send: recipients, subject and plain-text body, rendered by this crate.
///
/// The subject and body contain nothing that a mail client's link detection would turn into a
/// link. The recipients' addresses belong in the envelope and headers, never in the body.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[must_use = "a notification must be sent: nobody acts on a message they never receive"]
pub struct Notification {
    kind: NotificationKind,
    recipients: Vec<EmailAddress>,
    subject: String,
    body: String,
}

/// A notification as the outbox stored it: read back only to be compared with the one the
/// store renders again from the verified trail (a notification is never deserialized into a
/// [`Notification`], whose text this crate alone renders, so none bypasses its no-link rule).
#[derive(Debug, serde::Deserialize)]
#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
pub(crate) struct StoredNotification {
    kind: NotificationKind,
    recipients: Vec<EmailAddress>,
    subject: String,
    body: String,
}

#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
impl StoredNotification {
    /// Whether it says what `rendered` says (kind, subject and body), whoever it went to.
    pub(crate) fn says(&self, rendered: &Notification) -> bool {
        self.kind == rendered.kind && self.subject == rendered.subject && self.body == rendered.body
    }

    /// Whether it is `rendered`, recipients included.
    pub(crate) fn is(&self, rendered: &Notification) -> bool {
        self.says(rendered) && self.recipients == rendered.recipients
    }
}

fn instant(at: DateTime<Utc>) -> impl std::fmt::Display {
    at.format("%Y-%m-%d %H:%M:%S UTC")
}

/// The lines every notification shows about its request.
fn request_lines<S: State>(body: &mut String, request: &Request<S>) {
    let _ = write!(
        body,
        "Request ID:        {}\n\
Tenant ID:         {}\n\
Service request:   {}\n\
Engineer:          {}\n\
Services:          {}\n",
        request.id(),
        request.tenant(),
        neutralize_links(request.service_request().as_str()),
        neutralize_links(request.engineer().as_str()),
        request.services(),
    );
}

/// The addresses of `policy`'s designated approvers.
fn approver_addresses(policy: &TenantPolicy) -> Vec<EmailAddress> {
    policy
        .approvers()
        .iter()
        .map(|a| a.email().clone())
        .collect()
}

/// Who took the step recorded by the last record in `trail` matching `event` (as recorded, not
/// yet neutralized), and when.
fn recorded(
    trail: &[AuditRecord],
    event: impl Fn(&AuditEvent) -> bool,
) -> Option<(String, DateTime<Utc>)> {
    trail
        .iter()
        .rev()
        .find(|record| event(record.event()))
        .map(|record| (record.actor().id().to_owned(), record.at()))
}

impl NotificationKind {
    /// The notification a record's step causes, if any: the approvers are asked to decide when
    /// notified; the engineer is told of a grant, a denial or an expiry; the approvers get the
    /// post-access report when access ends (closed, revoked or elapsed).
    pub fn caused_by(event: &AuditEvent) -> Option<NotificationKind> {
        match event {
            AuditEvent::ApproversNotified { .. } => Some(NotificationKind::DecisionNeeded),
            AuditEvent::Granted { .. } => Some(NotificationKind::AccessGranted),
            AuditEvent::Denied | AuditEvent::Expired => Some(NotificationKind::NoAccess),
            AuditEvent::Completed | AuditEvent::Revoked | AuditEvent::AccessElapsed => {
                Some(NotificationKind::AccessEnded)
            }
            _ => None,
        }
    }

    /// The kind as stored: the serde name, such as `decision_needed`.
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationKind::DecisionNeeded => "decision_needed",
            NotificationKind::AccessGranted => "access_granted",
            NotificationKind::NoAccess => "no_access",
            NotificationKind::AccessEnded => "access_ended",
            NotificationKind::PolicyChanged => "policy_changed",
        }
    }

    /// The kind named by its stored text.
    pub fn parse(text: &str) -> Option<NotificationKind> {
        [
            NotificationKind::DecisionNeeded,
            NotificationKind::AccessGranted,
            NotificationKind::NoAccess,
            NotificationKind::AccessEnded,
            NotificationKind::PolicyChanged,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == text)
    }

    /// Whether it goes to the engineer (otherwise to the tenant's approvers).
    pub fn to_engineer(self) -> bool {
        matches!(
            self,
            NotificationKind::AccessGranted | NotificationKind::NoAccess
        )
    }
}

impl fmt::Display for NotificationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NotificationKind::DecisionNeeded => "decision needed",
            NotificationKind::AccessGranted => "access granted",
            NotificationKind::NoAccess => "no access",
            NotificationKind::AccessEnded => "access ended",
            NotificationKind::PolicyChanged => "policy changed",
        })
    }
}

impl Notification {
    /// The notification that the record at `index` in `request`'s trail causes, rendered from
    /// the trail up to that record (whatever happened later), addressed to `recipients`.
    /// `None` when that record causes no notification.
    pub(crate) fn caused_by<S: State>(
        request: &Request<S>,
        index: usize,
        recipients: Vec<EmailAddress>,
    ) -> Option<Self> {
        let trail = request.audit_trail().get(..=index)?;
        let cause = trail.last()?;
        let kind = NotificationKind::caused_by(cause.event())?;
        let (subject, body) = match kind {
            NotificationKind::DecisionNeeded => decision_needed(request, trail, cause)?,
            NotificationKind::AccessGranted => access_granted(request, cause)?,
            NotificationKind::NoAccess => no_access(request, cause)?,
            NotificationKind::AccessEnded => access_report(request, trail, cause)?,
            // No step of a request changes a policy.
            NotificationKind::PolicyChanged => return None,
        };
        Some(Notification {
            kind,
            recipients,
            subject,
            body,
        })
    }

    /// The notification caused by the last record in `request`'s trail that causes one of
    /// `kind`.
    fn latest<S: State>(
        request: &Request<S>,
        kind: NotificationKind,
        recipients: Vec<EmailAddress>,
    ) -> Option<Self> {
        let index = request
            .audit_trail()
            .iter()
            .rposition(|r| NotificationKind::caused_by(r.event()) == Some(kind))?;
        Self::caused_by(request, index, recipients)
    }

    /// The notification asking `policy`'s designated approvers to decide on `pending`.
    pub(crate) fn decision_needed(
        pending: &Request<PendingCustomer>,
        policy: &TenantPolicy,
    ) -> Self {
        let recipients = approver_addresses(policy);
        // As for `access_granted`: the trail always holds the notification; the fallback
        // renders from the state's own fields.
        Self::latest(
            pending,
            NotificationKind::DecisionNeeded,
            recipients.clone(),
        )
        .unwrap_or_else(|| {
            let (subject, body) = decision_text(
                pending,
                pending.approved_by().as_str(),
                pending.decision_deadline(),
                (
                    pending.approvals_required(),
                    pending.notified_approvers().len(),
                ),
            );
            Notification {
                kind: NotificationKind::DecisionNeeded,
                recipients,
                subject,
                body,
            }
        })
    }

    /// The message telling the engineer, at `engineer`, that the customer granted access and
    /// until when.
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
    /// let message = Notification::access_granted(&granted, EmailAddress::new("alex@vendor.example")?);
    /// assert_eq!(message.kind(), NotificationKind::AccessGranted);
    /// assert!(message.body().contains("Access until:"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn access_granted(granted: &Request<Granted>, engineer: EmailAddress) -> Self {
        let recipients = vec![engineer];
        // A granted request's trail always holds its grant; the fallback renders from the
        // request's own fields should that ever not hold.
        Self::latest(granted, NotificationKind::AccessGranted, recipients.clone()).unwrap_or_else(
            || {
                let (subject, body) = granted_text(
                    granted,
                    granted.granted_by().as_str(),
                    granted.granted_at(),
                    granted.access_ends_at(),
                );
                Notification {
                    kind: NotificationKind::AccessGranted,
                    recipients,
                    subject,
                    body,
                }
            },
        )
    }

    /// The message telling the engineer, at `engineer`, that the request gives no access: the
    /// customer denied it, or it expired unanswered. `None` for a request closed any other way
    /// (the engineer withdrew it, or it was granted and has ended), which needs no such message.
    pub fn no_access(closed: &Request<Closed>, engineer: EmailAddress) -> Option<Self> {
        match closed.reason() {
            ClosureReason::DeniedByCustomer | ClosureReason::ExpiredUnanswered => {
                Self::latest(closed, NotificationKind::NoAccess, vec![engineer])
            }
            _ => None,
        }
    }

    /// The post-access report to `policy`'s designated approvers: how access ended, and every
    /// engineer action recorded under the request (service, operation, target, instant), with
    /// any refused attempts. `None` for a request that never gave access.
    ///
    /// ```
    /// use chrono::TimeDelta;
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
    /// let closed = granted.close(&EngineerId::new("alex")?, now + TimeDelta::minutes(30))?;
    /// let report = Notification::access_report(&closed, &policy).expect("access was granted");
    /// assert!(report.body().contains("Actions recorded (0)"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn access_report(closed: &Request<Closed>, policy: &TenantPolicy) -> Option<Self> {
        if !closed.reason().had_access() {
            return None;
        }
        Self::latest(
            closed,
            NotificationKind::AccessEnded,
            approver_addresses(policy),
        )
    }

    /// The message telling the tenant's approvers, those designated before the change and
    /// those designated after it, that `change` was made: by whom, when, and each setting
    /// before and after. A tenant administrator who adds themselves (or an insider who does) is
    /// seen by the approvers they would bypass.
    ///
    /// ```
    /// use customer_lockbox::*;
    /// # let tenant = TenantId::parse("8b5a0c4e-2f7d-4e4b-9a51-3c1f6d2e7a90")?;
    /// # let t0: chrono::DateTime<chrono::Utc> = "2026-11-24T08:00:00Z".parse()?;
    /// let megan = DesignatedApprover::new(ApproverId::new("megan@contoso.com")?, EmailAddress::new("megan@contoso.com")?);
    /// let mallory = DesignatedApprover::new(ApproverId::new("mallory@contoso.com")?, EmailAddress::new("mallory@contoso.com")?);
    /// let adele = TenantAdminId::new("adele@contoso.com")?;
    /// let mut history = PolicyHistory::new(tenant);
    /// history.change(&adele, TenantPolicy::new(tenant, vec![megan])?, t0)?;
    /// let change = history.change(&adele, TenantPolicy::new(tenant, vec![mallory])?, t0)?;
    ///
    /// let message = Notification::policy_changed(change);
    /// assert_eq!(message.recipients().len(), 2); // megan, who was removed, is told too
    /// assert!(message.body().contains("Designated approvers"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn policy_changed(change: &PolicyChange) -> Self {
        let mut recipients = change.before().map(approver_addresses).unwrap_or_default();
        for address in approver_addresses(change.after()) {
            if !recipients.contains(&address) {
                recipients.push(address);
            }
        }
        let (subject, body) = policy_text(change);
        Notification {
            kind: NotificationKind::PolicyChanged,
            recipients,
            subject,
            body,
        }
    }

    /// The same message, addressed to `recipients`.
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    pub(crate) fn addressed(mut self, recipients: Vec<EmailAddress>) -> Self {
        self.recipients = recipients;
        self
    }

    /// The same message, its body ending with `evidence`.
    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
    pub(crate) fn with_evidence(mut self, evidence: &crate::evidence::Evidence) -> Self {
        self.body.push_str(&evidence.to_text());
        self
    }

    /// What the notification is about.
    pub fn kind(&self) -> NotificationKind {
        self.kind
    }

    /// The addresses it goes to.
    pub fn recipients(&self) -> &[EmailAddress] {
        &self.recipients
    }

    /// The subject line.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The plain-text body, lines ending in `\n`.
    pub fn body(&self) -> &str {
        &self.body
    }
}

/// Subject and body asking the approvers to decide; `cause` records the notification.
fn decision_needed<S: State>(
    request: &Request<S>,
    trail: &[AuditRecord],
    cause: &AuditRecord,
) -> Option<(String, String)> {
    let AuditEvent::ApproversNotified {
        decision_deadline,
        approvers,
        approvals_required,
    } = cause.event()
    else {
        return None;
    };
    let (manager, _) = recorded(trail, |e| matches!(e, AuditEvent::ManagerApproved))?;
    Some(decision_text(
        request,
        &manager,
        *decision_deadline,
        (*approvals_required, approvers.len()),
    ))
}

/// The approvers' message; `(required, notified)` are the approvals needed and the approvers
/// notified.
fn decision_text<S: State>(
    request: &Request<S>,
    manager: &str,
    deadline: DateTime<Utc>,
    (required, notified): (u32, usize),
) -> (String, String) {
    let subject = format!(
        "Customer Lockbox request for service request {} awaits your decision",
        neutralize_links(request.service_request().as_str())
    );
    let (starts, unless) = if required > 1 {
        (
            format!("only when {required} different designated approvers grant"),
            format!("fewer than {required} approvers have granted it"),
        )
    } else {
        (
            String::from("only if a designated approver grants"),
            String::from("nobody grants the request"),
        )
    };
    let mut body = format!(
        "A support engineer asks for temporary access to your organization's data to resolve a \
support case. Nothing has been accessed: access starts {starts} this request.\n\n",
    );
    request_lines(&mut body, request);
    // Writing to a String cannot fail.
    let _ = write!(
        body,
        "Approved by:       {manager} (support manager)\n\
Access duration:   {duration}\n\
Justification:     {justification}\n\
Approvals needed:  {required} of the {notified} approvers notified\n\
Decide by:         {deadline}\n\
\n\
If {unless} by then, it expires and gives no access.\n\
\n\
To grant or deny it, sign in to your admin center and open Customer Lockbox requests. This \
message contains no links; do not trust a message about this request that does.\n",
        duration = request.access_duration(),
        justification = neutralize_links(request.justification().as_str()),
        manager = neutralize_links(manager),
        deadline = instant(deadline),
    );
    (subject, body)
}

/// Subject and body of a policy change's message: each setting before and after, every free
/// text neutralized.
fn policy_text(change: &PolicyChange) -> (String, String) {
    let subject = format!(
        "Customer Lockbox: your organization's approval policy changed (version {})",
        change.version()
    );
    let approvers = |policy: Option<&TenantPolicy>| match policy {
        None => String::from("(no policy)"),
        Some(p) if p.approvers().is_empty() => String::from("(nobody)"),
        Some(p) => p
            .approvers()
            .iter()
            .map(|a| neutralize_links(a.id().as_str()))
            .collect::<Vec<_>>()
            .join(", "),
    };
    let setting = |f: fn(&TenantPolicy) -> String| {
        let before = change
            .before()
            .map_or_else(|| String::from("(no policy)"), f);
        let after = f(change.after());
        if before == after {
            format!("{after} (unchanged)")
        } else {
            format!("{before} -> {after}")
        }
    };
    let mut body = String::from(
        "The Customer Lockbox policy of your organization, which decides who may grant a support \
engineer access to your data, was changed. You receive this because you are a designated \
approver before or after the change.\n\n",
    );
    let _ = write!(
        body,
        "Tenant ID:         {tenant}\n\
Version:           {version}\n\
Changed by:        {admin} (tenant administrator)\n\
Changed at:        {at}\n\
Designated approvers before: {before}\n\
Designated approvers after:  {after}\n\
Approvals needed:  {needed}\n\
Decision window:   {window}\n\
Longest access:    {longest}\n\
\n\
If you did not expect this change, tell your organization's administrators at once: a \
designated approver can grant access to your data. To review the policy, sign in to your admin \
center and open Customer Lockbox. This message contains no links; do not trust a message about \
this change that does.\n",
        tenant = change.tenant(),
        version = change.version(),
        admin = neutralize_links(change.changed_by().as_str()),
        at = instant(change.at()),
        before = approvers(change.before()),
        after = approvers(Some(change.after())),
        needed = setting(|p| p.approvals_required().to_string()),
        window = setting(|p| p.decision_window().to_string()),
        longest = setting(|p| p.max_access_duration().to_string()),
    );
    (subject, body)
}

/// Subject and body telling the engineer that `cause` granted access.
fn access_granted<S: State>(request: &Request<S>, cause: &AuditRecord) -> Option<(String, String)> {
    let AuditEvent::Granted { access_ends_at } = cause.event() else {
        return None;
    };
    Some(granted_text(
        request,
        cause.actor().id(),
        cause.at(),
        *access_ends_at,
    ))
}

fn granted_text<S: State>(
    request: &Request<S>,
    approver: &str,
    granted_at: DateTime<Utc>,
    until: DateTime<Utc>,
) -> (String, String) {
    let subject = format!(
        "Customer Lockbox: access granted for service request {}",
        neutralize_links(request.service_request().as_str())
    );
    let mut body = String::from("The customer granted your Customer Lockbox request.\n\n");
    request_lines(&mut body, request);
    let _ = write!(
        body,
        "Granted by:        {approver} at {granted_at}\n\
Access until:      {until}\n\
\n\
Access ends by itself at that time. Close the request as soon as the fix is done: access ends \
at once, and every action you take meanwhile is recorded and reported to the customer.\n",
        approver = neutralize_links(approver),
        granted_at = instant(granted_at),
        until = instant(until),
    );
    (subject, body)
}

/// Subject and body telling the engineer that `cause` (a denial or an expiry) ended the request
/// without access.
fn no_access<S: State>(request: &Request<S>, cause: &AuditRecord) -> Option<(String, String)> {
    let sr = neutralize_links(request.service_request().as_str());
    let (subject, opening) = match cause.event() {
        AuditEvent::Denied => (
            format!("Customer Lockbox: request for service request {sr} was denied"),
            format!(
                "The customer denied your Customer Lockbox request ({}, {}).",
                neutralize_links(cause.actor().id()),
                instant(cause.at())
            ),
        ),
        AuditEvent::Expired => (
            format!("Customer Lockbox: request for service request {sr} expired unanswered"),
            format!(
                "Nobody granted your Customer Lockbox request before its decision deadline, {}, so it expired.",
                instant(cause.at())
            ),
        ),
        _ => return None,
    };
    let mut body = format!("{opening}\n\n");
    request_lines(&mut body, request);
    body.push_str(
        "\nThis request gives no access to the customer's data, now or later. If access is still \
needed, draft a new request.\n",
    );
    Some((subject, body))
}

/// The post-access report: how `cause` ended access, and every engineer action in `trail`.
fn access_report<S: State>(
    request: &Request<S>,
    trail: &[AuditRecord],
    cause: &AuditRecord,
) -> Option<(String, String)> {
    let (approver, granted_at) = recorded(trail, |e| matches!(e, AuditEvent::Granted { .. }))?;
    let ended = match cause.event() {
        AuditEvent::Completed => "the engineer closed the request after the fix".to_owned(),
        AuditEvent::Revoked => format!(
            "a designated approver revoked access ({})",
            neutralize_links(cause.actor().id())
        ),
        AuditEvent::AccessElapsed => "the access duration elapsed".to_owned(),
        _ => return None,
    };
    let subject = format!(
        "Customer Lockbox: access for service request {} has ended",
        neutralize_links(request.service_request().as_str())
    );
    let mut body = String::from(
        "Access to your organization's data under this Customer Lockbox request has ended. This \
report lists every action the engineer took under it.\n\n",
    );
    request_lines(&mut body, request);
    let _ = write!(
        body,
        "Granted by:        {approver} at {granted}\n\
Access ended:      {ended_at}: {ended}\n",
        approver = neutralize_links(&approver),
        granted = instant(granted_at),
        ended_at = instant(cause.at()),
    );
    let line = |body: &mut String, at, action: &crate::values::EngineerAction, note: &str| {
        let _ = writeln!(
            body,
            "  {}  {}  {}  on  {}{note}",
            instant(at),
            action.service(),
            neutralize_links(action.operation().as_str()),
            neutralize_links(action.target().as_str()),
        );
    };
    let acted: Vec<_> = trail
        .iter()
        .filter_map(|r| match r.event() {
            AuditEvent::EngineerActed { action } => Some((r.at(), action)),
            _ => None,
        })
        .collect();
    let _ = writeln!(body, "\nActions recorded ({}):", acted.len());
    for (at, action) in acted {
        line(&mut body, at, action, "");
    }
    let refused: Vec<_> = trail
        .iter()
        .filter_map(|r| match (r.event(), r.actor()) {
            (AuditEvent::ActionRefused { action, refusal }, Actor::Engineer(_)) => {
                Some((r.at(), action, refusal))
            }
            _ => None,
        })
        .collect();
    if !refused.is_empty() {
        let _ = writeln!(body, "\nAttempts refused ({}):", refused.len());
        for (at, action, refusal) in refused {
            // The crate's own words (no caller text): what was wrong, without the advice.
            let reason = refusal.to_string();
            let reason = reason.split(':').next().unwrap_or_default();
            line(&mut body, at, action, &format!(" (refused: {reason})"));
        }
    }
    body.push_str(
        "\nFor the full audit trail, sign in to your admin center and open Customer Lockbox \
requests. This message contains no links.\n",
    );
    Some((subject, body))
}

/// Quotes free text with every character that a mail client, a Markdown renderer or an HTML
/// linkifier builds a link from bracketed: `.` as `[.]`, `@` as `[at]`, `:` as `[:]`, `/` as
/// `[/]`, `\` as `[\]`; `<` and `>` (autolinks, raw HTML) as `[<]` and `[>]`; `&` (character
/// references such as `&#58;`) as `[&]`; `%` (percent escapes) as `[%]`; `(` and `)` as `[(]` and
/// `[)]`, so that no `](` ever follows a bracket (Markdown's inline links and images). Unicode
/// look-alikes count as what they normalize to (NFKC), and the ideographic full stops count as
/// `.` (IDNA treats them as dots).
///
/// Why that suffices for Markdown: every link form needs `](` (inline links, images), a `]:`
/// at a line start (reference definitions, without which `[text]` and `[text][label]` stay
/// text), a `<` (autolinks, HTML), a `&` (references that hide the rest), or a raw `.`, `@` or
/// `:` (GFM's extended autolinks). Once bracketed, none of them is left in quoted text, and a
/// bracket never closes next to an opening parenthesis.
pub(crate) fn neutralize_links(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match link_character(c) {
            Some(replacement) => out.push_str(replacement),
            None => out.push(c),
        }
    }
    out
}

/// What `c` is shown as when it can form a link.
fn link_character(c: char) -> Option<&'static str> {
    if c.is_ascii() {
        return bracket(c);
    }
    // Either `c` itself or a character of its compatibility form (U+FE12, the vertical
    // ideographic full stop, normalizes to U+3002, the ideographic full stop).
    std::iter::once(c)
        .chain(std::iter::once(c).nfkc())
        .find_map(|d| {
            if d.is_ascii() {
                bracket(d)
            } else {
                ideographic_stop(d)
            }
        })
}

fn bracket(ascii: char) -> Option<&'static str> {
    match ascii {
        '.' => Some("[.]"),
        '@' => Some("[at]"),
        ':' => Some("[:]"),
        '/' => Some("[/]"),
        '\\' => Some("[\\]"),
        '<' => Some("[<]"),
        '>' => Some("[>]"),
        '&' => Some("[&]"),
        '%' => Some("[%]"),
        '(' => Some("[(]"),
        ')' => Some("[)]"),
        _ => None,
    }
}

/// The full stops IDNA treats as dots, though NFKC keeps them apart from `.`.
fn ideographic_stop(c: char) -> Option<&'static str> {
    matches!(c, '\u{3002}' | '\u{FF61}').then_some("[.]")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brackets_link_characters_and_look_alikes() {
        assert_eq!(
            neutralize_links("see https://evil.example or bob@evil.example"),
            "see https[:][/][/]evil[.]example or bob[at]evil[.]example"
        );
        assert_eq!(neutralize_links("evil\u{FF0E}example"), "evil[.]example");
        assert_eq!(neutralize_links("a\u{FE6B}b"), "a[at]b");
        assert_eq!(neutralize_links("evil\u{3002}example"), "evil[.]example");
        assert_eq!(neutralize_links(r"\\server\share"), r"[\][\]server[\]share");
        assert_eq!(neutralize_links("plain text, 24h"), "plain text, 24h");
        assert_eq!(
            neutralize_links("[login](https&#58;&#47;&#47;evil&#46;com)"),
            "[login][(]https[&]#58;[&]#47;[&]#47;evil[&]#46;com[)]"
        );
        assert_eq!(neutralize_links("<a href=x>"), "[<]a href=x[>]");
        assert_eq!(neutralize_links("100%2F"), "100[%]2F");
        assert_eq!(neutralize_links("evil\u{FE12}example"), "evil[.]example");
    }
}
