//! The statements a tenant's people sign for their decisions, made from a stored request, and
//! the signed decisions the store takes: the record each answers is named with its link in the
//! tenant's log, as stored.

use chrono::{DateTime, Utc};

use super::StoreError;
use super::backend::Backend;
use super::handle::Store;
use super::keys::StepCall;
use super::steps::{Applied, Outcome, refused_step};
use crate::audit::{AuditEventKind, ChainHash};
use crate::decision::{Answered, Decision, DecisionStatement, SignedDecision};
use crate::refusal::Step;
use crate::request::{AnyRequest, DenyOutcome, GrantOutcome, Request};
use crate::state::{Closed, StateKind};
use crate::values::{ApproverId, RequestId};

impl<B: Backend> Store<B> {
    /// The statement `approver` signs to take `decision` on request `id`
    /// (`ssh-keygen -Y sign -n customer-lockbox`): the request as stored, the record the
    /// decision answers (the notification for a grant or a denial, the grant for a revocation)
    /// with its link in the tenant's log, the log's name (the store's signer's), and until when
    /// the decision may be taken.
    ///
    /// # Errors
    ///
    /// [`StoreError::WrongState`] for a request the decision does not apply to (a grant or a
    /// denial needs a pending request, a revocation a granted one); [`StoreError::NoSigner`]
    /// without a checkpoint signer, whose name is the log's; as [`load`](Self::load).
    #[tracing::instrument(name = "lockbox.decision_statement", skip_all, fields(backend = B::NAME, request = %id))]
    pub async fn decision_statement(
        &self,
        id: RequestId,
        approver: &ApproverId,
        decision: Decision,
    ) -> Result<DecisionStatement, StoreError> {
        let request = self.load(id).await?;
        let (log, answered) = match self.answered(id, decision).await? {
            Some(answered) => answered,
            None => return Err(wrong_state(id, decision, request.state())),
        };
        let statement = match (&request, decision) {
            (AnyRequest::PendingCustomer(pending), Decision::Grant | Decision::Deny) => {
                pending.decision_statement(approver, decision, &log, answered.link)
            }
            (AnyRequest::Granted(granted), Decision::Revoke) => {
                Some(granted.decision_statement(approver, &log, answered.link))
            }
            _ => None,
        };
        statement.ok_or_else(|| wrong_state(id, decision, request.state()))
    }

    /// [`grant`](Self::grant), signed by the approver: `signature` is the armored SSH
    /// signature `ssh-keygen -Y sign -n customer-lockbox` made over this grant's
    /// [`decision_statement`](Self::decision_statement). The grant's record keeps it, so the
    /// customer checks it again offline.
    ///
    /// Under a tenant policy that lists keys, this is the only way to grant: an unsigned
    /// grant is refused, on record.
    ///
    /// # Errors
    ///
    /// As [`grant`](Self::grant); [`StoreError::Refused`], recorded, with
    /// [`Refusal::DecisionSignatureRefused`](crate::Refusal::DecisionSignatureRefused) naming
    /// what was wrong when the signature is not an SSH signature, is by a key the policy in
    /// force does not list for the approver, is over another statement (another request,
    /// tenant, log, decision or person: a replay), or is a security key's without its user's
    /// touch; [`StoreError::NoSigner`] without a checkpoint signer (the log's name is the
    /// signer's).
    pub fn grant_signed<'a>(
        &'a self,
        id: RequestId,
        approver: &'a ApproverId,
        signature: &'a str,
        now: DateTime<Utc>,
    ) -> StepCall<'a, GrantOutcome> {
        self.signed_call(
            id,
            Decision::Grant,
            signature,
            now,
            move |request, policy, signed| match request {
                AnyRequest::PendingCustomer(r) => {
                    refused_step(r.grant_signed(approver, signed, policy, now))
                }
                other => Applied::WrongState(Box::new(other)),
            },
        )
    }

    /// [`deny`](Self::deny), signed by the approver over this denial's
    /// [`decision_statement`](Self::decision_statement). A denial takes effect whatever its
    /// signature: its record keeps the signature if it verifies, and is unsigned otherwise.
    ///
    /// # Errors
    ///
    /// As [`deny`](Self::deny); [`StoreError::NoSigner`] without a checkpoint signer.
    pub fn deny_signed<'a>(
        &'a self,
        id: RequestId,
        approver: &'a ApproverId,
        signature: &'a str,
        now: DateTime<Utc>,
    ) -> StepCall<'a, DenyOutcome> {
        self.signed_call(
            id,
            Decision::Deny,
            signature,
            now,
            move |request, policy, signed| match request {
                AnyRequest::PendingCustomer(r) => {
                    refused_step(r.deny_signed(approver, signed, policy, now))
                }
                other => Applied::WrongState(Box::new(other)),
            },
        )
    }

    /// [`revoke`](Self::revoke), signed by the approver over this revocation's
    /// [`decision_statement`](Self::decision_statement). A revocation takes effect whatever
    /// its signature: its record keeps the signature if it verifies, and is unsigned
    /// otherwise.
    ///
    /// # Errors
    ///
    /// As [`revoke`](Self::revoke); [`StoreError::NoSigner`] without a checkpoint signer.
    pub fn revoke_signed<'a>(
        &'a self,
        id: RequestId,
        approver: &'a ApproverId,
        signature: &'a str,
        now: DateTime<Utc>,
    ) -> StepCall<'a, Request<Closed>> {
        self.signed_call(
            id,
            Decision::Revoke,
            signature,
            now,
            move |request, policy, signed| match request {
                AnyRequest::Granted(r) => {
                    refused_step(r.revoke_signed(approver, signed, policy, now))
                }
                other => Applied::WrongState(Box::new(other)),
            },
        )
    }

    /// A signed decision on request `id`, to be awaited: the signature is kept with the log's
    /// name and the stored link of the record the decision answers, then the step runs as
    /// every step does.
    fn signed_call<'a, T: Outcome + 'a>(
        &'a self,
        id: RequestId,
        decision: Decision,
        signature: &'a str,
        now: DateTime<Utc>,
        apply: impl Fn(AnyRequest, &crate::policy::TenantPolicy, &SignedDecision) -> Applied<T>
        + Send
        + Sync
        + 'a,
    ) -> StepCall<'a, T> {
        StepCall::new(move |key| {
            Box::pin(async move {
                let step = step_of(decision);
                let Some((log, answered)) = self.answered(id, decision).await? else {
                    let request = self.load(id).await?;
                    return Err(wrong_state(id, decision, request.state()));
                };
                let signed = SignedDecision::new(log, answered, signature);
                self.execute(id, step, now, key.as_ref(), |request, policy| {
                    apply(request, policy, &signed)
                })
                .await
            })
        })
    }

    /// The log's name and the record `decision` on request `id` answers, with its stored
    /// link; `None` when the request has no such record (it is in no state the decision
    /// applies to).
    pub(super) async fn answered(
        &self,
        id: RequestId,
        decision: Decision,
    ) -> Result<Option<(String, Answered)>, StoreError> {
        // No signer, no log name: refused before anything is read.
        self.signer().ok_or(StoreError::NoSigner)?;
        let kind = match decision {
            Decision::Grant | Decision::Deny => AuditEventKind::ApproversNotified,
            Decision::Revoke => AuditEventKind::Granted,
        };
        let Some((sequence, link, tenant)) =
            super::select::answered_record(self.backend(), id, kind).await?
        else {
            return Ok(None);
        };
        let link = ChainHash::from_slice(&link).ok_or_else(|| StoreError::LogBroken {
            tenant: tenant.to_string(),
            reason: format!("record #{sequence} of request {id} has no link"),
        })?;
        Ok(Some((self.log_name(tenant)?, Answered { sequence, link })))
    }
}

/// The step that takes `decision`.
fn step_of(decision: Decision) -> Step {
    match decision {
        Decision::Grant => Step::Grant,
        Decision::Deny => Step::Deny,
        Decision::Revoke => Step::Revoke,
    }
}

/// The refusal of `decision` on request `id`, which is `state`.
fn wrong_state(id: RequestId, decision: Decision, state: StateKind) -> StoreError {
    let expected: &'static [StateKind] = match decision {
        Decision::Grant | Decision::Deny => &[StateKind::PendingCustomer],
        Decision::Revoke => &[StateKind::Granted],
    };
    StoreError::WrongState {
        request: id,
        step: step_of(decision),
        state,
        expected,
    }
}
