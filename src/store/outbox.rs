//! Delivering the outbox, written once for every backend: claims under a lease, each message
//! rendered again from the request's verified trail and checked against what was stored,
//! handed to the platform's sender outside any transaction, and every attempt recorded in the
//! request's trail.

use chrono::{DateTime, TimeDelta, Utc};
use tracing::Instrument;
use tracing::field::Empty;

use super::StoreError;
use super::backend::{Backend, Claimed, ClaimedPolicy, Finished, OutboxUpdate};
use super::columns::instant_text;
use super::handle::Store;
use super::reports::{DeliveryOutcome, DeliveryReport, MessageReport, OutboxStatus};
use super::steps::step_write;
use crate::audit::AuditEvent;
use crate::delivery::{Delivery, Directory, Sender, Topic};
use crate::notification::{Notification, StoredNotification};
use crate::record::{BrokenRule, RecordError};
use crate::request::{AnyRequest, DeliveryStep, with_request};
use crate::state::StateKind;
use crate::values::DeliveryFailure;
use crate::values::NotificationKind;
use crate::values::{EmailAddress, TenantId};

/// How many messages one claim takes; a run claims again until nothing is due.
const CLAIM_BATCH: usize = 32;

/// How many times an attempt's outcome is recorded again after the request moved meanwhile.
const FINISH_ATTEMPTS: u32 = 8;

/// What to do with a claimed message.
enum Plan {
    Send(Delivery),
    Fail(DeliveryFailure),
    Drop,
    /// The trail already records it as sent or dropped: only the outbox row lags behind.
    AlreadyDone,
}

/// A message a delivery run claimed, decoded.
enum Message {
    /// A request's message.
    Request(Claimed),
    /// A policy change's message, and the change it names.
    Policy {
        message: ClaimedPolicy,
        tenant: TenantId,
        version: u32,
    },
}

impl Message {
    fn topic(&self) -> Topic {
        match self {
            Message::Request(claimed) => Topic::Request {
                request: claimed.request,
                cause: claimed.cause,
            },
            Message::Policy {
                tenant, version, ..
            } => Topic::Policy {
                tenant: *tenant,
                version: *version,
            },
        }
    }
}

/// What every attempt of one delivery run shares: its claim token, its instant, and when a
/// failed message may be attempted again.
struct Run<'a> {
    token: &'a str,
    now: DateTime<Utc>,
    lease_until: &'a str,
}

impl Run<'_> {
    /// What an attempt's step leaves in the outbox row: sent (or already done) and dropped are
    /// finished now; a failure waits for the lease to run out.
    fn update(&self, step: Option<&DeliveryStep>) -> OutboxUpdate {
        let now = instant_text(self.now);
        let finished = |status| OutboxUpdate {
            status,
            last_error: None,
            lease_until: now.clone(),
            finished_at: Some(now.clone()),
        };
        match step {
            Some(DeliveryStep::Sent(_)) | None => finished(OutboxStatus::Sent),
            Some(DeliveryStep::Dropped) => finished(OutboxStatus::Dropped),
            Some(DeliveryStep::Failed(failure)) => OutboxUpdate {
                status: OutboxStatus::Pending,
                last_error: Some(failure.as_str().to_owned()),
                lease_until: self.lease_until.to_owned(),
                finished_at: None,
            },
        }
    }
}

impl<B: Backend> Store<B> {
    /// Hands every notification due at `now` to `sender`, addressed through `directory`, and
    /// records each attempt in the request's audit trail.
    ///
    /// - **Claims and leases.** Messages are claimed in a write transaction and held for
    ///   `lease`: no other delivery run (another task, process or node) is handed a message
    ///   while an attempt holds it. An attempt that crashes is retried once its lease runs out,
    ///   so a message can be sent twice if a crash falls between the transport accepting it and
    ///   the outcome being recorded: [`Delivery::key`] lets a transport deduplicate.
    /// - **Outcomes.** Accepted: marked sent, never handed out again. Failed: kept, with the
    ///   attempt count and the error, for another attempt once `lease` has passed again. A
    ///   decision message for a request that no longer awaits a decision is dropped unsent.
    ///   Each outcome is an audit record ([`AuditEvent::NotificationSent`],
    ///   [`AuditEvent::DeliveryFailed`], [`AuditEvent::NotificationDropped`]), written in one
    ///   transaction with the outbox row. A request that time has moved on (an expiry, the end
    ///   of access) is first moved on, as the sweeper would.
    /// - **Checked messages.** Each message is rendered again from the request's verified trail;
    ///   a stored message that differs is refused unsent.
    ///
    /// Sending happens outside any transaction, so a slow transport does not block the store.
    /// A lease should be well longer than a send takes.
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidLease`] for a lease of zero or less; [`StoreError::ClockAhead`],
    /// with nothing claimed or sent, when `now` is more than
    /// [`MAX_CLOCK_SKEW`](crate::MAX_CLOCK_SKEW) ahead of the store's clock;
    /// [`StoreError::Database`] when messages cannot be claimed. Failures on single messages
    /// are in the report instead.
    pub async fn deliver(
        &self,
        directory: &(impl Directory + Sync + ?Sized),
        sender: &mut impl Sender,
        now: DateTime<Utc>,
        lease: TimeDelta,
    ) -> Result<DeliveryReport, StoreError> {
        let span = tracing::info_span!("lockbox.deliver", backend = B::NAME, outcome = Empty);
        async move {
            let lease_until = match now.checked_add_signed(lease) {
                Some(until) if lease > TimeDelta::zero() => instant_text(until),
                _ => return Err(StoreError::InvalidLease { lease }),
            };
            self.ready().await?;
            self.check_clock(now).await?;
            let token = uuid::Uuid::now_v7().to_string();
            let mut report = DeliveryReport::default();
            let run = Run {
                token: &token,
                now,
                lease_until: &lease_until,
            };
            loop {
                // Requests' messages first, then policy changes' once none is due.
                let mut claimed: Vec<Result<Message, (Option<Topic>, StoreError)>> = self
                    .backend()
                    .claim(now, lease_until.clone(), token.clone(), CLAIM_BATCH)
                    .await?
                    .into_iter()
                    .map(|row| {
                        Claimed::decode(row)
                            .map(Message::Request)
                            .map_err(|e| (None, e))
                    })
                    .collect();
                if claimed.is_empty() {
                    claimed = self
                        .backend()
                        .claim_policy(now, lease_until.clone(), token.clone(), CLAIM_BATCH)
                        .await?
                        .into_iter()
                        .map(|message| match message.topic() {
                            Ok((tenant, version)) => Ok(Message::Policy {
                                message,
                                tenant,
                                version,
                            }),
                            Err(err) => Err((None, err)),
                        })
                        .collect();
                }
                if claimed.is_empty() {
                    tracing::Span::current().record("outcome", tracing::field::display(&report));
                    return Ok(report);
                }
                for message in claimed {
                    let (topic, outcome) = match message {
                        Ok(message) => (
                            Some(message.topic()),
                            self.deliver_one(message, directory, sender, &run).await,
                        ),
                        Err((topic, error)) => (topic, DeliveryOutcome::Error { error }),
                    };
                    report.messages.push(MessageReport { topic, outcome });
                }
            }
        }
        .instrument(span)
        .await
    }

    /// One claimed message, planned, sent and recorded: its outcome.
    async fn deliver_one(
        &self,
        message: Message,
        directory: &(impl Directory + Sync + ?Sized),
        sender: &mut impl Sender,
        run: &Run<'_>,
    ) -> DeliveryOutcome {
        let plan = match &message {
            Message::Request(claimed) => self.plan(claimed, directory, run.now).await,
            Message::Policy {
                message,
                tenant,
                version,
            } => self
                .plan_policy(message, *tenant, *version)
                .await
                .map(Plan::Send),
        };
        let step = match plan {
            Ok(Plan::Send(delivery)) => match sender.send(&delivery).await {
                Ok(()) => Some(DeliveryStep::Sent(
                    delivery.notification.recipients().to_vec(),
                )),
                Err(err) => Some(DeliveryStep::Failed(DeliveryFailure::from_report(err))),
            },
            Ok(Plan::Fail(failure)) => Some(DeliveryStep::Failed(failure)),
            Ok(Plan::Drop) => Some(DeliveryStep::Dropped),
            Ok(Plan::AlreadyDone) => None,
            Err(error) => return DeliveryOutcome::Error { error },
        };
        let update = run.update(step.as_ref());
        let finished = match message {
            Message::Request(claimed) => self.finish(claimed, run, step.clone(), update).await,
            Message::Policy { message, .. } => {
                self.backend()
                    .finish_policy(message, run.token.to_owned(), update)
                    .await
            }
        };
        match finished {
            Ok(Finished::Done) => match step {
                Some(DeliveryStep::Sent(_)) => DeliveryOutcome::Sent,
                None => DeliveryOutcome::AlreadyDone,
                Some(DeliveryStep::Failed(failure)) => DeliveryOutcome::Failed { failure },
                Some(DeliveryStep::Dropped) => DeliveryOutcome::Dropped,
            },
            Ok(Finished::Lost) => DeliveryOutcome::LostLease,
            Ok(Finished::Stale) => DeliveryOutcome::Unrecorded {
                attempts: FINISH_ATTEMPTS,
            },
            Err(error) => DeliveryOutcome::Error { error },
        }
    }

    /// The delivery of a claimed policy message: the stored message must be the one the
    /// stored change renders, or it is refused unsent.
    async fn plan_policy(
        &self,
        message: &ClaimedPolicy,
        tenant: TenantId,
        version: u32,
    ) -> Result<Delivery, StoreError> {
        let history = self.policy_history(tenant).await?;
        let broken = || {
            StoreError::InvalidPolicy(
                crate::error::ErrorKind::BrokenPolicyHistory { tenant, version }.into(),
            )
        };
        let change = history
            .changes()
            .iter()
            .find(|change| change.version() == version)
            .ok_or_else(broken)?;
        let rendered = Notification::policy_changed(change);
        let stored: StoredNotification =
            serde_json::from_str(&message.message).map_err(|_| broken())?;
        if !stored.is(&rendered) {
            return Err(broken());
        }
        let evidence = self.message_evidence(tenant, None).await?;
        let notification = match &evidence {
            Some(evidence) => rendered.with_evidence(evidence),
            None => rendered,
        };
        Ok(Delivery {
            topic: Topic::Policy { tenant, version },
            attempt: message.attempt,
            notification,
            evidence,
        })
    }

    /// Records an attempt's outcome: the delivery record in the request's trail (moved on by
    /// time first) and the outbox row (`update`), in one transaction, if the run still holds
    /// the message. The request is read again if another writer moved it meanwhile.
    async fn finish(
        &self,
        message: Claimed,
        run: &Run<'_>,
        step: Option<DeliveryStep>,
        update: OutboxUpdate,
    ) -> Result<Finished, StoreError> {
        let (now, token) = (run.now, run.token);
        for _ in 0..FINISH_ATTEMPTS {
            let write = match &step {
                Some(step) => {
                    let loaded = self.load_checked(message.request).await?;
                    // Another run recorded an outcome meanwhile (this run's lease ran out):
                    // there is nothing left to record, and the claim tells whether this run may
                    // still touch the outbox row.
                    if with_request!(&loaded, r => r.awaits_delivery(message.cause)) {
                        let request = record_delivery(loaded, now, message.cause, step.clone())?;
                        let mut write = with_request!(&request, r => step_write(r))?;
                        write.store_clock = self.given_clock();
                        Some(write)
                    } else {
                        None
                    }
                }
                None => None,
            };
            match self
                .backend()
                .finish(message.clone(), token.to_owned(), write, update.clone())
                .await?
            {
                Finished::Stale => continue,
                finished => return Ok(finished),
            }
        }
        Ok(Finished::Stale)
    }

    /// Decides what to do with a claimed message, from the request's verified trail: the stored
    /// message must be the one the trail renders, or it is refused unsent.
    async fn plan(
        &self,
        message: &Claimed,
        directory: &(impl Directory + Sync + ?Sized),
        now: DateTime<Utc>,
    ) -> Result<Plan, StoreError> {
        let refuse = |rule| {
            StoreError::InvalidRecord(RecordError::new(
                Some(message.request),
                Some(message.cause),
                rule,
            ))
        };
        let request = self.load_checked(message.request).await?.settle(now);
        let index = usize::try_from(message.cause.saturating_sub(1)).unwrap_or(usize::MAX);
        let rendered = with_request!(&request, r => Notification::caused_by(r, index, Vec::new()))
            .ok_or_else(|| refuse(BrokenRule::DeliveryWithoutCause))?;
        let stored: StoredNotification = serde_json::from_str(&message.message).map_err(|err| {
            refuse(BrokenRule::Malformed {
                reason: err.to_string(),
            })
        })?;
        if !stored.says(&rendered) {
            return Err(refuse(BrokenRule::StoredColumnDisagrees {
                column: "outbox.message",
            }));
        }
        if message.kind != Some(rendered.kind()) {
            return Err(refuse(BrokenRule::StoredColumnDisagrees {
                column: "outbox.kind",
            }));
        }
        if !with_request!(&request, r => r.awaits_delivery(message.cause)) {
            return Ok(Plan::AlreadyDone);
        }
        let kind = rendered.kind();
        if kind == NotificationKind::DecisionNeeded && request.state() != StateKind::PendingCustomer
        {
            return Ok(Plan::Drop);
        }
        // Addresses are read from the stored policy as it is now, never a copy: one changed on
        // another node must not send the message to an address the tenant replaced.
        let policies = self.policy_history(request.tenant()).await?;
        let recipients = match recipients(&request, index, kind, directory, &policies).await {
            Ok(recipients) => recipients,
            Err(failure) => return Ok(Plan::Fail(failure)),
        };
        let evidence = match kind {
            NotificationKind::DecisionNeeded => {
                self.message_evidence(request.tenant(), None).await?
            }
            NotificationKind::AccessEnded => {
                // Every record up to the one that ended access: what the report states.
                let stated: Vec<u64> = request
                    .audit_trail()
                    .iter()
                    .map(crate::AuditRecord::sequence)
                    .take_while(|sequence| *sequence <= message.cause)
                    .collect();
                self.message_evidence(request.tenant(), Some((message.request, stated)))
                    .await?
            }
            _ => None,
        };
        let mut notification = rendered.addressed(recipients);
        if let AnyRequest::PendingCustomer(pending) = &request {
            let statements = self.grant_statements(pending, &policies).await?;
            notification = notification.with_statements(&statements);
        }
        if let Some(evidence) = &evidence {
            notification = notification.with_evidence(evidence);
        }
        Ok(Plan::Send(Delivery {
            topic: Topic::Request {
                request: message.request,
                cause: message.cause,
            },
            attempt: message.attempt,
            notification,
            evidence,
        }))
    }
}

impl<B: Backend> Store<B> {
    /// The grant statement of each approver `pending` was notified to, when the tenant's
    /// policy now lists keys and the store can name its log (it has a signer): what the
    /// approvers' message carries, so an approver signs from the message alone.
    async fn grant_statements(
        &self,
        pending: &crate::request::Request<crate::state::PendingCustomer>,
        policies: &crate::policy::PolicyHistory,
    ) -> Result<
        Vec<(
            crate::values::ApproverId,
            crate::decision::DecisionStatement,
        )>,
        StoreError,
    > {
        let keyed = policies
            .current()
            .is_some_and(crate::policy::TenantPolicy::requires_signatures);
        if !keyed || self.signer().is_none() {
            return Ok(Vec::new());
        }
        let Some((log, answered)) = self
            .answered(pending.id(), crate::decision::Decision::Grant)
            .await?
        else {
            return Ok(Vec::new());
        };
        Ok(pending
            .notified_approvers()
            .iter()
            .filter_map(|approver| {
                pending
                    .decision_statement(
                        approver,
                        crate::decision::Decision::Grant,
                        &log,
                        answered.link,
                    )
                    .map(|statement| (approver.clone(), statement))
            })
            .collect())
    }
}

/// The request with an attempt's outcome recorded: moved on by time first, then the delivery
/// record at `now` (or at its last step, if a clock behind the others gave an earlier `now`).
fn record_delivery(
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
            .map_err(|refused| {
                StoreError::InvalidRecord(RecordError::new(Some(id), None, refused.into()))
            })
    })?;
    Ok(request)
}

/// The addresses a notification goes to: the engineer's, or those of the approvers notified of
/// the request (from the directory, or else the latest version of the tenant's policy that
/// designates them). An approver with no address anywhere is left out; nobody at all is a
/// failure.
async fn recipients(
    request: &AnyRequest,
    cause_index: usize,
    kind: NotificationKind,
    directory: &(impl Directory + Sync + ?Sized),
    policies: &crate::policy::PolicyHistory,
) -> Result<Vec<EmailAddress>, DeliveryFailure> {
    let trail = request.audit_trail();
    if kind.to_engineer() {
        let engineer = with_request!(request, r => r.engineer().clone());
        return directory
            .engineer_address(&engineer)
            .await
            .map(|a| vec![a])
            .ok_or_else(|| {
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
    let mut addresses = Vec::with_capacity(notified.len());
    for approver in notified {
        let address = match directory.approver_address(request.tenant(), approver).await {
            Some(address) => Some(address),
            None => policies.changes().iter().rev().find_map(|change| {
                change
                    .after()
                    .approvers()
                    .iter()
                    .find(|designated| designated.id() == approver)
                    .map(|designated| designated.email().clone())
            }),
        };
        addresses.extend(address);
    }
    if addresses.is_empty() {
        return Err(DeliveryFailure::from_report(format!(
            "neither the directory nor the tenant's policy has an address for any of the {} notified approver(s) of tenant {}: add them, and the next attempt uses them",
            notified.len(),
            request.tenant()
        )));
    }
    Ok(addresses)
}
