//! Recording notification deliveries in a request's trail, in any state.
//!
//! Deliveries are not workflow steps: they change no state and no caller can take them. A store
//! records them when it hands a notification to the platform's sender, and the replay checks
//! them with the same rules.

use chrono::{DateTime, Utc};

use super::{Request, instant_in_range};
use crate::audit::{Actor, AuditEvent};
use crate::state::{State, StateKind};
use crate::values::DeliveryFailure;
use crate::values::EmailAddress;
use crate::values::NotificationKind;

/// Why a delivery cannot be recorded in a request's trail. The loader names each as the rule a
/// stored delivery record breaks ([`BrokenRule`](crate::record::BrokenRule)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DeliveryRefused {
    /// The instant is not one a trail can hold.
    InstantOutOfRange,
    /// It is earlier than the trail's last record.
    TimeWentBackwards,
    /// The request is due at that instant: time moves it on first.
    WhileDue,
    /// The cause is no earlier record whose step causes a notification.
    WithoutCause,
    /// The notification was sent or dropped already.
    DeliveredTwice,
    /// Sent to no address.
    SentToNobody,
    /// A message that was still needed was dropped.
    NeededMessageDropped,
}

/// What became of one attempt to deliver a notification.
#[derive(Clone, Debug)]
pub(crate) enum DeliveryStep {
    /// The transport accepted it for these addresses.
    Sent(Vec<EmailAddress>),
    /// The attempt failed.
    Failed(DeliveryFailure),
    /// It was not sent: a decision message for a request that no longer awaits one.
    Dropped,
}

impl<S: State> Request<S> {
    /// Whether the notification caused by record `cause` still needs a delivery: it was neither
    /// sent nor dropped.
    pub(crate) fn awaits_delivery(&self, cause: u64) -> bool {
        !self.audit_trail().iter().any(|r| {
            matches!(
                r.event(),
                AuditEvent::NotificationSent { cause: c, .. }
                    | AuditEvent::NotificationDropped { cause: c, .. } if *c == cause
            )
        })
    }

    /// Records an attempt, at `at`, to deliver the notification caused by record `cause`.
    ///
    /// The record must follow the trail in time, and the request must not be due at `at`
    /// (time moves it on first: an expiry or the end of access is recorded at its own instant,
    /// which must not come after a later record). The cause must be an earlier record whose step
    /// causes a notification, not yet sent or dropped. Only a decision message may be dropped,
    /// and only once the request no longer awaits a decision. (One may be recorded as sent after
    /// the decision: it was sent while the request awaited it, and the decision came meanwhile.)
    pub(crate) fn record_delivery(
        &mut self,
        at: DateTime<Utc>,
        cause: u64,
        step: DeliveryStep,
    ) -> Result<(), DeliveryRefused> {
        if !instant_in_range(at) {
            return Err(DeliveryRefused::InstantOutOfRange);
        }
        if at < self.last_step_at() {
            return Err(DeliveryRefused::TimeWentBackwards);
        }
        if self.due_at().is_some_and(|due| at >= due) {
            return Err(DeliveryRefused::WhileDue);
        }
        let notification = cause
            .checked_sub(1)
            .and_then(|index| self.audit_trail().get(usize::try_from(index).ok()?))
            .and_then(|record| record.event().notification())
            .ok_or(DeliveryRefused::WithoutCause)?;
        if !self.awaits_delivery(cause) {
            return Err(DeliveryRefused::DeliveredTwice);
        }
        let awaits_decision = S::KIND == StateKind::PendingCustomer;
        let event = match step {
            DeliveryStep::Sent(recipients) => {
                if recipients.is_empty() {
                    return Err(DeliveryRefused::SentToNobody);
                }
                AuditEvent::NotificationSent {
                    notification,
                    cause,
                    recipients,
                }
            }
            DeliveryStep::Failed(failure) => AuditEvent::DeliveryFailed {
                notification,
                cause,
                failure,
            },
            DeliveryStep::Dropped => {
                if notification != NotificationKind::DecisionNeeded || awaits_decision {
                    return Err(DeliveryRefused::NeededMessageDropped);
                }
                AuditEvent::NotificationDropped {
                    notification,
                    cause,
                }
            }
        };
        self.record(at, Actor::System, event);
        Ok(())
    }
}
