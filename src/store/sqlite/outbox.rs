//! The outbox on SQLite: notifications written in the transaction of the step that caused
//! them, and delivered under leases so that two delivery runs never hold one message at once.

use chrono::{DateTime, TimeDelta, Utc};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

use super::{db, load, read_error, save_in};
use crate::audit::AuditEvent;
use crate::delivery::{Delivery, DeliveryFailure, Directory, Sender};
use crate::notification::{Notification, NotificationKind};
use crate::outcome::{Access, PendingStatus};
use crate::record::{BrokenRule, RecordError};
use crate::request::{AnyRequest, DeliveryStep, Request, with_request};
use crate::state::{State, StateKind};
use crate::store::{DeliveryReport, OutboxEntry, OutboxStatus, StoreError, instant_text};
use crate::values::{EmailAddress, RequestId};

/// How many messages one claim takes; a run claims again until nothing is due.
const CLAIM_BATCH: usize = 32;

/// Writes the notifications caused by `request`'s unsaved records to the outbox, without
/// addresses, each available from the instant of its cause.
pub(super) fn write_outbox<S: State>(
    tx: &Transaction<'_>,
    request: &Request<S>,
) -> Result<(), StoreError> {
    for index in request.saved_records()..request.audit_trail().len() {
        let (Some(notification), Some(cause)) = (
            Notification::caused_by(request, index, Vec::new()),
            request.audit_trail().get(index),
        ) else {
            continue;
        };
        let message =
            serde_json::to_string(&notification).map_err(db("encoding a notification"))?;
        let created = instant_text(cause.at());
        tx.prepare_cached(
            "INSERT INTO outbox (request_id, sequence, kind, created_at, message, status, attempts, \
             lease_until) VALUES (?1, ?2, ?3, ?4, ?5, 'pending', 0, ?4)",
        )
        .and_then(|mut stmt| {
            stmt.execute(params![
                request.id(),
                cause.sequence(),
                notification.kind().as_str(),
                created,
                message
            ])
        })
        .map_err(db("adding to the outbox"))?;
    }
    Ok(())
}

/// The outbox entries of `request`, in the order of their causes.
pub(super) fn entries(
    conn: &Connection,
    request: RequestId,
) -> Result<Vec<OutboxEntry>, StoreError> {
    let read = read_error(Some(request), "reading the outbox");
    let mut stmt = conn
        .prepare_cached(
            "SELECT sequence, kind, status, attempts, last_error, lease_until FROM outbox \
             WHERE request_id = ?1 ORDER BY sequence",
        )
        .map_err(&read)?;
    let rows = stmt
        .query_map([request], |row| {
            Ok((
                row.get::<_, u64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, u32>(3)?,
                row.get::<_, Option<String>>(4)?,
                row.get::<_, String>(5)?,
            ))
        })
        .map_err(&read)?;
    let mut entries = Vec::new();
    for row in rows {
        let (cause, kind, status, attempts, last_error, next) = row.map_err(&read)?;
        let column = |column| {
            StoreError::Refused(RecordError::new(
                Some(request),
                Some(cause),
                BrokenRule::StoredColumnDisagrees { column },
            ))
        };
        entries.push(OutboxEntry {
            request,
            cause,
            kind: kind_from_str(&kind).ok_or_else(|| column("outbox.kind"))?,
            status: OutboxStatus::parse(&status).ok_or_else(|| column("outbox.status"))?,
            attempts,
            last_error: last_error
                .map(DeliveryFailure::new)
                .transpose()
                .map_err(|_| column("outbox.last_error"))?,
            next_attempt_at: DateTime::parse_from_rfc3339(&next)
                .map_err(|_| column("outbox.lease_until"))?
                .with_timezone(&Utc),
        });
    }
    Ok(entries)
}

fn kind_from_str(text: &str) -> Option<NotificationKind> {
    [
        NotificationKind::DecisionNeeded,
        NotificationKind::AccessGranted,
        NotificationKind::NoAccess,
        NotificationKind::AccessEnded,
    ]
    .into_iter()
    .find(|kind| kind.as_str() == text)
}

/// A message claimed by this run: held until `lease_until` under `token`.
struct Claimed {
    row: i64,
    request: RequestId,
    cause: u64,
    message: String,
    attempt: u32,
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
fn settle(request: AnyRequest, now: DateTime<Utc>) -> AnyRequest {
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

pub(super) fn deliver(
    conn: &mut Connection,
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
        let claimed = claim(conn, now, &lease_until, &token)?;
        if claimed.is_empty() {
            return Ok(report);
        }
        for message in claimed {
            let (request, cause) = (message.request, message.cause);
            let step = match plan(conn, &message, directory, now) {
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
            match finish(conn, &message, &token, step.clone(), now, &lease_until) {
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

/// Claims up to a batch of due messages for this run, in one write transaction: no other run
/// can claim them until `lease_until`.
fn claim(
    conn: &mut Connection,
    now: DateTime<Utc>,
    lease_until: &str,
    token: &str,
) -> Result<Vec<Claimed>, StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db("starting a write transaction"))?;
    let read = read_error(None, "claiming outbox messages");
    let claimed = {
        let mut select = tx
            .prepare_cached(
                "SELECT id, request_id, sequence, message, attempts FROM outbox \
                 WHERE status = 'pending' AND lease_until <= ?1 ORDER BY lease_until, id LIMIT ?2",
            )
            .map_err(&read)?;
        let rows = select
            .query_map(params![instant_text(now), CLAIM_BATCH], |row| {
                Ok(Claimed {
                    row: row.get(0)?,
                    request: row.get(1)?,
                    cause: row.get(2)?,
                    message: row.get(3)?,
                    attempt: row.get::<_, u32>(4)?.saturating_add(1),
                })
            })
            .map_err(&read)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(&read)?
    };
    for message in &claimed {
        tx.prepare_cached(
            "UPDATE outbox SET attempts = ?2, claim = ?3, lease_until = ?4 WHERE id = ?1",
        )
        .and_then(|mut stmt| {
            stmt.execute(params![message.row, message.attempt, token, lease_until])
        })
        .map_err(db("claiming outbox messages"))?;
    }
    tx.commit().map_err(db("committing a claim"))?;
    Ok(claimed)
}

/// Decides what to do with a claimed message, from the request's verified trail: the stored
/// message must be the one the trail renders, or it is refused unsent.
fn plan(
    conn: &Connection,
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
    let request = settle(load(conn, message.request)?, now);
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

/// Records the attempt's outcome in the request's trail and the outbox, in one write
/// transaction, if this run still holds the message. Returns whether it did.
fn finish(
    conn: &mut Connection,
    message: &Claimed,
    token: &str,
    step: Option<DeliveryStep>,
    now: DateTime<Utc>,
    retry_at: &str,
) -> Result<bool, StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db("starting a write transaction"))?;
    let holder: Option<(Option<String>, String)> = tx
        .query_row(
            "SELECT claim, status FROM outbox WHERE id = ?1",
            [message.row],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()
        .map_err(db("checking an outbox claim"))?;
    if !matches!(&holder, Some((Some(claim), status)) if claim == token && status == "pending") {
        return Ok(false);
    }
    let now_text = instant_text(now);
    let (status, last_error, lease_until) = match &step {
        Some(DeliveryStep::Sent(_)) | None => ("sent", None, now_text.as_str()),
        Some(DeliveryStep::Dropped) => ("dropped", None, now_text.as_str()),
        Some(DeliveryStep::Failed(failure)) => {
            ("pending", Some(failure.as_str().to_owned()), retry_at)
        }
    };
    if let Some(step) = step {
        let mut request = settle(load(&tx, message.request)?, now);
        with_request!(&mut request, r => {
            let at = now.max(r.last_step_at());
            r.record_delivery(at, message.cause, step).map_err(|rule| {
                StoreError::Refused(RecordError::new(Some(message.request), None, rule))
            })?;
            save_in(&tx, r)?;
        });
    }
    let finished = (status != "pending").then_some(now_text.as_str());
    tx.prepare_cached(
        "UPDATE outbox SET status = ?2, claim = NULL, last_error = coalesce(?3, last_error), \
         lease_until = ?4, finished_at = ?5 WHERE id = ?1",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            message.row,
            status,
            last_error,
            lease_until,
            finished
        ])
    })
    .map_err(db("updating the outbox"))?;
    tx.commit().map_err(db("committing a delivery"))?;
    Ok(true)
}
