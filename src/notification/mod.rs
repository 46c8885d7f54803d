//! The messages the lockbox sends, each link-free: a decision needed (to the approvers), access
//! granted or no access (to the engineer), the post-access report (to the approvers), a policy
//! changed (to the old and new approvers).

mod links;
mod render;

pub(crate) use links::neutralize_links;
use render::*;
use std::fmt::Write as _;

use crate::policy::{PolicyChange, TenantPolicy};
use crate::request::Request;
use crate::state::{Closed, ClosureReason, Granted, PendingCustomer, State};
use crate::values::EmailAddress;
use crate::values::NotificationKind;

/// A message to send: recipients, subject and plain-text body, rendered by this crate. Its
/// [`kind`](Self::kind) is one of five: a decision needed (to the designated approvers, by
/// [`Request::notify`](crate::Request::notify)), access granted or no access (to the
/// engineer), the post-access report (to the approvers, when access ends, with the evidence
/// that lets them check the vendor's log) and a policy changed (to the approvers before and
/// after the change).
///
/// The subject and body contain nothing that a mail client's link detection would turn into a
/// link. The recipients' addresses belong in the envelope and headers, never in the body.
///
/// Customer Lockbox notifications contain no links: an approver is told to sign in to their
/// admin center, so a phishing message that imitates a notification has nothing legitimate to
/// imitate. That holds whatever text the engineer or the tenant supplied: every free-text value
/// is quoted with the characters that make a link (`.`, `@`, `:`, `/`, `\`, and every Unicode
/// character that normalizes to one of them, such as the fullwidth full stop) neutralized in
/// brackets, so `https://evil.example` is shown as `https[:][/][/]evil[.]example`.
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

/// The line before a decision statement in a message.
pub(crate) const BEGIN_STATEMENT: &str = "-----BEGIN CUSTOMER LOCKBOX STATEMENT-----";
/// The line after it.
pub(crate) const END_STATEMENT: &str = "-----END CUSTOMER LOCKBOX STATEMENT-----";

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
        let kind = cause.event().notification()?;
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
            .rposition(|r| r.event().notification() == Some(kind))?;
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

    /// The same message, its body ending with each approver's grant statement, to sign from
    /// the message alone: the statement's text is link-free, so the bytes between the markers
    /// are the bytes signed.
    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
    pub(crate) fn with_statements(
        mut self,
        statements: &[(
            crate::values::ApproverId,
            crate::decision::DecisionStatement,
        )],
    ) -> Self {
        if statements.is_empty() {
            return self;
        }
        self.body.push_str(
            "\nYour organization requires each grant signed with the approver's own key. To grant, \
copy your statement below (the lines between the markers, without them) into a file named \
statement, and sign it with the key your organization's policy lists for you:\n\n\
    ssh-keygen -Y sign -n customer-lockbox -f ~/.ssh/id_ed25519 statement\n\n\
then give the signature file it writes beside the statement with your grant, in your admin \
center. A denial needs no signature.\n",
        );
        for (approver, statement) in statements {
            let _ = write!(
                self.body,
                "\nGrant statement of {approver}:\n{BEGIN_STATEMENT}\n{text}{END_STATEMENT}\n",
                approver = neutralize_links(approver.as_str()),
                text = statement.text(),
            );
        }
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
