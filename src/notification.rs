//! The email notification that asks a tenant's designated approvers to decide.
//!
//! Customer Lockbox notifications contain no links: an approver is told to sign in to their
//! admin center, so a phishing message that imitates a notification has nothing legitimate to
//! imitate. That holds whatever text the engineer or the tenant supplied: every free-text value
//! is quoted with the characters that make a link (`.`, `@`, `:`, `/`, `\`, and every Unicode
//! character that normalizes to one of them, such as the fullwidth full stop) neutralized in
//! brackets, so `https://evil.example` is shown as `https[:][/][/]evil[.]example`.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use unicode_normalization::UnicodeNormalization;

use crate::audit::{Actor, AuditEvent};
use crate::policy::TenantPolicy;
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
}

/// A message to send: recipients, subject and plain-text body, rendered by this crate.
///
/// The subject and body contain nothing that a mail client's link detection would turn into a
/// link. The recipients' addresses belong in the envelope and headers, never in the body.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[must_use = "a notification must be sent: nobody acts on a message they never receive"]
pub struct Notification {
    kind: NotificationKind,
    recipients: Vec<EmailAddress>,
    subject: String,
    body: String,
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

/// Who took the step recorded by the last record matching `event`, and when.
fn recorded<S: State>(
    request: &Request<S>,
    event: impl Fn(&AuditEvent) -> bool,
) -> Option<(String, DateTime<Utc>)> {
    request
        .audit_trail()
        .iter()
        .rev()
        .find(|record| event(record.event()))
        .map(|record| (neutralize_links(record.actor().id()), record.at()))
}

impl Notification {
    /// The notification asking `policy`'s designated approvers to decide on `pending`.
    pub(crate) fn decision_needed(
        pending: &Request<PendingCustomer>,
        policy: &TenantPolicy,
    ) -> Self {
        let subject = format!(
            "Customer Lockbox request for service request {} awaits your decision",
            neutralize_links(pending.service_request().as_str())
        );
        let mut body = String::from(
            "A support engineer asks for temporary access to your organization's data to resolve a \
support case. Nothing has been accessed: access starts only if a designated approver grants \
this request.\n\n",
        );
        request_lines(&mut body, pending);
        // Writing to a String cannot fail.
        let _ = write!(
            body,
            "Approved by:       {manager} (support manager)\n\
Access duration:   {duration}\n\
Justification:     {justification}\n\
Decide by:         {deadline}\n\
\n\
If nobody grants the request by then, it expires and gives no access.\n\
\n\
To grant or deny it, sign in to your admin center and open Customer Lockbox requests. This \
message contains no links; do not trust a message about this request that does.\n",
            manager = neutralize_links(pending.approved_by().as_str()),
            duration = pending.access_duration(),
            justification = neutralize_links(pending.justification().as_str()),
            deadline = instant(pending.decision_deadline()),
        );
        Notification {
            kind: NotificationKind::DecisionNeeded,
            recipients: approver_addresses(policy),
            subject,
            body,
        }
    }

    /// The message telling the engineer, at `engineer`, that the customer granted access and
    /// until when.
    ///
    /// ```
    /// use customer_lockbox::*;
    /// # let (granted, _policy, _now) = customer_lockbox::doc_support::granted()?;
    ///
    /// let message = Notification::access_granted(&granted, EmailAddress::new("alex@vendor.example")?);
    /// assert_eq!(message.kind(), NotificationKind::AccessGranted);
    /// assert!(message.body().contains("Access until:"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn access_granted(granted: &Request<Granted>, engineer: EmailAddress) -> Self {
        let subject = format!(
            "Customer Lockbox: access granted for service request {}",
            neutralize_links(granted.service_request().as_str())
        );
        let mut body = String::from("The customer granted your Customer Lockbox request.\n\n");
        request_lines(&mut body, granted);
        let _ = write!(
            body,
            "Granted by:        {approver} at {granted_at}\n\
Access until:      {until}\n\
\n\
Access ends by itself at that time. Close the request as soon as the fix is done: access ends \
at once, and every action you take meanwhile is recorded and reported to the customer.\n",
            approver = neutralize_links(granted.granted_by().as_str()),
            granted_at = instant(granted.granted_at()),
            until = instant(granted.access_ends_at()),
        );
        Notification {
            kind: NotificationKind::AccessGranted,
            recipients: vec![engineer],
            subject,
            body,
        }
    }

    /// The message telling the engineer, at `engineer`, that the request gives no access: the
    /// customer denied it, or it expired unanswered. `None` for a request closed any other way
    /// (the engineer withdrew it, or it was granted and has ended), which needs no such message.
    pub fn no_access(closed: &Request<Closed>, engineer: EmailAddress) -> Option<Self> {
        let sr = neutralize_links(closed.service_request().as_str());
        let (subject, opening) = match closed.reason() {
            ClosureReason::DeniedByCustomer => {
                let (approver, at) = recorded(closed, |e| matches!(e, AuditEvent::Denied))?;
                (
                    format!("Customer Lockbox: request for service request {sr} was denied"),
                    format!(
                        "The customer denied your Customer Lockbox request ({approver}, {}).",
                        instant(at)
                    ),
                )
            }
            ClosureReason::ExpiredUnanswered => (
                format!("Customer Lockbox: request for service request {sr} expired unanswered"),
                format!(
                    "Nobody granted your Customer Lockbox request before its decision deadline, {}, so it expired.",
                    instant(closed.closed_at())
                ),
            ),
            _ => return None,
        };
        let mut body = format!("{opening}\n\n");
        request_lines(&mut body, closed);
        body.push_str(
            "\nThis request gives no access to the customer's data, now or later. If access is still \
needed, draft a new request.\n",
        );
        Some(Notification {
            kind: NotificationKind::NoAccess,
            recipients: vec![engineer],
            subject,
            body,
        })
    }

    /// The post-access report to `policy`'s designated approvers: how access ended, and every
    /// engineer action recorded under the request (service, operation, target, instant), with
    /// any refused attempts. `None` for a request that never gave access.
    ///
    /// ```
    /// use chrono::TimeDelta;
    /// use customer_lockbox::*;
    /// # let (granted, policy, now) = customer_lockbox::doc_support::granted()?;
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
        let (approver, granted_at) = recorded(closed, |e| matches!(e, AuditEvent::Granted { .. }))?;
        let ended = match closed.reason() {
            ClosureReason::Completed => "the engineer closed the request after the fix".to_owned(),
            ClosureReason::RevokedByCustomer => {
                let by = recorded(closed, |e| matches!(e, AuditEvent::Revoked))
                    .map_or_else(String::new, |(who, _)| format!(" ({who})"));
                format!("a designated approver revoked access{by}")
            }
            _ => "the access duration elapsed".to_owned(),
        };
        let subject = format!(
            "Customer Lockbox: access for service request {} has ended",
            neutralize_links(closed.service_request().as_str())
        );
        let mut body = String::from(
            "Access to your organization's data under this Customer Lockbox request has ended. This \
report lists every action the engineer took under it.\n\n",
        );
        request_lines(&mut body, closed);
        let _ = write!(
            body,
            "Granted by:        {approver} at {granted}\n\
Access ended:      {ended_at}: {ended}\n",
            granted = instant(granted_at),
            ended_at = instant(closed.closed_at()),
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
        let trail = closed.audit_trail();
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
        Some(Notification {
            kind: NotificationKind::AccessEnded,
            recipients: approver_addresses(policy),
            subject,
            body,
        })
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

/// Quotes free text with every link-forming character bracketed: `.` as `[.]`, `@` as `[at]`,
/// `:` as `[:]`, `/` as `[/]`, `\` as `[\]`, including Unicode look-alikes that normalize
/// (NFKC) to them.
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

fn link_character(c: char) -> Option<&'static str> {
    let bracket = |ascii: char| match ascii {
        '.' => Some("[.]"),
        '@' => Some("[at]"),
        ':' => Some("[:]"),
        '/' => Some("[/]"),
        '\\' => Some("[\\]"),
        _ => None,
    };
    if c.is_ascii() {
        return bracket(c);
    }
    // IDNA treats the ideographic full stops as label separators too, though NFKC keeps them.
    if matches!(c, '\u{3002}' | '\u{FF61}') {
        return Some("[.]");
    }
    std::iter::once(c).nfkc().find_map(bracket)
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
    }
}
