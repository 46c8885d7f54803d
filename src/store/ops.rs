//! What both stores do the same way, written once over the little each does its own way (the
//! [`Backend`] trait): the sweeper, engineer-action appends, JSON Lines export, and outbox
//! delivery with its audit records.

use std::io::Write;

use chrono::{DateTime, TimeDelta, Utc};

use super::{AppendReport, DeliveryReport, StoreError, SweepReport, instant_text};
use crate::audit::{AuditEvent, AuditPage, AuditQuery, AuditRecord, PageSize};
use crate::clock::MAX_CLOCK_SKEW;
use crate::delivery::{Delivery, DeliveryFailure, Directory, Sender};
use crate::notification::{Notification, NotificationKind};
use crate::outcome::{Access, ActionOutcome, PendingStatus};
use crate::record::{BrokenRule, RecordError, decide_again, replay_trail};
use crate::refusal::Refusal;
use crate::request::{AnyRequest, Attempt, DeliveryStep, Request, with_request};
use crate::state::{State, StateKind};
use crate::values::{EmailAddress, EngineerAction, EngineerId, RequestId};

/// How many messages one claim takes; a run claims again until nothing is due.
pub(crate) const CLAIM_BATCH: usize = 32;

/// How many times an operation that loads, steps and saves a request tries again after losing
/// a race with another writer, before it reports the conflict.
const CONFLICT_RETRIES: usize = 8;

/// What a store does its own way: transactions and SQL.
pub(crate) trait Backend {
    /// Saves the request's unsaved steps, with their outbox entries, in one transaction, if the
    /// records it counts as saved are the ones stored ([`BrokenRule::SavedRecordsDiffer`]
    /// otherwise) and no unsaved record is later than the store's clock plus
    /// [`MAX_CLOCK_SKEW`] ([`StoreError::ClockAhead`], unrecorded, otherwise). Nothing is
    /// written on any error.
    fn save_step<S: State>(&mut self, request: &mut Request<S>) -> Result<(), StoreError>;
    /// The store's own clock: the database server's, or the system clock for SQLite.
    fn store_clock(&mut self) -> Result<DateTime<Utc>, StoreError>;
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

/// Saves `request` as every store does. It is first checked exactly as a load would check the
/// trail the store will hold: a request the store would refuse to load is refused now, with
/// nothing written ([`StoreError::SaveRefused`]). The backend then checks that the records the
/// request counts as saved are the stored ones, and that no new record is further ahead of
/// the store's clock than [`MAX_CLOCK_SKEW`]; for one that is, see [`record_ahead`].
pub(crate) fn save<S: State>(
    backend: &mut impl Backend,
    request: &mut Request<S>,
) -> Result<(), StoreError> {
    if request.unsaved_records().is_empty() {
        return Ok(());
    }
    check_as_loaded(request)?;
    match backend.save_step(request) {
        Err(StoreError::ClockAhead { store_clock, .. }) => {
            record_ahead(backend, request, store_clock)
        }
        other => other,
    }
}

/// Refuses `request` unless replaying its trail, as a load does, leads to the request itself.
fn check_as_loaded<S: State>(request: &Request<S>) -> Result<(), StoreError> {
    let refused = |refusal| StoreError::SaveRefused {
        request: request.id(),
        refusal,
    };
    let replayed =
        replay_trail(request.id(), request.tenant(), request.audit_trail()).map_err(refused)?;
    if replayed.state() != S::KIND {
        return Err(refused(RecordError::new(
            Some(request.id()),
            None,
            BrokenRule::StateMismatch {
                stored: S::KIND,
                replayed: replayed.state(),
            },
        )));
    }
    Ok(())
}

/// Handles a save whose steps are stamped further ahead of the store's clock than
/// [`MAX_CLOCK_SKEW`]: no party may move a request into the future, where every later step
/// would have to wait for it.
///
/// The unsaved records within the bound are kept. Of those beyond it, a customer's revocation
/// or denial is taken again at the store's clock, so it takes effect; every other attempt by a
/// person is recorded as refused ([`Refusal::AheadOfStoreClock`]) at the store's clock; the
/// system's own records (an expiry or end of access the fast clock found early) are dropped,
/// since their time has not come. That is saved, and the caller learns of it as
/// [`StoreError::ClockAhead`]. A new request has no stored trail to record anything in: it is
/// refused, unsaved.
fn record_ahead<S: State>(
    backend: &mut impl Backend,
    request: &mut Request<S>,
    store_clock: DateTime<Utc>,
) -> Result<(), StoreError> {
    let limit = store_clock
        .checked_add_signed(MAX_CLOCK_SKEW)
        .unwrap_or(store_clock);
    let Some(given) = request.first_unsaved_after(limit).map(AuditRecord::at) else {
        // The clock moved on between the backend's check and ours: nothing is ahead now.
        return backend.save_step(request);
    };
    let ahead = |recorded| StoreError::ClockAhead {
        request: Some(request.id()),
        given,
        store_clock,
        recorded,
    };
    let saved = request.saved_records();
    if saved == 0 {
        return Err(ahead(false));
    }
    let trail = request.audit_trail();
    let within = trail
        .iter()
        .skip(saved)
        .take_while(|record| record.at() <= limit)
        .count();
    let refused = |refusal| StoreError::SaveRefused {
        request: request.id(),
        refusal,
    };
    let kept = trail.get(..saved + within).unwrap_or(trail);
    let mut current = replay_trail(request.id(), request.tenant(), kept).map_err(refused)?;
    with_request!(&mut current, r => r.count_saved(saved));
    for record in trail.get(saved + within..).unwrap_or_default() {
        current = at_store_clock(current, record, store_clock)
            .map_err(|rule| refused(RecordError::new(Some(request.id()), None, rule)))?;
    }
    with_request!(&mut current, r => backend.save_step(r))?;
    Err(ahead(true))
}

/// What `record`, stamped too far ahead, becomes at the store's clock `at` (see
/// [`record_ahead`]).
fn at_store_clock(
    current: AnyRequest,
    record: &AuditRecord,
    at: DateTime<Utc>,
) -> Result<AnyRequest, BrokenRule> {
    let Some((actor, attempt)) = Attempt::behind(record) else {
        return Ok(current);
    };
    match decide_again(current, record, at) {
        Ok(decided) => decided,
        Err(current) => (*current)
            .refuse_attempt(actor, attempt, Refusal::AheadOfStoreClock, at)
            .ok_or(BrokenRule::InstantOutOfRange),
    }
}

/// Refuses an operation given `now` further ahead of the store's clock than
/// [`MAX_CLOCK_SKEW`], before it touches anything.
fn check_clock(backend: &mut impl Backend, now: DateTime<Utc>) -> Result<(), StoreError> {
    let store_clock = backend.store_clock()?;
    if store_clock
        .checked_add_signed(MAX_CLOCK_SKEW)
        .is_some_and(|limit| now > limit)
    {
        return Err(StoreError::ClockAhead {
            request: None,
            given: now,
            store_clock,
            recorded: false,
        });
    }
    Ok(())
}

/// The request with an attempt's outcome recorded: moved on by time first, then the delivery
/// record at `now` (or at its last step, if a clock behind the others gave an earlier `now`).
pub(crate) fn finish_request(
    request: AnyRequest,
    now: DateTime<Utc>,
    cause: u64,
    step: DeliveryStep,
) -> Result<AnyRequest, StoreError> {
    let mut request = request.settle(now);
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
    check_clock(backend, now)?;
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
    let request = backend.load_request(message.request)?.settle(now);
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

/// Records `actions` at `now` on request `id`, as [`Request::record_action`] would on a granted
/// request, or as refused attempts ([`Request::refuse_late_action`]) on a closed one. An action is
/// never lost to a race: after a conflict (say, a revocation saved meanwhile) the request is
/// loaded again and the actions applied to what it is now.
pub(crate) fn append_actions(
    backend: &mut impl Backend,
    id: RequestId,
    engineer: &EngineerId,
    actions: impl IntoIterator<Item = EngineerAction>,
    now: DateTime<Utc>,
) -> Result<AppendReport, StoreError> {
    let actions: Vec<EngineerAction> = actions.into_iter().collect();
    let mut tries = 0;
    loop {
        tries += 1;
        match append_once(backend, id, engineer, &actions, now) {
            Err(err) if err.is_conflict() && tries <= CONFLICT_RETRIES => continue,
            other => return other,
        }
    }
}

fn append_once(
    backend: &mut impl Backend,
    id: RequestId,
    engineer: &EngineerId,
    actions: &[EngineerAction],
    now: DateTime<Utc>,
) -> Result<AppendReport, StoreError> {
    let mut report = AppendReport::default();
    let mut granted = match backend.load_request(id)? {
        AnyRequest::Granted(granted) => granted,
        AnyRequest::Closed(mut closed) => {
            report.access_ended = Some(closed.reason());
            for (index, action) in actions.iter().enumerate() {
                let refused = closed.refuse_late_action(engineer, action.clone(), now);
                report.refused.push((index, refused.refusal()));
                closed = refused.into_request();
            }
            save(backend, &mut closed)?;
            return Ok(report);
        }
        other => {
            return Err(StoreError::WrongState {
                request: id,
                state: other.state(),
                expected: StateKind::Granted,
            });
        }
    };
    for (index, action) in actions.iter().enumerate() {
        granted = match granted.record_action(engineer, action.clone(), now) {
            Ok(ActionOutcome::Recorded(granted)) => {
                report.recorded += 1;
                granted
            }
            Ok(ActionOutcome::AccessEnded(mut closed)) => {
                report.access_ended = Some(closed.reason());
                save(backend, &mut closed)?;
                return Ok(report);
            }
            Err(refused) => {
                report.refused.push((index, refused.refusal()));
                refused.into_request()
            }
        };
    }
    save(backend, &mut granted)?;
    Ok(report)
}

pub(crate) fn sweep(
    backend: &mut impl Backend,
    now: DateTime<Utc>,
) -> Result<SweepReport, StoreError> {
    check_clock(backend, now)?;
    let due = backend.due_requests(now)?;
    let mut report = SweepReport::default();
    for id in due {
        let result = match backend.load_request(id) {
            Ok(AnyRequest::PendingCustomer(pending)) => match pending.check_expiry(now) {
                PendingStatus::Expired(mut closed) => {
                    save(backend, &mut closed).map(|()| report.expired.push(id))
                }
                PendingStatus::Pending(_) => Ok(()),
            },
            Ok(AnyRequest::Granted(granted)) => match granted.access(now) {
                Access::Ended(mut closed) => {
                    save(backend, &mut closed).map(|()| report.access_ended.push(id))
                }
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
