//! What store operations report: sweeps, appends, delivery runs, and the outbox.

use std::fmt;

use chrono::{DateTime, Utc};

use super::StoreError;
use crate::audit::PageSize;
use crate::delivery::Topic;
use crate::refusal::Refusal;
use crate::state::ClosureReason;
use crate::values::DeliveryFailure;
use crate::values::NotificationKind;
use crate::values::{RequestId, TenantId};

/// What a sweep did: each overdue request handled as its own audited step.
///
/// Serialized with each failure as `{"request": ..., "error": {"class": ..., "message": ...}}`.
#[derive(Debug, Default, serde::Serialize)]
#[non_exhaustive]
pub struct SweepReport {
    /// Pending requests that expired unanswered.
    pub expired: Vec<RequestId>,
    /// Granted requests whose access window ended.
    pub access_ended: Vec<RequestId>,
    /// Requests someone else moved while the sweep ran (conflicts): left to them.
    pub skipped: Vec<RequestId>,
    /// Requests that could not be handled, with the reason (a refused record, a failed write).
    #[serde(serialize_with = "shown::request_errors")]
    pub failed: Vec<(RequestId, StoreError)>,
}

/// What loading every request of a tenant found ([`Store::verify_requests`](super::Store::verify_requests)):
/// each request replayed through the workflow and checked against its row and the tenant's
/// policy history, as a load does.
///
/// Serialized with each refusal as `{"request": ..., "error": {"class": ..., "message": ...}}`.
#[derive(Debug, Default, serde::Serialize)]
#[non_exhaustive]
pub struct RequestsVerdict {
    /// How many requests loaded.
    pub loaded: u64,
    /// Each request that did not, in id order, with the error its load gave: for a stored
    /// request the workflow could not have produced, [`StoreError::InvalidRecord`] naming the
    /// record and the rule it breaks.
    #[serde(serialize_with = "shown::request_errors")]
    pub refused: Vec<(RequestId, StoreError)>,
}

impl RequestsVerdict {
    /// Whether every request loaded.
    pub fn all_load(&self) -> bool {
        self.refused.is_empty()
    }
}

impl fmt::Display for RequestsVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} loaded, {} refused", self.loaded, self.refused.len())
    }
}

impl fmt::Display for SweepReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} expired, {} access ended, {} skipped, {} failed",
            self.expired.len(),
            self.access_ended.len(),
            self.skipped.len(),
            self.failed.len()
        )
    }
}

/// What recording a batch of engineer actions did: an enum, so that a caller cannot take a
/// batch with refused actions, or one that found access ended, for a batch recorded whole.
///
/// Every action of the batch is in the request's trail either way: as taken, or as a refused
/// attempt.
///
/// ```
/// use customer_lockbox::AppendReport;
///
/// fn answer(report: &AppendReport) -> String {
///     match report {
///         AppendReport::Recorded { count } => format!("{count} recorded"),
///         AppendReport::Refused { recorded, refused } => {
///             format!("{recorded} recorded, {} refused", refused.len())
///         }
///         AppendReport::AccessEnded { reason, .. } => format!("access ended: {reason}"),
///         _ => "unknown".to_owned(),
///     }
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
#[must_use = "actions may have been refused, or access may have ended: the report says which"]
#[non_exhaustive]
pub enum AppendReport {
    /// Every action was recorded as taken.
    Recorded {
        /// How many.
        count: usize,
    },
    /// Some actions were refused (an action in a service the request does not cover, or by
    /// someone other than its engineer), each recorded as refused; the others were recorded
    /// as taken.
    Refused {
        /// How many were recorded as taken.
        recorded: usize,
        /// The refused ones, in batch order.
        refused: Vec<RefusedAction>,
    },
    /// Access had ended, or ended during the batch: the request is closed for `reason`, and
    /// the actions from the first late one on were each recorded as refused.
    AccessEnded {
        /// How many were recorded as taken, before access ended.
        recorded: usize,
        /// The refused ones, in batch order (every late one among them).
        refused: Vec<RefusedAction>,
        /// Why the request is closed.
        reason: ClosureReason,
    },
}

/// An action of a batch that was refused, and recorded as refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct RefusedAction {
    /// Its index in the batch, from 0.
    pub index: usize,
    /// The rule that refused it.
    pub refusal: Refusal,
}

impl RefusedAction {
    /// Action `index` of a batch, refused by `refusal`.
    pub fn new(index: usize, refusal: Refusal) -> Self {
        RefusedAction { index, refusal }
    }
}

impl AppendReport {
    /// The report of a batch: `recorded` actions taken, `refused` refused, and the request
    /// closed for `access_ended` if it was.
    pub(crate) fn of(
        recorded: usize,
        refused: Vec<RefusedAction>,
        access_ended: Option<ClosureReason>,
    ) -> Self {
        match (access_ended, refused.is_empty()) {
            (Some(reason), _) => AppendReport::AccessEnded {
                recorded,
                refused,
                reason,
            },
            (None, true) => AppendReport::Recorded { count: recorded },
            (None, false) => AppendReport::Refused { recorded, refused },
        }
    }

    /// How many actions were recorded as taken.
    pub fn recorded(&self) -> usize {
        match self {
            AppendReport::Recorded { count } => *count,
            AppendReport::Refused { recorded, .. } | AppendReport::AccessEnded { recorded, .. } => {
                *recorded
            }
        }
    }

    /// The actions refused (each recorded as refused), in batch order.
    pub fn refused(&self) -> &[RefusedAction] {
        match self {
            AppendReport::Recorded { .. } => &[],
            AppendReport::Refused { refused, .. } | AppendReport::AccessEnded { refused, .. } => {
                refused
            }
        }
    }

    /// Why the request is closed, when access had ended.
    pub fn access_ended(&self) -> Option<ClosureReason> {
        match self {
            AppendReport::AccessEnded { reason, .. } => Some(*reason),
            _ => None,
        }
    }

    /// Whether every action was recorded as taken.
    pub fn is_all_recorded(&self) -> bool {
        matches!(self, AppendReport::Recorded { .. })
    }
}

/// Where a notification stands in a store's outbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum OutboxStatus {
    /// Not sent yet: waiting for its first attempt, for a retry, or held by an attempt.
    Pending,
    /// The sender accepted it.
    Sent,
    /// Not sent, and never will be: it asked for a decision the request no longer awaits.
    Dropped,
}

impl OutboxStatus {
    /// The status as stored: `pending`, `sent` or `dropped`.
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxStatus::Pending => "pending",
            OutboxStatus::Sent => "sent",
            OutboxStatus::Dropped => "dropped",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<Self> {
        [
            OutboxStatus::Pending,
            OutboxStatus::Sent,
            OutboxStatus::Dropped,
        ]
        .into_iter()
        .find(|status| status.as_str() == text)
    }
}

impl fmt::Display for OutboxStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One notification in a store's outbox: about a step of a request, or a change of a tenant's
/// policy ([`Topic`](crate::Topic)).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct OutboxEntry {
    /// What it is about: a request's step (the request, and the sequence of the audit record
    /// whose step caused it) or a tenant's policy change.
    #[serde(flatten)]
    pub topic: Topic,
    /// What it is about.
    pub kind: NotificationKind,
    /// Where it stands.
    pub status: OutboxStatus,
    /// How many attempts claimed it, including any that crashed before recording an outcome.
    pub attempts: u32,
    /// Why the last failed attempt failed.
    pub last_error: Option<DeliveryFailure>,
    /// A pending entry's earliest next attempt (the end of a lease or of the retry delay).
    pub next_attempt_at: DateTime<Utc>,
}

impl OutboxEntry {
    /// The request it is about; `None` for a policy change's message.
    pub fn request(&self) -> Option<RequestId> {
        self.topic.request()
    }

    /// The sequence of the request's audit record whose step caused it; `None` for a policy
    /// change's message.
    pub fn cause(&self) -> Option<u64> {
        self.topic.cause()
    }
}

/// What a delivery run did: each message it handled, in the order it handled them, with its
/// outcome.
///
/// Serialized as `{"messages": [{"request": ..., "cause": ..., "outcome": "sent"}, ...]}` (a
/// policy change's message names `"tenant"` and `"version"` instead; a failure adds
/// `"failure"`, an error `"error"`).
#[derive(Debug, Default, serde::Serialize)]
#[non_exhaustive]
pub struct DeliveryReport {
    /// Every message handled, in order.
    pub messages: Vec<MessageReport>,
}

/// One message a delivery run handled, and its outcome.
#[derive(Debug, serde::Serialize)]
#[non_exhaustive]
pub struct MessageReport {
    /// Which message: `None` for an outbox row too damaged to name one (its error says which
    /// row).
    #[serde(flatten)]
    pub topic: Option<Topic>,
    /// What came of it.
    #[serde(flatten)]
    pub outcome: DeliveryOutcome,
}

/// What came of one message in a delivery run.
#[derive(Debug, serde::Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
#[non_exhaustive]
pub enum DeliveryOutcome {
    /// The sender accepted it: marked sent, never handed out again.
    Sent,
    /// The request's trail already recorded it sent or dropped (an attempt that crashed after
    /// recording it): the outbox row is brought up to date, and nothing is sent again.
    AlreadyDone,
    /// The attempt failed: kept, with the error, for another attempt after the lease.
    Failed {
        /// Why.
        failure: DeliveryFailure,
    },
    /// A decision message for a request that no longer awaits a decision: dropped unsent.
    Dropped,
    /// The attempt's lease ran out before it finished, so another run took the message over:
    /// this attempt's outcome was not recorded.
    LostLease,
    /// The request kept moving while the outcome was being recorded (other writers, each
    /// attempt): the outcome was not recorded, and the message is attempted again after the
    /// lease.
    Unrecorded {
        /// How many times recording was tried.
        attempts: u32,
    },
    /// It could not be handled (a refused record or message, a failed write): kept unsent, for
    /// another attempt after the lease.
    Error {
        /// Why.
        error: StoreError,
    },
}

impl DeliveryOutcome {
    /// Whether the outcome needs an operator's eye: a failed attempt, an outcome not recorded,
    /// or an error.
    pub fn is_trouble(&self) -> bool {
        matches!(
            self,
            DeliveryOutcome::Failed { .. }
                | DeliveryOutcome::Unrecorded { .. }
                | DeliveryOutcome::Error { .. }
        )
    }
}

impl fmt::Display for DeliveryOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeliveryOutcome::Sent => f.write_str("sent"),
            DeliveryOutcome::AlreadyDone => f.write_str("already sent: the outbox row caught up"),
            DeliveryOutcome::Failed { failure } => write!(f, "FAILED: {failure}"),
            DeliveryOutcome::Dropped => f.write_str("dropped: no longer awaits a decision"),
            DeliveryOutcome::LostLease => f.write_str("lost: its lease ran out"),
            DeliveryOutcome::Unrecorded { attempts } => write!(
                f,
                "NOT RECORDED: the request kept moving ({attempts} attempts); retried after the lease"
            ),
            DeliveryOutcome::Error { error } => write!(f, "ERROR: {error}"),
        }
    }
}

impl DeliveryReport {
    /// The messages whose outcome `keep` selects, by topic.
    pub fn topics(&self, keep: impl Fn(&DeliveryOutcome) -> bool) -> Vec<Topic> {
        self.messages
            .iter()
            .filter(|message| keep(&message.outcome))
            .filter_map(|message| message.topic)
            .collect()
    }

    /// The messages the sender accepted.
    pub fn sent(&self) -> Vec<Topic> {
        self.topics(|outcome| matches!(outcome, DeliveryOutcome::Sent))
    }

    /// The messages dropped unsent.
    pub fn dropped(&self) -> Vec<Topic> {
        self.topics(|outcome| matches!(outcome, DeliveryOutcome::Dropped))
    }

    /// The messages whose attempt lost its lease.
    pub fn lost(&self) -> Vec<Topic> {
        self.topics(|outcome| matches!(outcome, DeliveryOutcome::LostLease))
    }

    /// The messages whose attempt failed, with why.
    pub fn failed(&self) -> Vec<(Option<Topic>, &DeliveryFailure)> {
        self.messages
            .iter()
            .filter_map(|message| match &message.outcome {
                DeliveryOutcome::Failed { failure } => Some((message.topic, failure)),
                _ => None,
            })
            .collect()
    }

    /// The messages that could not be handled, with why.
    pub fn errors(&self) -> Vec<(Option<Topic>, &StoreError)> {
        self.messages
            .iter()
            .filter_map(|message| match &message.outcome {
                DeliveryOutcome::Error { error } => Some((message.topic, error)),
                _ => None,
            })
            .collect()
    }

    /// Whether any message needs an operator's eye ([`DeliveryOutcome::is_trouble`]).
    pub fn has_trouble(&self) -> bool {
        self.messages
            .iter()
            .any(|message| message.outcome.is_trouble())
    }

    /// Counts the messages whose outcome `keep` selects.
    fn count(&self, keep: impl Fn(&DeliveryOutcome) -> bool) -> usize {
        self.messages
            .iter()
            .filter(|message| keep(&message.outcome))
            .count()
    }
}

impl fmt::Display for DeliveryReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use DeliveryOutcome as O;
        write!(
            f,
            "{} sent, {} failed, {} dropped, {} lost lease, {} errors",
            self.count(|o| matches!(o, O::Sent)),
            self.count(|o| matches!(o, O::Failed { .. })),
            self.count(|o| matches!(o, O::Dropped)),
            self.count(|o| matches!(o, O::LostLease)),
            self.count(|o| matches!(o, O::Unrecorded { .. } | O::Error { .. })),
        )?;
        match self.count(|o| matches!(o, O::AlreadyDone)) {
            0 => Ok(()),
            caught_up => write!(f, ", {caught_up} already done"),
        }
    }
}

/// Which notifications an outbox view lists, across all requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OutboxView {
    /// Every notification not sent yet: waiting for its first attempt, for a retry, or held.
    Pending,
    /// Those of the pending whose last attempt failed, with the error it gave.
    Failed,
}

/// A page of an outbox view: which notifications, oldest first, from where.
///
/// ```
/// use customer_lockbox::{OutboxQuery, OutboxView, PageSize};
///
/// let query = OutboxQuery::new(OutboxView::Failed).page_size(PageSize::new(20)?);
/// # Ok::<(), customer_lockbox::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxQuery {
    pub(crate) view: OutboxView,
    pub(crate) after: Option<OutboxCursor>,
    pub(crate) page_size: PageSize,
}

impl OutboxQuery {
    /// The first page of `view`, of [`PageSize::DEFAULT`] entries.
    pub fn new(view: OutboxView) -> Self {
        OutboxQuery {
            view,
            after: None,
            page_size: PageSize::DEFAULT,
        }
    }

    /// The page after `cursor` (a previous page's [`OutboxPage::next`]).
    pub fn after(mut self, cursor: OutboxCursor) -> Self {
        self.after = Some(cursor);
        self
    }

    /// Pages of `size` entries.
    pub fn page_size(mut self, size: PageSize) -> Self {
        self.page_size = size;
        self
    }
}

/// Where the next page of an outbox view starts: opaque; hand it back to
/// [`OutboxQuery::after`]. A view lists the requests' messages first, then the policy
/// changes'.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OutboxCursor(pub(crate) OutboxAt);

/// An outbox view's position: after a request message's row, or after a tenant's policy
/// change.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum OutboxAt {
    Request(i64),
    Policy { tenant: TenantId, version: u32 },
}

impl fmt::Display for OutboxCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            OutboxAt::Request(row) => write!(f, "o{row}"),
            OutboxAt::Policy { tenant, version } => {
                write!(f, "p{}.{version}", tenant.as_uuid().simple())
            }
        }
    }
}

serde_as_text!(OutboxCursor);

impl std::str::FromStr for OutboxCursor {
    type Err = crate::Error;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let request = || Some(OutboxAt::Request(text.strip_prefix('o')?.parse().ok()?));
        let policy = || {
            let (tenant, version) = text.strip_prefix('p')?.split_once('.')?;
            Some(OutboxAt::Policy {
                tenant: TenantId::parse(tenant).ok()?,
                version: version.parse().ok()?,
            })
        };
        request().or_else(policy).map(OutboxCursor).ok_or_else(|| {
            crate::error::ErrorKind::InvalidCursor {
                input: text.chars().take(64).collect(),
            }
            .into()
        })
    }
}

/// One page of an outbox view.
#[derive(Debug, serde::Serialize)]
#[non_exhaustive]
pub struct OutboxPage {
    /// The entries, oldest first.
    pub entries: Vec<OutboxEntry>,
    /// Where the next page starts, if there is one.
    pub next: Option<OutboxCursor>,
}

/// The reports' lists of tuples, serialized as lists of objects.
mod shown {
    use serde::ser::{SerializeSeq, Serializer};
    use serde_json::json;

    use super::StoreError;
    use crate::values::RequestId;

    fn objects<S: Serializer, T>(
        serializer: S,
        items: &[T],
        object: impl Fn(&T) -> serde_json::Value,
    ) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(items.len()))?;
        for item in items {
            seq.serialize_element(&object(item))?;
        }
        seq.end()
    }

    pub(super) fn request_errors<S: Serializer>(
        items: &[(RequestId, StoreError)],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        objects(
            serializer,
            items,
            |(request, error)| json!({"request": request, "error": error}),
        )
    }
}
