//! The text of each notification: its subject and body lines, every free-text value quoted
//! with its link characters neutralized.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use crate::audit::{Actor, AuditEvent, AuditRecord};
use crate::policy::{PolicyChange, TenantPolicy};
use crate::request::Request;
use crate::state::State;
use crate::values::EmailAddress;

use super::neutralize_links;

pub(super) fn instant(at: DateTime<Utc>) -> impl std::fmt::Display {
    at.format("%Y-%m-%d %H:%M:%S UTC")
}

/// The lines every notification shows about its request.
pub(super) fn request_lines<S: State>(body: &mut String, request: &Request<S>) {
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
pub(super) fn approver_addresses(policy: &TenantPolicy) -> Vec<EmailAddress> {
    policy
        .approvers()
        .iter()
        .map(|a| a.email().clone())
        .collect()
}

/// Who took the step recorded by the last record in `trail` matching `event` (as recorded, not
/// yet neutralized), and when.
pub(super) fn recorded(
    trail: &[AuditRecord],
    event: impl Fn(&AuditEvent) -> bool,
) -> Option<(String, DateTime<Utc>)> {
    trail
        .iter()
        .rev()
        .find(|record| event(record.event()))
        .map(|record| (record.actor().id().to_owned(), record.at()))
}

/// Subject and body asking the approvers to decide; `cause` records the notification.
pub(super) fn decision_needed<S: State>(
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
pub(super) fn decision_text<S: State>(
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
pub(super) fn policy_text(change: &PolicyChange) -> (String, String) {
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
    let after = change.after();
    if after.requires_signatures() {
        body.push_str(
            "\nKeys this version lists: only these sign grants and policy changes. Check each \
fingerprint with its holder (`ssh-keygen -l -f KEY.pub` prints it), and pin your \
administrators' (`lockbox verify-offline --pin FINGERPRINT`):\n",
        );
        let people = after
            .approvers()
            .iter()
            .map(|a| (a.id().as_str(), "approver", a.keys()))
            .chain(
                after
                    .administrators()
                    .iter()
                    .map(|a| (a.id().as_str(), "administrator", a.keys())),
            );
        for (who, role, keys) in people {
            for key in keys {
                let _ = writeln!(
                    body,
                    "  {fingerprint}  {algorithm}  {who} ({role})",
                    fingerprint = key.fingerprint(),
                    algorithm = key.algorithm(),
                    who = neutralize_links(who),
                );
            }
        }
    }
    if let Some(signed) = change.signature() {
        let by = crate::decision::DecisionSignature::parse(signed.armor())
            .map_or_else(|_| String::from("(unreadable)"), |s| s.signer_fingerprint());
        let _ = writeln!(body, "\nThis change is signed by the key {by}.");
    }
    (subject, body)
}

/// Subject and body telling the engineer that `cause` granted access.
pub(super) fn access_granted<S: State>(
    request: &Request<S>,
    cause: &AuditRecord,
) -> Option<(String, String)> {
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

pub(super) fn granted_text<S: State>(
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
pub(super) fn no_access<S: State>(
    request: &Request<S>,
    cause: &AuditRecord,
) -> Option<(String, String)> {
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
pub(super) fn access_report<S: State>(
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
