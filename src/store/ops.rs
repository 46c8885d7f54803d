//! What both stores do the same way, written once over the little each does its own way (the
//! [`Backend`] trait): the sweeper, engineer-action appends, JSON Lines export, and outbox
//! delivery with its audit records.

use std::io::Write;

use chrono::{DateTime, TimeDelta, Utc};

use super::{AppendReport, DeliveryReport, StoreError, SweepReport, instant_text};
use crate::audit::{AuditEvent, AuditPage, AuditQuery, PageSize};
use crate::delivery::{Delivery, DeliveryFailure, Directory, Sender};
use crate::notification::{Notification, NotificationKind};
use crate::outcome::{Access, ActionOutcome, PendingStatus};
use crate::record::{BrokenRule, RecordError};
use crate::request::{AnyRequest, DeliveryStep, Request, with_request};
use crate::state::{State, StateKind};
use crate::values::{EmailAddress, EngineerAction, EngineerId, RequestId};

/// How many messages one claim takes; a run claims again until nothing is due.
pub(crate) const CLAIM_BATCH: usize = 32;

/// What a store does its own way: transactions and SQL.
pub(crate) trait Backend {
    /// Saves the request's unsaved steps, with their outbox entries, in one transaction.
    fn save_step<S: State>(&mut self, request: &mut Request<S>) -> Result<(), StoreError>;
    /// Loads a request, checked by replay and against its row.
    fn load_request(&mut self, id: RequestId) -> Result<AnyRequest, StoreError>;
    /// The pending requests past their deadline and the granted ones past their window.
    fn due_requests(&mut self, now: DateTime<Utc>) -> Result<Vec<RequestId>, StoreError>;
    /// One page of a search.
    fn search_page(&mut self, query: &AuditQuery) -> Result<AuditPage, StoreError>;
    /// Claims up to [`CLAIM_BATCH`] messages due at `now` until `lease_until`, under `token`.
    fn claim(
        &mut self,
        now: DateTime<Utc>,
        lease_until: &str,
        token: &str,
    ) -> Result<Vec<Claimed>, StoreError>;
    /// Records an attempt's outcome ([`finish_request`] and the outbox row) in one transaction
    /// if `token` still holds the message; returns whether it did.
    fn finish(
        &mut self,
        message: &Claimed,
        token: &str,
        step: Option<DeliveryStep>,
        now: DateTime<Utc>,
        retry_at: &str,
    ) -> Result<bool, StoreError>;
}

/// The outbox entries the unsaved steps of `request` cause: (cause sequence, kind, created at,
/// message as JSON, without addresses).
pub(crate) fn new_messages<S: State>(
    request: &Request<S>,
) -> Result<Vec<(u64, NotificationKind, String, String)>, StoreError> {
    let mut messages = Vec::new();
    for index in request.saved_records()..request.audit_trail().len() {
        let (Some(notification), Some(cause)) = (
            Notification::caused_by(request, index, Vec::new()),
            request.audit_trail().get(index),
        ) else {
            continue;
        };
        let message = serde_json::to_string(&notification)
            .map_err(|err| StoreError::database("encoding a notification")(Box::new(err)))?;
        messages.push((
            cause.sequence(),
            notification.kind(),
            instant_text(cause.at()),
            message,
        ));
    }
    Ok(messages)
}

/// The request with an attempt's outcome recorded: moved on by time first, then the delivery
/// record at `now` (or at its last step, if a clock behind the others gave an earlier `now`).
pub(crate) fn finish_request(
    request: AnyRequest,
    now: DateTime<Utc>,
    cause: u64,
    step: DeliveryStep,
) -> Result<AnyRequest, StoreError> {
    let mut request = settle(request, now);
    let id = request.id();
    with_request!(&mut request, r => {
        let at = now.max(r.last_step_at());
        r.record_delivery(at, cause, step)
            .map_err(|rule| StoreError::Refused(RecordError::new(Some(id), None, rule)))
    })?;
    Ok(request)
}

/// The outbox status an outcome leaves, the error to keep, and the next attempt's instant.
pub(crate) fn outbox_update<'a>(
    step: &'a Option<DeliveryStep>,
    now: &'a str,
    retry_at: &'a str,
) -> (&'static str, Option<&'a str>, &'a str) {
    match step {
        Some(DeliveryStep::Sent(_)) | None => ("sent", None, now),
        Some(DeliveryStep::Dropped) => ("dropped", None, now),
        Some(DeliveryStep::Failed(failure)) => ("pending", Some(failure.as_str()), retry_at),
    }
}

/// A message claimed by this run: held until `lease_until` under `token`.
pub(crate) struct Claimed {
    pub(crate) row: i64,
    pub(crate) request: RequestId,
    pub(crate) cause: u64,
    pub(crate) message: String,
    pub(crate) attempt: u32,
    /// The stored kind, checked against the kind of message its cause calls for.
    pub(crate) kind: String,
}

/// What to do with a claimed message.
enum Plan {
    Send(Delivery),
    Fail(DeliveryFailure),
    Drop,
    /// The trail already records it as sent or dropped: only the outbox row lags behind.
    AlreadyDone,
}

/// The request as time leaves it at `now`: a pending request past its deadline expired, a
/// granted one past its window closed. Steps taken here are recorded like the sweeper's.
pub(crate) fn settle(request: AnyRequest, now: DateTime<Utc>) -> AnyRequest {
    match request {
        AnyRequest::PendingCustomer(pending) => match pending.check_expiry(now) {
            PendingStatus::Pending(pending) => pending.into(),
            PendingStatus::Expired(closed) => closed.into(),
        },
        AnyRequest::Granted(granted) => match granted.access(now) {
            Access::Active(granted) => granted.into(),
            Access::Ended(closed) => closed.into(),
        },
        other => other,
    }
}

pub(crate) fn deliver(
    backend: &mut impl Backend,
    directory: &(impl Directory + ?Sized),
    sender: &mut (impl Sender + ?Sized),
    now: DateTime<Utc>,
    lease: TimeDelta,
) -> Result<DeliveryReport, StoreError> {
    let lease_until = match now.checked_add_signed(lease) {
        Some(until) if lease > TimeDelta::zero() => instant_text(until),
        _ => return Err(StoreError::InvalidLease { lease }),
    };
    let token = uuid::Uuid::now_v7().to_string();
    let mut report = DeliveryReport::default();
    loop {
        let claimed = backend.claim(now, &lease_until, &token)?;
        if claimed.is_empty() {
            return Ok(report);
        }
        for message in claimed {
            let (request, cause) = (message.request, message.cause);
            let step = match plan(backend, &message, directory, now) {
                Ok(Plan::Send(delivery)) => match sender.send(&delivery) {
                    Ok(()) => Some(DeliveryStep::Sent(
                        delivery.notification.recipients().to_vec(),
                    )),
                    Err(err) => Some(DeliveryStep::Failed(DeliveryFailure::from_report(err))),
                },
                Ok(Plan::Fail(failure)) => Some(DeliveryStep::Failed(failure)),
                Ok(Plan::Drop) => Some(DeliveryStep::Dropped),
                Ok(Plan::AlreadyDone) => None,
                Err(err) => {
                    report.errors.push((request, cause, err));
                    continue;
                }
            };
            match backend.finish(&message, &token, step.clone(), now, &lease_until) {
                Ok(true) => match step {
                    Some(DeliveryStep::Sent(_)) | None => report.sent.push((request, cause)),
                    Some(DeliveryStep::Failed(failure)) => {
                        report.failed.push((request, cause, failure));
                    }
                    Some(DeliveryStep::Dropped) => report.dropped.push((request, cause)),
                },
                Ok(false) => report.lost.push((request, cause)),
                Err(err) => report.errors.push((request, cause, err)),
            }
        }
    }
}

/// Decides what to do with a claimed message, from the request's verified trail: the stored
/// message must be the one the trail renders, or it is refused unsent.
fn plan(
    backend: &mut impl Backend,
    message: &Claimed,
    directory: &(impl Directory + ?Sized),
    now: DateTime<Utc>,
) -> Result<Plan, StoreError> {
    let refuse = |rule| {
        StoreError::Refused(RecordError::new(
            Some(message.request),
            Some(message.cause),
            rule,
        ))
    };
    let request = settle(backend.load_request(message.request)?, now);
    let index = usize::try_from(message.cause.saturating_sub(1)).unwrap_or(usize::MAX);
    let rendered = with_request!(&request, r => Notification::caused_by(r, index, Vec::new()))
        .ok_or_else(|| refuse(BrokenRule::DeliveryWithoutCause))?;
    let stored: Notification = serde_json::from_str(&message.message).map_err(|err| {
        refuse(BrokenRule::Malformed {
            reason: err.to_string(),
        })
    })?;
    if !stored.same_message(&rendered) {
        return Err(refuse(BrokenRule::StoredColumnDisagrees {
            column: "outbox.message",
        }));
    }
    if message.kind != rendered.kind().as_str() {
        return Err(refuse(BrokenRule::StoredColumnDisagrees {
            column: "outbox.kind",
        }));
    }
    if !with_request!(&request, r => r.awaits_delivery(message.cause)) {
        return Ok(Plan::AlreadyDone);
    }
    let kind = rendered.kind();
    if kind == NotificationKind::DecisionNeeded && request.state() != StateKind::PendingCustomer {
        return Ok(Plan::Drop);
    }
    let recipients = match recipients(&request, index, kind, directory) {
        Ok(recipients) => recipients,
        Err(failure) => return Ok(Plan::Fail(failure)),
    };
    Ok(Plan::Send(Delivery {
        request: message.request,
        cause: message.cause,
        attempt: message.attempt,
        notification: rendered.addressed(recipients),
    }))
}

/// The addresses a notification goes to: the engineer's, or those of the approvers notified of
/// the request. An approver the directory has no address for is left out; nobody at all is a
/// failure.
fn recipients(
    request: &AnyRequest,
    cause_index: usize,
    kind: NotificationKind,
    directory: &(impl Directory + ?Sized),
) -> Result<Vec<EmailAddress>, DeliveryFailure> {
    let trail = request.audit_trail();
    if kind.to_engineer() {
        let engineer = with_request!(request, r => r.engineer().clone());
        return directory.engineer_address(&engineer).map(|a| vec![a]).ok_or_else(|| {
            DeliveryFailure::from_report(format!(
                "the directory has no address for engineer {engineer}: add it, and the next attempt uses it"
            ))
        });
    }
    let notified = trail
        .get(..=cause_index)
        .unwrap_or_default()
        .iter()
        .rev()
        .find_map(|record| match record.event() {
            AuditEvent::ApproversNotified { approvers, .. } => Some(approvers.as_slice()),
            _ => None,
        })
        .unwrap_or_default();
    let addresses: Vec<EmailAddress> = notified
        .iter()
        .filter_map(|approver| directory.approver_address(request.tenant(), approver))
        .collect();
    if addresses.is_empty() {
        return Err(DeliveryFailure::from_report(format!(
            "the directory has no address for any of the {} notified approver(s) of tenant {}: add them, and the next attempt uses them",
            notified.len(),
            request.tenant()
        )));
    }
    Ok(addresses)
}

pub(crate) fn append_actions(
    backend: &mut impl Backend,
    id: RequestId,
    engineer: &EngineerId,
    actions: impl IntoIterator<Item = EngineerAction>,
    now: DateTime<Utc>,
) -> Result<AppendReport, StoreError> {
    let mut granted = match backend.load_request(id)? {
        AnyRequest::Granted(granted) => granted,
        other => {
            return Err(StoreError::WrongState {
                request: id,
                state: other.state(),
                expected: StateKind::Granted,
            });
        }
    };
    let mut report = AppendReport::default();
    for (index, action) in actions.into_iter().enumerate() {
        granted = match granted.record_action(engineer, action, now) {
            Ok(ActionOutcome::Recorded(granted)) => {
                report.recorded += 1;
                granted
            }
            Ok(ActionOutcome::AccessEnded(mut closed)) => {
                report.access_ended = Some(closed.reason());
                backend.save_step(&mut closed)?;
                return Ok(report);
            }
            Err(refused) => {
                report.refused.push((index, refused.refusal()));
                refused.into_request()
            }
        };
    }
    backend.save_step(&mut granted)?;
    Ok(report)
}

pub(crate) fn sweep(
    backend: &mut impl Backend,
    now: DateTime<Utc>,
) -> Result<SweepReport, StoreError> {
    let due = backend.due_requests(now)?;
    let mut report = SweepReport::default();
    for id in due {
        let result = match backend.load_request(id) {
            Ok(AnyRequest::PendingCustomer(pending)) => match pending.check_expiry(now) {
                PendingStatus::Expired(mut closed) => backend
                    .save_step(&mut closed)
                    .map(|()| report.expired.push(id)),
                PendingStatus::Pending(_) => Ok(()),
            },
            Ok(AnyRequest::Granted(granted)) => match granted.access(now) {
                Access::Ended(mut closed) => backend
                    .save_step(&mut closed)
                    .map(|()| report.access_ended.push(id)),
                Access::Active(_) => Ok(()),
            },
            // Moved on by someone else between the listing and the load.
            Ok(_) => Ok(()),
            Err(err) => Err(err),
        };
        match result {
            Ok(()) => {}
            Err(err) if err.is_conflict() => report.skipped.push(id),
            Err(err) => report.failed.push((id, err)),
        }
    }
    Ok(report)
}

pub(crate) fn export_jsonl(
    backend: &mut impl Backend,
    query: &AuditQuery,
    mut out: impl Write,
) -> Result<u64, StoreError> {
    let mut query = query.clone().page_size(PageSize::MAX);
    let mut written = 0;
    loop {
        let page = backend.search_page(&query)?;
        for record in &page.records {
            let line = serde_json::to_string(record)
                .map_err(|err| StoreError::database("encoding a record")(Box::new(err)))?;
            writeln!(out, "{line}").map_err(StoreError::Export)?;
            written += 1;
        }
        match page.next {
            Some(cursor) => query = query.after(cursor),
            None => break,
        }
    }
    out.flush().map_err(StoreError::Export)?;
    Ok(written)
}
