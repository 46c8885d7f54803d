//! The customer's decisions in a tenant's log, checked entry by entry: every policy change
//! signed as the rules require from the pinned root of trust on, every grant the policy
//! required signed by its approver, every signature over its own statement, in this log.

use std::collections::HashMap;

use super::entry::Entry;
use crate::audit::{AuditEventKind, AuditRecord, ChainHash};
use crate::decision::Verification;
use crate::policy::{PolicyChange, PolicyHistory};
use crate::record::SignedTrail;
use crate::values::RequestId;

/// The kind column of a policy change's entry.
pub(crate) const POLICY_CHANGED: &str = "policy_changed";
/// The kind column of the entry of a policy change refused for its signature (it changed
/// nothing; its record names who tried what, and why it was refused).
pub(crate) const POLICY_CHANGE_REFUSED: &str = "policy_change_refused";

/// How many of a log's customer decisions (grants, approvals, denials, revocations) were
/// signed by their person, and how many were not (those of policies without keys, and those
/// written before decisions were signed). A verified log's signed ones all verify, and none of
/// its unsigned ones needed a signature.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DecisionCount {
    /// Decisions that keep a signature, each verified.
    pub signed: u64,
    /// Decisions without one.
    pub unsigned: u64,
}

/// Where a signature's verification failed: the entry's position, its record, and why.
pub(crate) type Failure = (u64, Option<(RequestId, u64)>, String);

/// A signature's verification, at the entry at `position`, handed to the worker.
struct Job {
    position: u64,
    record: (RequestId, u64),
    verification: Verification,
}

/// The thread that runs signatures' verifications while the verifier reads on: it answers the
/// first failure, by position.
#[derive(Debug)]
struct Worker {
    jobs: std::sync::mpsc::Sender<Job>,
    thread: std::thread::JoinHandle<Option<Failure>>,
}

impl Worker {
    fn start() -> Option<Worker> {
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("lockbox-signatures".to_owned())
            .spawn(move || {
                let mut first: Option<Failure> = None;
                for job in queue {
                    if first.as_ref().is_some_and(|(at, ..)| *at < job.position) {
                        continue;
                    }
                    if let Err(fault) = job.verification.verify() {
                        let (request, sequence) = job.record;
                        let rule = crate::record::refused(fault);
                        first = Some((
                            job.position,
                            Some((request, sequence)),
                            format!("record #{sequence}: {rule}"),
                        ));
                    }
                }
                first
            })
            .ok()?;
        Some(Worker { jobs, thread })
    }
}

/// The decisions' check, as a verifier walks a log.
#[derive(Debug)]
pub(crate) struct Signatures {
    origin: String,
    pins: Vec<String>,
    history: Option<PolicyHistory>,
    trails: HashMap<RequestId, SignedTrail>,
    pub(crate) count: DecisionCount,
    /// The thread verifying signatures, once there is one to verify.
    worker: Option<Worker>,
}

impl Signatures {
    pub(crate) fn new(origin: &str) -> Self {
        Signatures {
            origin: origin.to_owned(),
            pins: Vec::new(),
            history: None,
            trails: HashMap::new(),
            count: DecisionCount::default(),
            worker: None,
        }
    }

    /// The first signature whose verification failed, once every entry was given.
    pub(crate) fn finish(&mut self) -> Option<Failure> {
        let worker = self.worker.take()?;
        drop(worker.jobs);
        worker.thread.join().ok().flatten()
    }

    /// Holds every root of trust of the log (its first version with keys, and any version that
    /// lists keys after one that listed none) to list one of `fingerprints` among its
    /// administrators' keys.
    pub(crate) fn pin(&mut self, fingerprints: &[&str]) {
        self.pins
            .extend(fingerprints.iter().map(|f| (*f).to_owned()));
    }

    /// Checks the entry `columns` make at `position`, whose link is `link`: why it does not
    /// hold, if it does not. A signature's cryptography is verified on the worker thread (its
    /// failure comes from [`finish`](Self::finish)).
    pub(crate) fn observe(
        &mut self,
        position: u64,
        columns: &Entry<'_, [u8]>,
        link: ChainHash,
    ) -> Result<(), String> {
        let kind = columns.kind;
        if kind == POLICY_CHANGED.as_bytes() {
            return self.policy_change(columns.record);
        }
        if kind == POLICY_CHANGE_REFUSED.as_bytes() {
            return serde_json::from_slice::<crate::policy::PolicyRefusal>(columns.record)
                .map(|_| ())
                .map_err(|err| format!("its record is not a refused policy change ({err})"));
        }
        use AuditEventKind as K;
        let relevant = [
            K::Drafted,
            K::ManagerApproved,
            K::ApproversNotified,
            K::Approved,
            K::Granted,
            K::Denied,
            K::Revoked,
        ]
        .iter()
        .any(|k| k.as_str().as_bytes() == kind);
        if !relevant {
            return Ok(());
        }
        let record: AuditRecord = serde_json::from_slice(columns.record)
            .map_err(|err| format!("its record is not an audit record ({err})"))?;
        if matches!(
            record.event().kind(),
            K::Approved | K::Granted | K::Denied | K::Revoked
        ) {
            match record.signature() {
                Some(_) => self.count.signed += 1,
                None => self.count.unsigned += 1,
            }
        }
        let history = self
            .history
            .get_or_insert_with(|| PolicyHistory::new(record.tenant()));
        let verification = self
            .trails
            .entry(record.request())
            .or_default()
            .next_deferred(&record, Some(link), history, Some(&self.origin))
            .map_err(|rule| format!("record #{}: {rule}", record.sequence()))?;
        if let Some(verification) = verification {
            let job = Job {
                position,
                record: (record.request(), record.sequence()),
                verification,
            };
            if self.worker.is_none() {
                self.worker = Worker::start();
            }
            // Without a thread, or with one gone, the verification runs here.
            let unsent = match &self.worker {
                Some(worker) => worker.jobs.send(job).err().map(|err| err.0),
                None => Some(job),
            };
            if let Some(job) = unsent
                && let Err(fault) = job.verification.verify()
            {
                let rule = crate::record::refused(fault);
                return Err(format!("record #{}: {rule}", record.sequence()));
            }
        }
        Ok(())
    }

    /// Checks a policy change's entry, and makes it the history's next version.
    fn policy_change(&mut self, record: &[u8]) -> Result<(), String> {
        let change: PolicyChange = serde_json::from_slice(record)
            .map_err(|err| format!("its record is not a policy change ({err})"))?;
        let version = change.version();
        if let Some(signed) = change.signature()
            && signed.log() != self.origin
        {
            return Err(format!(
                "policy version {version} was signed for the log {:?}, not this one",
                signed.log()
            ));
        }
        let history = self
            .history
            .get_or_insert_with(|| PolicyHistory::new(change.tenant()));
        let root = change.after().requires_signatures()
            && !change.before().is_some_and(|b| b.requires_signatures());
        if root && !self.pins.is_empty() {
            let pinned = change
                .after()
                .administrators()
                .iter()
                .flat_map(|a| a.keys())
                .any(|key| self.pins.contains(&key.fingerprint()));
            if !pinned {
                return Err(format!(
                    "policy version {version} is a root of trust (the first to list keys) and lists none of the pinned keys among its administrators' keys: it is not the policy the customer pinned"
                ));
            }
        }
        history
            .follow(change)
            .map_err(|err| format!("policy version {version}: {err}"))
    }
}
