//! Verifies one tenant's log, entry by entry.

use std::collections::{BTreeMap, HashMap};

use super::{Evidence, LogEntry};
use crate::audit::{ChainHash, Tampering};
use crate::tlog::{Checkpoint, Frontier, TlogError, TreeHash, VerifierKey};
use crate::values::RequestId;

/// Where a log first fails verification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogBreak {
    /// The position of the first entry that is not what the log signed (from 1).
    pub position: u64,
    /// That entry's request and sequence, when an entry is there and names one.
    pub record: Option<(RequestId, u64)>,
    /// What the break looks like.
    pub tampering: Tampering,
    /// Why, in words.
    pub reason: String,
}

impl std::fmt::Display for LogBreak {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the log breaks at entry {}", self.position)?;
        if let Some((request, sequence)) = self.record {
            write!(f, " (request {request}, record #{sequence})")?;
        }
        write!(f, ": a record was {}: {}", self.tampering, self.reason)
    }
}

/// The outcome of verifying a log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogVerdict {
    /// Every entry links to the one before and hashes to its link, and every checkpoint's root
    /// is the root of the entries it covers.
    Verified {
        /// The number of entries.
        size: u64,
        /// The root of their tree.
        root: TreeHash,
        /// How many checkpoints (of distinct sizes) were checked.
        checkpoints: usize,
        /// How many entries the latest signed checkpoint covers (the first `covered`; 0 with
        /// no checkpoint at all). The others, `size - covered`, are in no signed checkpoint
        /// yet: the log holds them, but nothing signed vouches for them (see
        /// [`uncovered`](LogVerdict::uncovered)).
        covered: u64,
        /// The customer's decisions it holds, signed and unsigned: every signed one verified
        /// over its own statement by its person's key, and no unsigned one needed a signature.
        decisions: super::DecisionCount,
    },
    /// The first place the log is not what was signed.
    Broken(LogBreak),
}

impl LogVerdict {
    /// Whether the log verified.
    pub fn is_verified(&self) -> bool {
        matches!(self, LogVerdict::Verified { .. })
    }

    /// How many entries of a verified log no signed checkpoint covers (0 for a broken log,
    /// whose break is what matters). A log with entries and no checkpoint at all is all
    /// uncovered: its entries are linked, and nothing signed says they are the ones written.
    pub fn uncovered(&self) -> u64 {
        match self {
            LogVerdict::Verified { size, covered, .. } => size.saturating_sub(*covered),
            LogVerdict::Broken(_) => 0,
        }
    }
}

/// Verifies one tenant's log, entry by entry.
///
/// Verifying a tenant's log from its entries alone: pure code, so that a customer's auditor can
/// run it on an export, with the log's public key and the checkpoints they kept, and nothing
/// else (no database, no vendor).
///
/// A [`LogVerifier`] is given the signed checkpoints it should hold the log to, the customer's
/// own and the log's, each opened with the trusted key first, then the entries in log order. It
/// checks that each entry follows the one before (position and previous link), that its stored
/// link is the hash of its columns, and that the tree of the first `size` entries has the root
/// every checkpoint of that size signs. The first entry where any of this fails is named:
///
/// - an entry whose columns no longer hash to its link was **edited** (its link left alone);
/// - an entry out of place (a position missing, or one that does not follow its predecessor's
///   link) marks a **removed**, **reordered** or **inserted** one;
/// - an entry a held inclusion proof names (a post-access report proves each record of its
///   request) must be the entry proved there: if not, the record is named exactly, as
///   **edited** (the same record, other bytes), **removed** (another record the reader holds
///   from later in the log stands in its place), **reordered** (one from earlier does) or
///   **inserted** (one the reader never saw does);
/// - when every link holds (an insider recomputed them all) the signed roots still disagree:
///   the first entry after the last checkpoint that still matches is named. Checkpoints are
///   signed once per step that sends a message, so this is the first entry of the step whose
///   checkpoint the rewrite broke;
/// - a log that ends before a signed size was **truncated**.
#[derive(Debug)]
pub struct LogVerifier {
    origin: String,
    trusted: Vec<VerifierKey>,
    /// The signed roots, by size.
    roots: BTreeMap<u64, TreeHash>,
    frontier: Frontier,
    scratch: Vec<(crate::tlog::NodeId, TreeHash)>,
    previous: ChainHash,
    /// The first entry after the last checkpoint that matched.
    unconfirmed: Option<(u64, Option<(RequestId, u64)>)>,
    /// Held inclusion proofs, by leaf index: the record proved, the tree's size and root, the
    /// path.
    proofs: BTreeMap<u64, Vec<HeldProof>>,
    /// The leaf index each held record was proved at.
    proved_at: HashMap<(RequestId, u64), u64>,
    signatures: super::signatures::Signatures,
    broken: Option<LogBreak>,
}

/// An inclusion proof the reader holds.
#[derive(Debug)]
struct HeldProof {
    record: (RequestId, u64),
    size: u64,
    root: TreeHash,
    path: Vec<TreeHash>,
}

impl LogVerifier {
    /// A verifier of the log `origin`, whose checkpoints `trusted` keys sign.
    pub fn new(origin: &str, trusted: &[VerifierKey]) -> Self {
        LogVerifier {
            origin: origin.to_owned(),
            trusted: trusted.to_vec(),
            roots: BTreeMap::new(),
            frontier: Frontier::empty(),
            scratch: Vec::new(),
            previous: ChainHash::GENESIS,
            unconfirmed: None,
            proofs: BTreeMap::new(),
            proved_at: HashMap::new(),
            signatures: super::signatures::Signatures::new(origin),
            broken: None,
        }
    }

    /// Holds the log's roots of trust to the administrator keys of `fingerprints`
    /// (`SHA256:...`, as `ssh-keygen -l` prints them, from the first policy's message): the
    /// tenant's first policy version that lists keys (and any that lists keys after one that
    /// listed none) must list one of them among its administrators' keys. Without a pin, a
    /// vendor who set the first policy with keys of its own would go unnoticed.
    pub fn pin(&mut self, fingerprints: &[&str]) {
        self.signatures.pin(fingerprints);
    }

    /// Holds the log to what a message carried: its checkpoint, and each record proof in it
    /// (the entry at the proof's index must be the one proved). Give all evidence before the
    /// first entry.
    ///
    /// # Errors
    ///
    /// As [`hold`](Self::hold), for the checkpoint and each proof's.
    pub fn hold_evidence(&mut self, evidence: &Evidence) -> Result<(), TlogError> {
        self.hold(evidence.checkpoint())?;
        for proved in evidence.proofs() {
            let checkpoint = self.hold(proved.proof.checkpoint())?;
            let index = proved.proof.index();
            self.proved_at.insert(proved.record, index);
            self.proofs.entry(index).or_default().push(HeldProof {
                record: proved.record,
                size: checkpoint.size(),
                root: *checkpoint.root(),
                path: proved.proof.hashes().to_vec(),
            });
        }
        Ok(())
    }

    /// Holds the log to the signed checkpoint `signed` (a customer's, or one the log kept).
    /// Give every checkpoint before the first entry.
    ///
    /// # Errors
    ///
    /// The checkpoint's own error when it does not open for this log with a trusted key, and
    /// [`TlogError::Forked`] when another checkpoint of its size signs another root:
    /// keep both, they prove the log was forked.
    pub fn hold(&mut self, signed: &str) -> Result<Checkpoint, TlogError> {
        let checkpoint = Checkpoint::open(signed, &self.origin, &self.trusted)?;
        match self.roots.get(&checkpoint.size()) {
            Some(root) if root != checkpoint.root() => Err(TlogError::Forked {
                origin: self.origin.clone(),
                size1: checkpoint.size(),
                size2: checkpoint.size(),
            }),
            _ => {
                self.roots.insert(checkpoint.size(), *checkpoint.root());
                Ok(checkpoint)
            }
        }
    }

    fn fail(
        &mut self,
        position: u64,
        record: Option<(RequestId, u64)>,
        tampering: Tampering,
        reason: String,
    ) {
        self.broken.get_or_insert(LogBreak {
            position,
            record,
            tampering,
            reason,
        });
    }

    /// The next entry, in log order. Verification stops at the first break.
    pub fn push(&mut self, entry: &LogEntry) {
        self.push_linked(
            entry.position(),
            entry.previous_hash().as_bytes(),
            entry.hash().as_bytes(),
            &entry.columns(),
        );
    }

    /// The next entry, from its stored position, previous and own hashes (as stored bytes) and
    /// its columns (as stored bytes).
    pub(crate) fn push_linked(
        &mut self,
        position: u64,
        previous: &[u8],
        stored_hash: &[u8],
        columns: &super::entry::Entry<'_, [u8]>,
    ) {
        if self.broken.is_some() {
            return;
        }
        let link = columns.link(
            &ChainHash::from_slice(previous).unwrap_or(ChainHash::GENESIS),
            position,
        );
        let record = || {
            std::str::from_utf8(columns.request_id)
                .ok()
                .and_then(|id| RequestId::parse(id).ok())
                .map(|id| (id, columns.sequence))
        };
        let expected = self.frontier.size() + 1;
        if position != expected {
            let tampering = if position > expected {
                Tampering::Removed
            } else {
                Tampering::Inserted
            };
            return self.fail(
                expected,
                record(),
                tampering,
                format!("the entry at position {expected} is missing (found {position} there)"),
            );
        }
        if previous != self.previous.as_bytes().as_slice() {
            return self.fail(
                expected,
                record(),
                Tampering::Removed,
                "it does not follow the entry before it: an entry between them was removed, or this one moved or inserted".to_owned(),
            );
        }
        if stored_hash != link.as_bytes().as_slice() {
            return self.fail(
                expected,
                record(),
                Tampering::Edited,
                "its columns no longer hash to its link".to_owned(),
            );
        }
        self.previous = link;
        let leaf = super::entry::leaf_hash(&link);
        if let Some(held) = self.proofs.get(&(expected - 1)) {
            let record = record();
            let failed = held.iter().find(|proof| {
                crate::tlog::verify_inclusion(
                    expected - 1,
                    proof.size,
                    &leaf,
                    &proof.path,
                    &proof.root,
                )
                .is_err()
            });
            if let Some(proof) = failed {
                let claimed = proof.record;
                let (tampering, named) = match record
                    .and_then(|found| self.proved_at.get(&found).map(|at| (found, *at)))
                {
                    _ if record == Some(claimed) => (Tampering::Edited, claimed),
                    Some((_, at)) if at > expected - 1 => (Tampering::Removed, claimed),
                    Some((found, _)) => (Tampering::Reordered, found),
                    None => (Tampering::Inserted, record.unwrap_or(claimed)),
                };
                let (request, sequence) = claimed;
                return self.fail(
                    expected,
                    Some(named),
                    tampering,
                    format!(
                        "a proof the reader holds puts record #{sequence} of request {request} here, signed in the checkpoint of {} entries, and this entry is not it",
                        proof.size
                    ),
                );
            }
        }
        self.scratch.clear();
        self.frontier.push(leaf, &mut self.scratch);
        if self.unconfirmed.is_none() {
            self.unconfirmed = Some((expected, record()));
        }
        if let Some(signed) = self.roots.get(&expected) {
            if *signed == self.frontier.root() {
                self.unconfirmed = None;
            } else if let Some((position, record)) = self.unconfirmed {
                return self.fail(
                    position,
                    record,
                    Tampering::Edited,
                    format!(
                        "the entries from {position} to {expected} do not make the root the checkpoint of {expected} entries signs: one of them was edited, removed, reordered or inserted, and the links recomputed"
                    ),
                );
            }
        }
        if let Err(reason) = self.signatures.observe(expected, columns, link) {
            self.fail(expected, record(), Tampering::Forged, reason);
        }
    }

    /// The verdict, once every entry was given.
    pub fn finish(mut self) -> LogVerdict {
        // A signature verified on the side may fail before the first break found in order.
        if let Some((position, record, reason)) = self.signatures.finish()
            && self.broken.as_ref().is_none_or(|b| position < b.position)
        {
            self.broken = Some(LogBreak {
                position,
                record,
                tampering: Tampering::Forged,
                reason,
            });
        }
        if let Some(broken) = self.broken {
            return LogVerdict::Broken(broken);
        }
        let size = self.frontier.size();
        if let Some((&signed, _)) = self.roots.range(size + 1..).next() {
            // The first record the reader holds a proof of past the end is the one named.
            let record = self
                .proofs
                .range(size..)
                .find_map(|(_, held)| held.first().map(|proof| proof.record));
            return LogVerdict::Broken(LogBreak {
                position: size + 1,
                record,
                tampering: Tampering::Removed,
                reason: format!(
                    "the log ends after {size} entries, but a checkpoint of {signed} entries was signed: its tail was removed"
                ),
            });
        }
        LogVerdict::Verified {
            size,
            root: self.frontier.root(),
            checkpoints: self.roots.len(),
            // Past `size` was refused above: the latest is within the log.
            covered: self.roots.keys().next_back().copied().unwrap_or(0),
            decisions: self.signatures.count,
        }
    }
}

/// One line of a log's export (JSON Lines): a checkpoint the log kept, as its signed note, or
/// an entry with every stored column. An export lists the checkpoints first, then the entries
/// in log order.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ExportLine {
    /// A signed checkpoint the log kept.
    Checkpoint(String),
    /// An entry.
    Entry(Box<LogEntry>),
}

/// Why an export could not be verified at all (as opposed to a [`LogVerdict::Broken`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// Reading the export failed.
    #[error("reading the export failed: {0}")]
    Read(#[from] std::io::Error),
    /// A line is not an export line.
    #[error(
        "line {line} of the export is not a checkpoint or an entry ({reason}): use an export written by `lockbox export-log` (Store::export_log)"
    )]
    Line {
        /// The line's number, from 1.
        line: usize,
        /// What was wrong.
        reason: String,
    },
    /// A checkpoint (the export's, at `line`, or a held one, at line 0) does not open for the
    /// log with the trusted keys, or two of one size disagree: a forked log.
    #[error("checkpoint {} does not hold: {source}", if *.line == 0 { "held by the verifier".to_owned() } else { format!("at line {line}") })]
    Checkpoint {
        /// The line of the export's checkpoint, or 0 for a held one.
        line: usize,
        /// Why.
        source: TlogError,
    },
    /// No held checkpoint was given: without one, anybody who can write the export can write a
    /// log that verifies.
    #[error(
        "no checkpoint was given to hold the log to: give the latest one you received in a message"
    )]
    NothingHeld,
}

/// Verifies a log's export offline, with no database and no vendor: `held` is the evidence the
/// reader kept from messages (at least one checkpoint; [`Evidence::new`] for a checkpoint kept
/// alone), `trusted` the log's public keys, `origin` the tenant's log
/// ([`log_origin`](crate::evidence::log_origin)-style: `<log name>/<tenant id>`), `pins` the
/// fingerprints of the tenant administrators' keys the customer pinned from the first policy's
/// message (see [`LogVerifier::pin`]; none pins nothing). The export's own checkpoints are held
/// too, once their signatures check.
///
/// Every customer decision and policy change is checked as the store checks it: each policy
/// change signed by an administrator of the version before it (the first with keys by its
/// own), each grant under a policy with keys signed by its approver, and every signature over
/// its own statement, in this log ([`Tampering::Forged`] names the first that is not).
///
/// # Errors
///
/// [`ExportError`] when the export cannot be read, or a checkpoint does not hold.
pub fn verify_export(
    export: impl std::io::BufRead,
    origin: &str,
    trusted: &[VerifierKey],
    held: &[Evidence],
    pins: &[&str],
) -> Result<LogVerdict, ExportError> {
    if held.is_empty() {
        return Err(ExportError::NothingHeld);
    }
    let mut verifier = LogVerifier::new(origin, trusted);
    verifier.pin(pins);
    for evidence in held {
        verifier
            .hold_evidence(evidence)
            .map_err(|source| ExportError::Checkpoint { line: 0, source })?;
    }
    for (n, line) in export.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let parsed: ExportLine = serde_json::from_str(&line).map_err(|err| ExportError::Line {
            line: n + 1,
            reason: err.to_string(),
        })?;
        match parsed {
            ExportLine::Checkpoint(note) => {
                verifier
                    .hold(&note)
                    .map_err(|source| ExportError::Checkpoint {
                        line: n + 1,
                        source,
                    })?;
            }
            ExportLine::Entry(entry) => verifier.push(&entry),
        }
    }
    Ok(verifier.finish())
}
