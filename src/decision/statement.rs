//! The text a person signs for one decision: a statement that names everything the decision is
//! about, so that its signature is worth nothing for any other.

use chrono::{DateTime, Utc};

use crate::audit::ChainHash;
use crate::notification::neutralize_links;
use crate::request::Draft;
use crate::values::{ApproverId, SupportManagerId};

/// What a person decides about a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Grant the engineer access.
    Grant,
    /// Deny it.
    Deny,
    /// End access already granted.
    Revoke,
}

impl Decision {
    /// The decision a step takes: `None` for a step that is no customer decision.
    pub(crate) fn of_step(step: crate::refusal::Step) -> Option<Decision> {
        use crate::refusal::Step;
        match step {
            Step::Grant => Some(Decision::Grant),
            Step::Deny => Some(Decision::Deny),
            Step::Revoke => Some(Decision::Revoke),
            _ => None,
        }
    }

    /// The decision in the statement's words.
    fn words(self) -> &'static str {
        match self {
            Decision::Grant => "GRANT access",
            Decision::Deny => "DENY access",
            Decision::Revoke => "REVOKE access",
        }
    }

    /// The record a decision of this kind answers, in the statement's words.
    fn answers(self) -> &'static str {
        match self {
            Decision::Grant | Decision::Deny => "the notification to the approvers",
            Decision::Revoke => "the grant",
        }
    }
}

/// The record of the request's trail a decision answers, and its link in the tenant's log: the
/// notification for a grant or a denial, the grant for a revocation. The link binds the
/// statement to that record, in that log, as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Answered {
    /// The record's sequence in the request's trail.
    pub sequence: u64,
    /// The record's link (its hash) in the tenant's log.
    pub link: ChainHash,
}

/// The facts a decision statement names.
#[derive(Clone, Copy, Debug)]
pub struct StatementFacts<'a> {
    /// The name of the vendor's log the request's records are in, with its tenant:
    /// `NAME/TENANT_ID`.
    pub log: &'a str,
    /// The request: what the engineer drafted.
    pub request: &'a Draft,
    /// The support manager who approved it.
    pub approved_by: &'a SupportManagerId,
    /// The record the decision answers.
    pub answered: Answered,
    /// The decision.
    pub decision: Decision,
    /// The person deciding.
    pub approver: &'a ApproverId,
    /// Until when the decision may be taken: the decision deadline of a pending request, the
    /// end of a granted request's access.
    pub valid_until: DateTime<Utc>,
}

/// The text a person signs for one decision (`ssh-keygen -Y sign -n customer-lockbox
/// statement.txt`): the decision, the person, the request and everything it asks for, the
/// record it answers with that record's link in the tenant's log, the log, and until when it
/// may be taken. A signature over it is worth nothing for another request, tenant, log,
/// decision, person or record, nor after its time.
///
/// The text is link-free, as the messages are (every free-text value has the characters that
/// make a link neutralized in brackets), so a message can carry it and the bytes the person
/// reads are the bytes signed. The same facts always make the same text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecisionStatement {
    text: String,
}

impl DecisionStatement {
    /// The statement of `facts`.
    pub fn new(facts: &StatementFacts<'_>) -> Self {
        let request = facts.request;
        let text = format!(
            "Customer Lockbox decision, to sign with: ssh-keygen -Y sign -n customer-lockbox\n\
             \n\
             Decision:          {decision}\n\
             By:                {approver}\n\
             Request ID:        {id}\n\
             Tenant ID:         {tenant}\n\
             Log:               {log}\n\
             Service request:   {service_request}\n\
             Services:          {services}\n\
             Access duration:   {duration}\n\
             Engineer:          {engineer}\n\
             Justification:     {justification}\n\
             Approved by:       {manager} (support manager)\n\
             Answers:           record #{sequence}, {answers}, link {link}\n\
             Valid until:       {valid_until}\n",
            decision = facts.decision.words(),
            approver = neutralize_links(facts.approver.as_str()),
            id = request.id,
            tenant = request.tenant,
            log = neutralize_links(facts.log),
            service_request = neutralize_links(request.service_request.as_str()),
            services = request.services,
            duration = request.access_duration,
            engineer = neutralize_links(request.engineer.as_str()),
            justification = neutralize_links(request.justification.as_str()),
            manager = neutralize_links(facts.approved_by.as_str()),
            sequence = facts.answered.sequence,
            answers = facts.decision.answers(),
            link = facts.answered.link,
            valid_until = facts.valid_until.format("%Y-%m-%d %H:%M:%S UTC"),
        );
        DecisionStatement { text }
    }

    /// The text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The bytes a signature is over.
    pub fn as_bytes(&self) -> &[u8] {
        self.text.as_bytes()
    }
}
