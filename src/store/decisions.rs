//! The statements a tenant's people sign for their decisions, made from a stored request: the
//! record each answers is named with its link in the tenant's log, as stored.

use super::StoreError;
use super::backend::Backend;
use super::handle::Store;
use crate::audit::{Actor, AuditEventKind, ChainHash};
use crate::decision::{Answered, Decision, DecisionStatement, StatementFacts};
use crate::refusal::Step;
use crate::request::AnyRequest;
use crate::state::StateKind;
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
    /// without a checkpoint signer, whose name is the log's; [`StoreError::LogBroken`] when the
    /// answered record has no link stored; as [`load`](Self::load).
    #[tracing::instrument(name = "lockbox.decision_statement", skip_all, fields(backend = B::NAME, request = %id))]
    pub async fn decision_statement(
        &self,
        id: RequestId,
        approver: &ApproverId,
        decision: Decision,
    ) -> Result<DecisionStatement, StoreError> {
        let signer = self.signer().ok_or(StoreError::NoSigner)?;
        let request = self.load(id).await?;
        let (answers, valid_until) = match (&request, decision) {
            (AnyRequest::PendingCustomer(pending), Decision::Grant | Decision::Deny) => (
                AuditEventKind::ApproversNotified,
                pending.decision_deadline(),
            ),
            (AnyRequest::Granted(granted), Decision::Revoke) => {
                (AuditEventKind::Granted, granted.access_ends_at())
            }
            _ => {
                let (step, expected): (Step, &'static [StateKind]) = match decision {
                    Decision::Grant => (Step::Grant, &[StateKind::PendingCustomer]),
                    Decision::Deny => (Step::Deny, &[StateKind::PendingCustomer]),
                    Decision::Revoke => (Step::Revoke, &[StateKind::Granted]),
                };
                return Err(StoreError::WrongState {
                    request: id,
                    step,
                    state: request.state(),
                    expected,
                });
            }
        };
        let tenant = request.tenant();
        let broken = |reason: String| StoreError::LogBroken {
            tenant: tenant.to_string(),
            reason,
        };
        let trail = request.audit_trail();
        let sequence = trail
            .iter()
            .rev()
            .find(|record| record.event().kind() == answers)
            .map(|record| record.sequence())
            .ok_or_else(|| broken(format!("request {id} has no {} record", answers.as_str())))?;
        let approved_by = trail
            .iter()
            .find_map(|record| match (record.event().kind(), record.actor()) {
                (AuditEventKind::ManagerApproved, Actor::SupportManager(manager)) => {
                    Some(manager.clone())
                }
                _ => None,
            })
            .ok_or_else(|| broken(format!("request {id} has no manager's approval")))?;
        let link = super::select::record_link(self.backend(), id, sequence)
            .await?
            .and_then(|bytes| ChainHash::from_slice(&bytes))
            .ok_or_else(|| broken(format!("record #{sequence} of request {id} has no link")))?;
        let log = crate::evidence::log_origin(signer.verifier().name(), tenant);
        let view = request.view();
        Ok(DecisionStatement::new(&StatementFacts {
            log: &log,
            request: &view,
            approved_by: &approved_by,
            answered: Answered { sequence, link },
            decision,
            approver,
            valid_until,
        }))
    }
}
