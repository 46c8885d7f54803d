//! Verifying a tenant's log from its entries alone: pure code, so that a customer's auditor can
//! run it on an export, with the log's public key and the checkpoints they kept, and nothing
//! else (no database, no vendor).
//!
//! A [`LogVerifier`] is given the signed checkpoints it should hold the log to, the customer's
//! own and the log's, each opened with the trusted key first, then the entries in log order. It
//! checks that each entry follows the one before (position and previous link), that its stored
//! link is the hash of its columns, and that the tree of the first `size` entries has the root
//! every checkpoint of that size signs. The first entry where any of this fails is named:
//!
//! - an entry whose columns no longer hash to its link was **edited** (its link left alone);
//! - an entry out of place (a position missing, or one that does not follow its predecessor's
//!   link) marks a **removed**, **reordered** or **inserted** one;
//! - when every link holds (an insider recomputed them all) the signed roots still disagree:
//!   the first entry after the last checkpoint that still matches is named. Checkpoints are
//!   signed once per step that sends a message, so this is the first entry of the step whose
//!   checkpoint the rewrite broke;
//! - a log that ends before a signed size was **truncated**.

use std::collections::BTreeMap;

use super::{Checkpoint, CheckpointError, Frontier, LogEntry, TreeHash, VerifierKey};
use crate::audit::{ChainHash, Tampering};
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
    },
    /// The first place the log is not what was signed.
    Broken(LogBreak),
}

impl LogVerdict {
    /// Whether the log verified.
    pub fn is_verified(&self) -> bool {
        matches!(self, LogVerdict::Verified { .. })
    }
}

/// Verifies one tenant's log, entry by entry: see the [module](self) docs.
#[derive(Debug)]
pub struct LogVerifier {
    origin: String,
    trusted: Vec<VerifierKey>,
    /// The signed roots, by size.
    roots: BTreeMap<u64, TreeHash>,
    frontier: Frontier,
    scratch: Vec<(super::NodeId, TreeHash)>,
    previous: ChainHash,
    /// The first entry after the last checkpoint that matched.
    unconfirmed: Option<(u64, Option<(RequestId, u64)>)>,
    broken: Option<LogBreak>,
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
            broken: None,
        }
    }

    /// Holds the log to the signed checkpoint `signed` (a customer's, or one the log kept).
    /// Give every checkpoint before the first entry.
    ///
    /// # Errors
    ///
    /// The checkpoint's own error when it does not open for this log with a trusted key, and
    /// [`CheckpointError::Forked`] when another checkpoint of its size signs another root:
    /// keep both, they prove the log was forked.
    pub fn hold(&mut self, signed: &str) -> Result<Checkpoint, CheckpointError> {
        let checkpoint = Checkpoint::open(signed, &self.origin, &self.trusted)?;
        match self.roots.get(&checkpoint.size()) {
            Some(root) if root != checkpoint.root() => Err(CheckpointError::Forked {
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
        if self.broken.is_some() {
            return;
        }
        let expected = self.frontier.size() + 1;
        let record = entry.request().map(|request| (request, entry.sequence()));
        if entry.position() != expected {
            let tampering = if entry.position() > expected {
                Tampering::Removed
            } else {
                Tampering::Inserted
            };
            return self.fail(
                expected,
                record,
                tampering,
                format!(
                    "the entry at position {expected} is missing (found {} there)",
                    entry.position()
                ),
            );
        }
        if *entry.previous_hash() != self.previous {
            return self.fail(
                expected,
                record,
                Tampering::Removed,
                "it does not follow the entry before it: an entry between them was removed, or this one moved or inserted".to_owned(),
            );
        }
        let link = entry.link_hash();
        if link != *entry.hash() {
            return self.fail(
                expected,
                record,
                Tampering::Edited,
                "its columns no longer hash to its link".to_owned(),
            );
        }
        self.previous = link;
        self.scratch.clear();
        self.frontier
            .push(super::entry::leaf_hash(&link), &mut self.scratch);
        self.unconfirmed.get_or_insert((expected, record));
        if let Some(signed) = self.roots.get(&expected) {
            if *signed == self.frontier.root() {
                self.unconfirmed = None;
            } else if let Some((position, record)) = self.unconfirmed {
                self.fail(
                    position,
                    record,
                    Tampering::Edited,
                    format!(
                        "the entries from {position} to {expected} do not make the root the checkpoint of {expected} entries signs: one of them was edited, removed, reordered or inserted, and the links recomputed"
                    ),
                );
            }
        }
    }

    /// The verdict, once every entry was given.
    pub fn finish(self) -> LogVerdict {
        if let Some(broken) = self.broken {
            return LogVerdict::Broken(broken);
        }
        let size = self.frontier.size();
        if let Some((&signed, _)) = self.roots.range(size + 1..).next() {
            return LogVerdict::Broken(LogBreak {
                position: size + 1,
                record: None,
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
        }
    }
}
