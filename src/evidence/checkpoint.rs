//! Checkpoints (C2SP tlog-checkpoint) and inclusion proofs (C2SP tlog-proof), in their text
//! forms: what the customer is handed and keeps, and checks with the log's public key alone.
//!
//! A checkpoint's body is three lines, the log's origin, the tree size in decimal and the root
//! hash in base64, and is published as a signed note. A tlog-proof is
//! `c2sp.org/tlog-proof@v1`, an optional `extra` line, `index <n>`, the inclusion proof's
//! hashes one per line, a blank line, and the signed checkpoint verbatim.

use std::fmt::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::merkle::{ProofError, TreeHash, verify_inclusion};
use super::note::{self, NoteError, SignerKey, VerifierKey};

/// The first line of a tlog-proof.
const TLOG_PROOF_HEADER: &str = "c2sp.org/tlog-proof@v1";

/// Why a checkpoint or a proof was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The text is not a checkpoint or a proof in its C2SP form.
    #[error("not a {what} in its C2SP text form: {why}")]
    Malformed {
        /// A checkpoint or a proof.
        what: &'static str,
        /// What was wrong.
        why: &'static str,
    },
    /// The note it is signed in does not open with the trusted keys.
    #[error(transparent)]
    Note(#[from] NoteError),
    /// The checkpoint is another log's.
    #[error("the checkpoint is of log {found:?}, not {expected:?}")]
    OtherLog {
        /// The origin expected.
        expected: String,
        /// The origin found.
        found: String,
    },
    /// The proof does not prove the entry's inclusion in the checkpointed tree.
    #[error(transparent)]
    Proof(#[from] ProofError),
}

fn malformed(what: &'static str, why: &'static str) -> CheckpointError {
    CheckpointError::Malformed { what, why }
}

/// A log's state: its origin (the log's name), how many entries it holds, and the root hash
/// of the tree over them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    origin: String,
    size: u64,
    root: TreeHash,
}

impl Checkpoint {
    /// The checkpoint of the tree of `size` entries with `root`, in log `origin`.
    ///
    /// # Errors
    ///
    /// [`CheckpointError::Malformed`] for an origin that is empty or holds a control
    /// character (it is a line of the checkpoint).
    pub fn new(origin: &str, size: u64, root: TreeHash) -> Result<Self, CheckpointError> {
        if origin.is_empty() || origin.chars().any(char::is_control) {
            return Err(malformed(
                "checkpoint",
                "the origin must be one non-empty line",
            ));
        }
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
        })
    }

    /// The log's origin.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// How many entries the tree holds.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The tree's root hash.
    pub fn root(&self) -> &TreeHash {
        &self.root
    }

    /// The checkpoint's body: origin, size and root, each on a line.
    pub fn to_text(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            STANDARD.encode(self.root.as_bytes())
        )
    }

    /// Reads a checkpoint's body (extension lines after the root are allowed and ignored).
    ///
    /// # Errors
    ///
    /// [`CheckpointError::Malformed`] for anything else.
    pub fn parse(text: &str) -> Result<Self, CheckpointError> {
        let what = "checkpoint";
        let body = text
            .strip_suffix('\n')
            .ok_or(malformed(what, "the body must end with a newline"))?;
        let mut lines = body.split('\n');
        let (Some(origin), Some(size), Some(root)) = (lines.next(), lines.next(), lines.next())
        else {
            return Err(malformed(what, "origin, size and root hash are needed"));
        };
        if lines.any(str::is_empty) {
            return Err(malformed(what, "an extension line is empty"));
        }
        let size = decimal(size).ok_or(malformed(
            what,
            "the size must be a decimal number without leading zeros",
        ))?;
        let root = STANDARD
            .decode(root)
            .ok()
            .and_then(|bytes| TreeHash::from_slice(&bytes))
            .ok_or(malformed(what, "the root must be a base64 SHA-256 hash"))?;
        Checkpoint::new(origin, size, root)
    }

    /// The checkpoint signed as a note by `key`.
    ///
    /// # Errors
    ///
    /// [`CheckpointError::Note`] when the body cannot be signed (never, for a checkpoint made
    /// by [`new`](Self::new)).
    pub fn sign(&self, key: &SignerKey) -> Result<String, CheckpointError> {
        Ok(key.sign(&self.to_text())?)
    }

    /// Opens a signed checkpoint of log `origin`, checked with the `trusted` keys.
    ///
    /// # Errors
    ///
    /// [`CheckpointError::Note`] when no trusted signature verifies, [`CheckpointError::OtherLog`]
    /// for another log's checkpoint, [`CheckpointError::Malformed`] for a body that is no
    /// checkpoint.
    pub fn open(
        signed: &str,
        origin: &str,
        trusted: &[VerifierKey],
    ) -> Result<Self, CheckpointError> {
        let verified = note::open(signed, trusted)?;
        let checkpoint = Checkpoint::parse(verified.text())?;
        if checkpoint.origin != origin {
            return Err(CheckpointError::OtherLog {
                expected: origin.to_owned(),
                found: checkpoint.origin,
            });
        }
        Ok(checkpoint)
    }
}

/// A decimal number as C2SP writes it: ASCII digits, no sign, no leading zero but in `0`.
fn decimal(text: &str) -> Option<u64> {
    let canonical = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    canonical.then(|| text.parse().ok()).flatten()
}

/// An offline-verifiable proof that entry `index` is in a log (C2SP tlog-proof): the inclusion
/// proof and the signed checkpoint of the tree it leads to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlogProof {
    extra: Option<Vec<u8>>,
    index: u64,
    proof: Vec<TreeHash>,
    checkpoint: String,
}

impl TlogProof {
    /// The proof of entry `index` with `proof`, in the tree of the signed `checkpoint`.
    pub fn new(index: u64, proof: Vec<TreeHash>, checkpoint: String) -> Self {
        TlogProof {
            extra: None,
            index,
            proof,
            checkpoint,
        }
    }

    /// The entry's index in the log.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// The signed checkpoint, verbatim.
    pub fn checkpoint(&self) -> &str {
        &self.checkpoint
    }

    /// The proof in its text form.
    pub fn to_text(&self) -> String {
        let mut text = format!("{TLOG_PROOF_HEADER}\n");
        if let Some(extra) = &self.extra {
            let _ = writeln!(text, "extra {}", STANDARD.encode(extra));
        }
        let _ = writeln!(text, "index {}", self.index);
        for hash in &self.proof {
            let _ = writeln!(text, "{}", STANDARD.encode(hash.as_bytes()));
        }
        text.push('\n');
        text.push_str(&self.checkpoint);
        text
    }

    /// Reads a proof in its text form.
    ///
    /// # Errors
    ///
    /// [`CheckpointError::Malformed`] for anything else.
    pub fn parse(text: &str) -> Result<Self, CheckpointError> {
        let what = "tlog-proof";
        let (head, checkpoint) = text
            .split_once("\n\n")
            .ok_or(malformed(what, "a blank line must precede the checkpoint"))?;
        let mut lines = head.split('\n');
        if lines.next() != Some(TLOG_PROOF_HEADER) {
            return Err(malformed(
                what,
                "the first line must be c2sp.org/tlog-proof@v1",
            ));
        }
        let mut line = lines.next();
        let mut extra = None;
        if let Some(encoded) = line.and_then(|l| l.strip_prefix("extra ")) {
            extra = Some(
                STANDARD
                    .decode(encoded)
                    .map_err(|_| malformed(what, "the extra data must be base64"))?,
            );
            line = lines.next();
        }
        let index = line
            .and_then(|l| l.strip_prefix("index "))
            .and_then(decimal)
            .ok_or(malformed(what, "an index line must follow"))?;
        let proof = lines
            .map(|l| {
                STANDARD
                    .decode(l)
                    .ok()
                    .and_then(|bytes| TreeHash::from_slice(&bytes))
                    .ok_or(malformed(
                        what,
                        "each proof line must be a base64 SHA-256 hash",
                    ))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(TlogProof {
            extra,
            index,
            proof,
            checkpoint: checkpoint.to_owned(),
        })
    }

    /// Checks that `leaf` is the entry at this proof's index in log `origin`, as the checkpoint
    /// signed by a `trusted` key says; returns that checkpoint.
    ///
    /// # Errors
    ///
    /// As [`Checkpoint::open`], and [`CheckpointError::Proof`] when the proof does not lead
    /// from `leaf` to the checkpoint's root.
    pub fn verify(
        &self,
        leaf: &TreeHash,
        origin: &str,
        trusted: &[VerifierKey],
    ) -> Result<Checkpoint, CheckpointError> {
        let checkpoint = Checkpoint::open(&self.checkpoint, origin, trusted)?;
        verify_inclusion(
            self.index,
            checkpoint.size,
            leaf,
            &self.proof,
            &checkpoint.root,
        )?;
        Ok(checkpoint)
    }
}
