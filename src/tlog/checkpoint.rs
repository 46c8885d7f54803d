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

use super::TlogError;
use super::merkle::{TreeHash, verify_inclusion};
use super::note::{self, SignerKey, VerifierKey};

/// The first line of a tlog-proof.
const TLOG_PROOF_HEADER: &str = "c2sp.org/tlog-proof@v1";
/// The first line of a consistency proof. C2SP's tlog-proof defines inclusion proofs only; a
/// consistency proof uses the same grammar under a header of its own, so that no reader takes
/// one for the other.
const CONSISTENCY_HEADER: &str = "customer-lockbox/consistency-proof@v1";

fn malformed(what: &'static str, why: &'static str) -> TlogError {
    TlogError::Malformed { what, why }
}

/// A log's state: its origin (the log's name), how many entries it holds, and the root hash
/// of the tree over them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    origin: String,
    size: u64,
    root: TreeHash,
    /// The extension lines after the root, as given: kept, so a checkpoint reads back to the
    /// same body (and its signature still verifies).
    extensions: Vec<String>,
}

impl Checkpoint {
    /// The checkpoint of the tree of `size` entries with `root`, in log `origin`.
    ///
    /// # Errors
    ///
    /// [`TlogError::Malformed`] for an origin that is empty or holds a control
    /// character (it is a line of the checkpoint).
    pub fn new(origin: &str, size: u64, root: TreeHash) -> Result<Self, TlogError> {
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
            extensions: Vec::new(),
        })
    }

    /// The same checkpoint with `lines` as its extension lines (C2SP tlog-checkpoint: after
    /// the root, each non-empty, for what a log or its ecosystem adds to a checkpoint).
    ///
    /// # Errors
    ///
    /// [`TlogError::Malformed`] for a line that is empty or holds a line break.
    pub fn with_extensions(
        mut self,
        lines: impl IntoIterator<Item = String>,
    ) -> Result<Self, TlogError> {
        let lines: Vec<String> = lines.into_iter().collect();
        if lines
            .iter()
            .any(|line| line.is_empty() || line.contains('\n'))
        {
            return Err(malformed(
                "checkpoint",
                "an extension line must be one non-empty line",
            ));
        }
        self.extensions = lines;
        Ok(self)
    }

    /// The extension lines after the root (none, for the checkpoints this crate signs).
    pub fn extensions(&self) -> &[String] {
        &self.extensions
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

    /// The checkpoint's body: origin, size and root, each on a line, then its extension lines.
    pub fn to_text(&self) -> String {
        let mut text = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            STANDARD.encode(self.root.as_bytes())
        );
        for line in &self.extensions {
            text.push_str(line);
            text.push('\n');
        }
        text
    }

    /// Reads a checkpoint's body, extension lines after the root included (kept, so
    /// [`to_text`](Self::to_text) gives the body back byte for byte).
    ///
    /// # Errors
    ///
    /// [`TlogError::Malformed`] for anything else.
    pub fn parse(text: &str) -> Result<Self, TlogError> {
        let what = "checkpoint";
        let body = text
            .strip_suffix('\n')
            .ok_or(malformed(what, "the body must end with a newline"))?;
        let mut lines = body.split('\n');
        let (Some(origin), Some(size), Some(root)) = (lines.next(), lines.next(), lines.next())
        else {
            return Err(malformed(what, "origin, size and root hash are needed"));
        };
        let extensions: Vec<String> = lines.map(str::to_owned).collect();
        if extensions.iter().any(String::is_empty) {
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
        Checkpoint::new(origin, size, root)?.with_extensions(extensions)
    }

    /// The checkpoint signed as a note by `key`.
    ///
    /// # Errors
    ///
    /// [`TlogError::InvalidText`] when the body cannot be signed (never, for a checkpoint made
    /// by [`new`](Self::new)).
    pub fn sign(&self, key: &SignerKey) -> Result<String, TlogError> {
        key.sign(&self.to_text())
    }

    /// Opens a signed checkpoint of log `origin`, checked with the `trusted` keys.
    ///
    /// # Errors
    ///
    /// [`TlogError::Unverified`] or [`TlogError::InvalidSignature`] when no trusted
    /// signature verifies, [`TlogError::OtherLog`]
    /// for another log's checkpoint, [`TlogError::Malformed`] for a body that is no
    /// checkpoint.
    pub fn open(signed: &str, origin: &str, trusted: &[VerifierKey]) -> Result<Self, TlogError> {
        let verified = note::open(signed, trusted)?;
        let checkpoint = Checkpoint::parse(verified.text())?;
        if checkpoint.origin != origin {
            return Err(TlogError::OtherLog {
                expected: origin.to_owned(),
                found: checkpoint.origin,
            });
        }
        Ok(checkpoint)
    }
}

/// A proof's text split into its lines after the `header` line, and the checkpoint after the
/// blank line.
fn proof_parts<'a>(
    text: &'a str,
    what: &'static str,
    header: &'static str,
) -> Result<(std::str::Split<'a, char>, &'a str), TlogError> {
    let (head, checkpoint) = text
        .split_once("\n\n")
        .ok_or(malformed(what, "a blank line must precede the checkpoint"))?;
    let mut lines = head.split('\n');
    if lines.next() != Some(header) {
        return Err(malformed(
            what,
            "the first line must name the format and its version",
        ));
    }
    Ok((lines, checkpoint))
}

/// A proof's text after its header lines: the hashes one per line, a blank line, the signed
/// checkpoint.
fn with_hashes_and_checkpoint(mut text: String, proof: &[TreeHash], checkpoint: &str) -> String {
    for hash in proof {
        let _ = writeln!(text, "{}", STANDARD.encode(hash.as_bytes()));
    }
    text.push('\n');
    text.push_str(checkpoint);
    text
}

/// A proof's hash lines, each a base64 SHA-256 hash.
fn hash_lines<'a>(
    lines: impl Iterator<Item = &'a str>,
    what: &'static str,
) -> Result<Vec<TreeHash>, TlogError> {
    lines
        .map(|line| {
            STANDARD
                .decode(line)
                .ok()
                .and_then(|bytes| TreeHash::from_slice(&bytes))
                .ok_or(malformed(
                    what,
                    "each proof line must be a base64 SHA-256 hash",
                ))
        })
        .collect()
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

    /// The proof's hashes, leaf to root (RFC 9162's inclusion path).
    pub fn hashes(&self) -> &[TreeHash] {
        &self.proof
    }

    /// The proof in its text form.
    pub fn to_text(&self) -> String {
        let mut text = format!("{TLOG_PROOF_HEADER}\n");
        if let Some(extra) = &self.extra {
            let _ = writeln!(text, "extra {}", STANDARD.encode(extra));
        }
        let _ = writeln!(text, "index {}", self.index);
        with_hashes_and_checkpoint(text, &self.proof, &self.checkpoint)
    }

    /// Reads a proof in its text form.
    ///
    /// # Errors
    ///
    /// [`TlogError::Malformed`] for anything else.
    pub fn parse(text: &str) -> Result<Self, TlogError> {
        let what = "tlog-proof";
        let (mut lines, checkpoint) = proof_parts(text, what, TLOG_PROOF_HEADER)?;
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
        let proof = hash_lines(lines, what)?;
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
    /// As [`Checkpoint::open`], and an error for which [`TlogError::is_disproved`] holds when
    /// the proof does not lead
    /// from `leaf` to the checkpoint's root.
    pub fn verify(
        &self,
        leaf: &TreeHash,
        origin: &str,
        trusted: &[VerifierKey],
    ) -> Result<Checkpoint, TlogError> {
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

/// A proof that a log's later tree extends an earlier one: the earlier size, the consistency
/// proof's hashes, and the later tree's signed checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsistencyProof {
    old_size: u64,
    proof: Vec<TreeHash>,
    checkpoint: String,
}

impl ConsistencyProof {
    /// The proof that the tree of the signed `checkpoint` extends the tree of `old_size`
    /// entries.
    pub fn new(old_size: u64, proof: Vec<TreeHash>, checkpoint: String) -> Self {
        ConsistencyProof {
            old_size,
            proof,
            checkpoint,
        }
    }

    /// The proof in its text form: `customer-lockbox/consistency-proof@v1`, `old <size>`, the
    /// hashes one per line, a blank line, the later tree's signed checkpoint.
    pub fn to_text(&self) -> String {
        let text = format!("{CONSISTENCY_HEADER}\nold {}\n", self.old_size);
        with_hashes_and_checkpoint(text, &self.proof, &self.checkpoint)
    }

    /// Reads a proof in its text form.
    ///
    /// # Errors
    ///
    /// [`TlogError::Malformed`] for anything else.
    pub fn parse(text: &str) -> Result<Self, TlogError> {
        let what = "consistency proof";
        let (mut lines, checkpoint) = proof_parts(text, what, CONSISTENCY_HEADER)?;
        let old_size = lines
            .next()
            .and_then(|l| l.strip_prefix("old "))
            .and_then(decimal)
            .ok_or(malformed(what, "an old line must follow"))?;
        let proof = hash_lines(lines, what)?;
        Ok(ConsistencyProof {
            old_size,
            proof,
            checkpoint: checkpoint.to_owned(),
        })
    }

    /// Checks that the later checkpoint (signed by a `trusted` key) extends `held`, a
    /// checkpoint of the same log the reader kept; returns the later checkpoint.
    ///
    /// # Errors
    ///
    /// As [`Checkpoint::open`]; [`TlogError::Forked`] when the two checkpoints cannot
    /// both be true (equal sizes with different roots, or a proof of the right form that does
    /// not join them); an error for which [`TlogError::is_disproved`] holds for a proof that is
    /// not for these sizes.
    pub fn verify(
        &self,
        held: &Checkpoint,
        trusted: &[VerifierKey],
    ) -> Result<Checkpoint, TlogError> {
        let later = Checkpoint::open(&self.checkpoint, &held.origin, trusted)?;
        if self.old_size != held.size {
            return Err(TlogError::OtherOldSize {
                proof_from: self.old_size,
                held: held.size,
            });
        }
        match super::merkle::verify_consistency(
            held.size,
            later.size,
            &self.proof,
            &held.root,
            &later.root,
        ) {
            Ok(()) => Ok(later),
            Err(TlogError::RootMismatch) => Err(TlogError::Forked {
                origin: held.origin.clone(),
                size1: held.size,
                size2: later.size,
            }),
            Err(err) => Err(err),
        }
    }
}

/// Two checkpoints of one log with the same size must have the same root: `Err` with the
/// evidence of a fork when they do not.
///
/// # Errors
///
/// [`TlogError::Forked`].
pub fn check_same_size(a: &Checkpoint, b: &Checkpoint) -> Result<(), TlogError> {
    if a.origin == b.origin && a.size == b.size && a.root != b.root {
        return Err(TlogError::Forked {
            origin: a.origin.clone(),
            size1: a.size,
            size2: b.size,
        });
    }
    Ok(())
}
