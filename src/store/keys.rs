//! Idempotency keys: what a step taken with one keeps, and how a call repeated with it is
//! answered without taking anything again; and [`StepCall`], the awaitable step a key is given
//! to.

use std::future::{Future, IntoFuture};
use std::pin::Pin;

use chrono::{DateTime, Utc};

use super::StoreError;
use super::backend::{KeptRow, KeptStep};
use super::reports::AppendReport;
use crate::record::{BrokenRule, RecordError, replay_trail};
use crate::refusal::{Refusal, Step};
use crate::request::{AnyRequest, with_request};
use crate::values::{IdempotencyKey, RequestId};

/// What a step taken with an idempotency key answered, kept with the key (as JSON, in the
/// step's own transaction). A typed outcome is not kept: it is the request as the step left
/// it, which the trail holds.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub(crate) enum Kept {
    /// The step went ahead: its outcome is the request at the kept revision.
    Done,
    /// A batch of engineer actions: its report.
    Appended { report: AppendReport },
    /// The workflow refused the step, and the refusal is in the trail.
    Refused { refusal: Refusal },
    /// The step's instant was too far ahead of the store's clock: the attempt is in the trail,
    /// at the store's clock.
    ClockAhead {
        given: DateTime<Utc>,
        store_clock: DateTime<Utc>,
    },
}

impl Kept {
    /// The row that keeps this answer of `step` under `key`.
    pub(crate) fn under(&self, key: &IdempotencyKey, step: Step) -> Result<KeptStep, StoreError> {
        Ok(KeptStep {
            key: key.as_str().to_owned(),
            step,
            result: serde_json::to_string(self)
                .map_err(StoreError::db("keeping the step's idempotency key"))?,
        })
    }
}

/// A stored kept step that does not read back: a row the store never writes.
pub(crate) fn unreadable(id: RequestId) -> StoreError {
    StoreError::InvalidRecord(RecordError::new(
        Some(id),
        None,
        BrokenRule::StoredColumnDisagrees {
            column: "step_keys.result",
        },
    ))
}

/// What a kept step answered, read back: a refusal, or a clock ahead, as the error it was;
/// otherwise the kept answer, whose outcome is the request as the step left it
/// ([`as_of`] its revision).
pub(crate) fn read(
    id: RequestId,
    step: Step,
    key: &IdempotencyKey,
    kept: &KeptRow,
) -> Result<Kept, StoreError> {
    if kept.step != step.as_str() {
        return Err(StoreError::KeyReused {
            request: id,
            key: key.clone(),
            kept_step: kept.step.clone(),
            step,
        });
    }
    match serde_json::from_str(&kept.result).map_err(|_| unreadable(id))? {
        Kept::Refused { refusal } => Err(StoreError::Refused {
            request: id,
            step,
            refusal,
        }),
        Kept::ClockAhead { given, store_clock } => Err(StoreError::ClockAhead {
            request: Some(id),
            given,
            store_clock,
            recorded: true,
        }),
        result => Ok(result),
    }
}

/// `request` as it was at `revision`: its trail up to there, replayed.
pub(crate) fn as_of(request: &AnyRequest, revision: u64) -> Result<AnyRequest, StoreError> {
    let id = request.id();
    let revision = usize::try_from(revision).map_err(|_| unreadable(id))?;
    let trail = request
        .audit_trail()
        .get(..revision)
        .ok_or_else(|| unreadable(id))?;
    let mut then = replay_trail(id, request.tenant(), trail)?;
    with_request!(&mut then, r => r.count_saved(revision));
    Ok(then)
}

/// The future of a [`StepCall`].
pub type StepFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// A step of the workflow on a store, ready to run: await it. Before that, an idempotency key
/// may be given, which makes the call safe to repeat: see [`IdempotencyKey`].
///
/// ```no_run
/// # async fn retry(store: customer_lockbox::SqliteStore, id: customer_lockbox::RequestId) -> Result<(), Box<dyn std::error::Error>> {
/// use customer_lockbox::*;
///
/// let megan = ApproverId::new("megan@contoso.com")?;
/// // The key the approver's client sent with its request, and sends again with each retry.
/// let key = IdempotencyKey::new("0f8e2b0c-5d7a-4f1e-9b3c-2a6d4e8f1c7b")?;
/// let outcome = match store.grant(id, &megan, SystemClock.now()).idempotency_key(key.clone()).await {
///     // The connection failed while the grant committed: taking it again with the same key
///     // grants once, and answers as the first call would have.
///     Err(err) if err.is_outcome_unknown() => {
///         store.grant(id, &megan, SystemClock.now()).idempotency_key(key).await?
///     }
///     other => other?,
/// };
/// # let _ = outcome;
/// # Ok(()) }
/// ```
#[must_use = "a step does nothing until it is awaited"]
pub struct StepCall<'a, T> {
    run: Box<dyn FnOnce(Option<IdempotencyKey>) -> StepFuture<'a, T> + Send + 'a>,
    key: Option<IdempotencyKey>,
}

impl<'a, T> StepCall<'a, T> {
    pub(crate) fn new(
        run: impl FnOnce(Option<IdempotencyKey>) -> StepFuture<'a, T> + Send + 'a,
    ) -> Self {
        StepCall {
            run: Box::new(run),
            key: None,
        }
    }

    /// Takes the step under `key`: if the request already has a step taken with this key,
    /// nothing is taken, and the call answers what that step answered (its outcome as it was
    /// then, or its refusal). The key is kept in the step's own transaction.
    ///
    /// A key given to another kind of step on the same request is refused
    /// ([`StoreError::KeyReused`]).
    pub fn idempotency_key(mut self, key: IdempotencyKey) -> Self {
        self.key = Some(key);
        self
    }
}

impl<T> std::fmt::Debug for StepCall<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StepCall")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl<'a, T> IntoFuture for StepCall<'a, T> {
    type Output = Result<T, StoreError>;
    type IntoFuture = StepFuture<'a, T>;

    fn into_future(self) -> Self::IntoFuture {
        (self.run)(self.key)
    }
}
