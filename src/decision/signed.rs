//! A signed decision as its record keeps it, and the one check of it: the workflow's, the
//! store's load and the offline verifier's.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{
    Answered, CustomerKey, Decision, DecisionSignature, DecisionStatement, SignatureError,
    StatementFacts,
};
use crate::audit::ChainHash;
use crate::request::Draft;
use crate::values::{ApproverId, SupportManagerId};

/// A person's signature over a decision, as the decision's record keeps it: the facts of the
/// statement a trail does not hold (the log's name and the link of the record the decision
/// answers) and the signature itself, as `ssh-keygen -Y sign` wrote it.
///
/// With the request's own trail, it rebuilds the exact statement that was signed, so anyone
/// holding the record checks it again: the store on every load, the customer offline. The
/// record, with it, is covered by the tenant's chain and tree.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SignedDecision {
    log: String,
    answers: Answered,
    signature: String,
}

impl SignedDecision {
    /// The signature `armor` over the statement of a decision in `log` answering `answers`.
    /// Nothing is checked here: the step that takes it checks it against the tenant's policy.
    pub fn new(log: impl Into<String>, answers: Answered, armor: &str) -> Self {
        SignedDecision {
            log: log.into(),
            answers,
            signature: armor.trim().to_owned(),
        }
    }

    /// The log the statement names (`NAME/TENANT_ID`).
    pub fn log(&self) -> &str {
        &self.log
    }

    /// The record the statement answers, with its link.
    pub fn answers(&self) -> Answered {
        self.answers
    }

    /// The signature, as armored text.
    pub fn armor(&self) -> &str {
        &self.signature
    }

    /// Checks it as the signature of the decision `context` describes, by one of `keys`: it
    /// must answer the record the decision answers, and verify over the statement it makes.
    pub(crate) fn check(
        &self,
        context: &DecisionContext<'_>,
        keys: &[CustomerKey],
    ) -> Result<(), SignatureFault> {
        self.prepare(context, keys.to_vec())?.verify()
    }

    /// Everything [`check`](Self::check) does but the cryptography: the answered record, the
    /// statement, the signature's armor; the verification that remains, to run anywhere (a
    /// verifier runs it on a thread of its own while it reads on).
    pub(crate) fn prepare(
        &self,
        context: &DecisionContext<'_>,
        keys: Vec<CustomerKey>,
    ) -> Result<Verification, SignatureFault> {
        if self.answers.sequence != context.answers {
            return Err(SignatureFault::WrongRecord);
        }
        Ok(Verification {
            statement: context.statement(&self.log, self.answers.link),
            signature: DecisionSignature::parse(&self.signature)?,
            keys,
        })
    }
}

/// A signature's verification over its statement, by one of its person's keys, prepared: only
/// the cryptography is left.
#[derive(Debug)]
pub(crate) struct Verification {
    statement: DecisionStatement,
    signature: DecisionSignature,
    keys: Vec<CustomerKey>,
}

impl Verification {
    /// Runs it.
    pub(crate) fn verify(&self) -> Result<(), SignatureFault> {
        self.signature
            .verify(self.statement.as_bytes(), &self.keys)
            .map(|_| ())
            .map_err(SignatureFault::from)
    }
}

/// What a decision is, as its request knows it: everything its statement names except the log
/// and the answered record's link, which the signature's record carries.
#[derive(Clone, Copy, Debug)]
pub(crate) struct DecisionContext<'a> {
    pub(crate) request: &'a Draft,
    pub(crate) approved_by: &'a SupportManagerId,
    /// The sequence of the record the decision answers.
    pub(crate) answers: u64,
    pub(crate) decision: Decision,
    pub(crate) approver: &'a ApproverId,
    pub(crate) valid_until: DateTime<Utc>,
}

impl DecisionContext<'_> {
    /// The statement of this decision in `log`, where the record it answers has `link`.
    pub(crate) fn statement(&self, log: &str, link: ChainHash) -> DecisionStatement {
        DecisionStatement::new(&StatementFacts {
            log,
            request: self.request,
            approved_by: self.approved_by,
            answered: Answered {
                sequence: self.answers,
                link,
            },
            decision: self.decision,
            approver: self.approver,
            valid_until: self.valid_until,
        })
    }
}

/// Why a decision's signature was refused, as a refused step's record keeps it (the signature
/// itself is not kept: it may be anything a caller sent).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SignatureFault {
    /// Not an SSH signature: cut, altered, too long, or something else altogether.
    Malformed,
    /// Made in another namespace than `customer-lockbox`.
    WrongNamespace,
    /// Made with a key type decisions are not signed with.
    UnsupportedKey,
    /// Made with a key that is not the person's in the tenant's policy at that instant.
    UnknownKey,
    /// Does not verify over the decision's statement: made for another request, tenant, log,
    /// decision or person, or altered.
    Invalid,
    /// A security key's signature without its user's touch.
    NoUserPresence,
    /// Answers another record than the one the decision answers.
    WrongRecord,
}

impl From<SignatureError> for SignatureFault {
    fn from(err: SignatureError) -> Self {
        match err {
            SignatureError::MalformedKey { .. } | SignatureError::Malformed { .. } => {
                SignatureFault::Malformed
            }
            SignatureError::WrongNamespace { .. } => SignatureFault::WrongNamespace,
            SignatureError::UnsupportedKey { .. } => SignatureFault::UnsupportedKey,
            SignatureError::UnknownKey { .. } => SignatureFault::UnknownKey,
            SignatureError::Invalid => SignatureFault::Invalid,
            SignatureError::NoUserPresence => SignatureFault::NoUserPresence,
        }
    }
}

impl fmt::Display for SignatureFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SignatureFault::Malformed => "it is not an SSH signature",
            SignatureFault::WrongNamespace => "it was made for another purpose than a decision (namespace)",
            SignatureFault::UnsupportedKey => "its key type cannot sign decisions",
            SignatureFault::UnknownKey => {
                "its key is not the person's in the tenant's policy at that instant"
            }
            SignatureFault::Invalid => {
                "it does not verify over this decision's statement (made for another decision, or altered)"
            }
            SignatureFault::NoUserPresence => "the security key signed without its user's touch",
            SignatureFault::WrongRecord => {
                "it answers another record than the one this decision answers"
            }
        })
    }
}
