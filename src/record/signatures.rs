//! Checking the signatures a request's decisions keep, record by record: the one check the
//! store's load and the offline verifier share.

use chrono::{DateTime, Utc};

use super::BrokenRule;
use crate::audit::{Actor, AuditEvent, AuditRecord, ChainHash};
use crate::decision::{CustomerKey, Decision, DecisionContext, SignatureFault, Verification};
use crate::policy::PolicyHistory;
use crate::request::Draft;
use crate::values::{ApproverId, SupportManagerId};

/// What a request's trail has shown so far that its decisions' statements name, taken record
/// by record: the draft, the support manager's approval, the last notification and the grant
/// (each with its link in the log, when the reader knows it).
#[derive(Debug, Default)]
pub(crate) struct SignedTrail {
    draft: Option<Draft>,
    approved_by: Option<SupportManagerId>,
    /// The last notification: its sequence, deadline and link.
    notified: Option<(u64, DateTime<Utc>, Option<ChainHash>)>,
    /// The grant: its sequence, the end of access and its link.
    granted: Option<(u64, DateTime<Utc>, Option<ChainHash>)>,
}

impl SignedTrail {
    /// Takes the request's next record, `link` its link in the log (when the reader knows it)
    /// and `log` the log's name (when the reader knows it), and checks the decision it records
    /// against `history`:
    ///
    /// - a grant or an approval under a version (in force at its instant) that lists keys is
    ///   signed;
    /// - a signature a decision keeps verifies over its statement, by a key of its approver: for
    ///   a grant or an approval, in the version in force at that instant; for a denial or a
    ///   revocation, in any version up to that instant (taking access away never waits for a
    ///   key, and its signature only says who took it);
    /// - the record it answers is the one the decision answers, with the link the log holds
    ///   for it, in this log.
    pub(crate) fn next(
        &mut self,
        record: &AuditRecord,
        link: Option<ChainHash>,
        history: &PolicyHistory,
        log: Option<&str>,
    ) -> Result<(), BrokenRule> {
        match self.next_deferred(record, link, history, log)? {
            Some(verification) => verification.verify().map_err(refused),
            None => Ok(()),
        }
    }

    /// [`next`](Self::next), with the cryptography of a signature's check left to the caller:
    /// the verification that remains, if the record keeps a signature (its failure is
    /// [`BrokenRule::DecisionSignatureRefused`]).
    pub(crate) fn next_deferred(
        &mut self,
        record: &AuditRecord,
        link: Option<ChainHash>,
        history: &PolicyHistory,
        log: Option<&str>,
    ) -> Result<Option<Verification>, BrokenRule> {
        let mut verification = None;
        match (record.event(), record.actor()) {
            (
                AuditEvent::Drafted {
                    service_request,
                    services,
                    access_duration,
                    justification,
                },
                Actor::Engineer(engineer),
            ) => {
                self.draft = Some(Draft {
                    id: record.request(),
                    tenant: record.tenant(),
                    service_request: service_request.clone(),
                    services: services.clone(),
                    access_duration: *access_duration,
                    justification: justification.clone(),
                    engineer: engineer.clone(),
                });
            }
            (AuditEvent::ManagerApproved, Actor::SupportManager(manager)) => {
                self.approved_by = Some(manager.clone());
            }
            (
                AuditEvent::ApproversNotified {
                    decision_deadline, ..
                },
                _,
            ) => self.notified = Some((record.sequence(), *decision_deadline, link)),
            (
                AuditEvent::Approved { .. } | AuditEvent::Granted { .. },
                Actor::Approver(approver),
            ) => {
                let in_force = history.in_force_at(record.at()).map(|c| c.after());
                if in_force.is_some_and(|p| p.requires_signatures()) && record.signature().is_none()
                {
                    return Err(BrokenRule::UnsignedDecision);
                }
                let keys = in_force.map_or(&[][..], |policy| policy.keys_of(approver));
                verification = self.check(record, approver, Decision::Grant, keys.to_vec(), log)?;
                if let AuditEvent::Granted { access_ends_at } = record.event() {
                    self.granted = Some((record.sequence(), *access_ends_at, link));
                }
            }
            (AuditEvent::Denied | AuditEvent::Revoked, Actor::Approver(approver))
                if record.signature().is_some() =>
            {
                let keys: Vec<CustomerKey> = history
                    .changes()
                    .iter()
                    .filter(|change| change.at() <= record.at())
                    .flat_map(|change| change.after().keys_of(approver))
                    .cloned()
                    .collect();
                let decision = match record.event() {
                    AuditEvent::Revoked => Decision::Revoke,
                    _ => Decision::Deny,
                };
                verification = self.check(record, approver, decision, keys, log)?;
            }
            _ => {}
        }
        Ok(verification)
    }

    /// Checks the signature `record` (a `decision` by `approver`) keeps, if it keeps one, by
    /// one of `keys`, but for its cryptography: the verification left.
    fn check(
        &self,
        record: &AuditRecord,
        approver: &ApproverId,
        decision: Decision,
        keys: Vec<CustomerKey>,
        log: Option<&str>,
    ) -> Result<Option<Verification>, BrokenRule> {
        let Some(signed) = record.signature() else {
            return Ok(None);
        };
        let answered = match decision {
            Decision::Revoke => self.granted,
            Decision::Grant | Decision::Deny => self.notified,
        };
        let (Some(draft), Some(approved_by), Some((answers, valid_until, answered_link))) =
            (&self.draft, &self.approved_by, answered)
        else {
            return Err(refused(SignatureFault::WrongRecord));
        };
        if answered_link.is_some_and(|link| link != signed.answers().link) {
            return Err(refused(SignatureFault::WrongRecord));
        }
        if log.is_some_and(|log| log != signed.log()) {
            return Err(refused(SignatureFault::Invalid));
        }
        let context = DecisionContext {
            request: draft,
            approved_by,
            answers,
            decision,
            approver,
            valid_until,
        };
        signed.prepare(&context, keys).map(Some).map_err(refused)
    }
}

/// The broken rule of a decision whose signature was refused for `fault`.
pub(crate) fn refused(fault: SignatureFault) -> BrokenRule {
    BrokenRule::DecisionSignatureRefused { fault }
}
