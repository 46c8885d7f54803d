//! The one error of the transparency-log layer: why a key, a note, a checkpoint or a proof was
//! refused. Its predicates group the variants by what a caller does next.

/// Why a key, a note, a checkpoint or a proof was refused.
///
/// Match on the variant for the detail; ask the predicates for what to do next:
/// [`is_malformed`](Self::is_malformed) (the text was altered, cut or is not of its kind),
/// [`is_untrusted`](Self::is_untrusted) (no signature by a key you hold verifies),
/// [`is_disproved`](Self::is_disproved) (a well-formed proof does not prove its claim),
/// [`is_fork`](Self::is_fork) (the log signed two histories: keep both as evidence).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TlogError {
    /// The text is not a `what` in its C2SP text form.
    #[error("not a {what} in its C2SP text form: {why}")]
    Malformed {
        /// A note, a checkpoint or a proof.
        what: &'static str,
        /// What was wrong.
        why: &'static str,
    },
    /// A key is not `name+hash+base64` with a valid name, an 8-digit hex hash that is the key's
    /// own, and an Ed25519 key.
    #[error(
        "the key is not a signed-note Ed25519 key: expect name+8 hex digits+base64, as `lockbox keygen` writes it"
    )]
    InvalidKey,
    /// A note's text is empty, does not end with a newline, or holds a control character.
    #[error(
        "a note's text must be non-empty UTF-8 ending with a newline, without control characters"
    )]
    InvalidText,
    /// A signature by a known key does not verify: the text or the signature was altered.
    #[error("the signature by {name} does not verify: the note was altered after it was signed")]
    InvalidSignature {
        /// The key's name.
        name: String,
    },
    /// No signature is by a key the caller trusts.
    #[error(
        "the note carries no signature by a key you trust: check that you hold the log's public key"
    )]
    Unverified,
    /// The checkpoint is another log's.
    #[error("the checkpoint is of log {found:?}, not {expected:?}")]
    OtherLog {
        /// The origin expected.
        expected: String,
        /// The origin found.
        found: String,
    },
    /// The leaf index is not below the tree size.
    #[error("leaf {index} is not in a tree of {size} leaves: an index runs from 0 to size - 1")]
    IndexOutOfRange {
        /// The index.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// The second tree is smaller than the first: no tree grows by shrinking.
    #[error("a tree of {size2} leaves cannot extend one of {size1}")]
    TreeShrank {
        /// The first tree's size.
        size1: u64,
        /// The second tree's size.
        size2: u64,
    },
    /// A consistency proof from an empty tree: every tree extends it, so nothing is proved
    /// (as transparency-dev/merkle, this is refused rather than taken as a proof).
    #[error(
        "a consistency proof from an empty tree proves nothing: take one from a checkpoint of at least one leaf"
    )]
    FromEmptyTree,
    /// A consistency proof from another size than the checkpoint it is checked against: it
    /// proves nothing about that checkpoint.
    #[error(
        "the consistency proof is from a tree of {proof_from} entries, not from the checkpoint of {held} entries held: ask for a proof from size {held}"
    )]
    OtherOldSize {
        /// The size the proof is from.
        proof_from: u64,
        /// The held checkpoint's size.
        held: u64,
    },
    /// The proof has more or fewer hashes than a proof between these sizes has.
    #[error("the proof has the wrong number of hashes for these tree sizes")]
    WrongLength,
    /// The proof is well formed but leads to another root: the leaf is not in the tree, or the
    /// trees are not one log (a forked log, when both roots are signed).
    #[error(
        "the proof leads to another root: the leaf is not in that tree, or the two trees are not one log"
    )]
    RootMismatch,
    /// Two checkpoints signed by the log cannot both be true: the same size with different
    /// roots, or a later tree the log cannot prove extends the earlier one. Keep both: together
    /// they are evidence that the log was forked (shown to different readers as different
    /// histories) or rewritten.
    #[error(
        "the log {origin:?} signed two checkpoints that cannot both be true (size {size1} and size {size2}): it was forked or rewritten; keep both checkpoints as evidence"
    )]
    Forked {
        /// The log.
        origin: String,
        /// The earlier checkpoint's size.
        size1: u64,
        /// The later checkpoint's size.
        size2: u64,
    },
}

impl TlogError {
    /// The text is not what it claims to be (a key, a note, a checkpoint or a proof in its
    /// C2SP form): it was altered or cut, or is another kind of text.
    pub fn is_malformed(&self) -> bool {
        matches!(
            self,
            TlogError::Malformed { .. } | TlogError::InvalidKey | TlogError::InvalidText
        )
    }

    /// No signature verifies by a key the caller holds for this log: a signature was altered,
    /// none is by a trusted key, or the checkpoint is another log's.
    pub fn is_untrusted(&self) -> bool {
        matches!(
            self,
            TlogError::InvalidSignature { .. } | TlogError::Unverified | TlogError::OtherLog { .. }
        )
    }

    /// A proof, well formed, does not prove what it was checked for: the entry is not in the
    /// tree, the trees are not one log, or the proof is for other sizes.
    pub fn is_disproved(&self) -> bool {
        matches!(
            self,
            TlogError::IndexOutOfRange { .. }
                | TlogError::TreeShrank { .. }
                | TlogError::FromEmptyTree
                | TlogError::OtherOldSize { .. }
                | TlogError::WrongLength
                | TlogError::RootMismatch
        )
    }

    /// The log signed two checkpoints that cannot both be true: keep both as evidence.
    pub fn is_fork(&self) -> bool {
        matches!(self, TlogError::Forked { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_answers_one_predicate() {
        let all = [
            TlogError::Malformed {
                what: "note",
                why: "cut",
            },
            TlogError::InvalidKey,
            TlogError::InvalidText,
            TlogError::InvalidSignature { name: "k".into() },
            TlogError::Unverified,
            TlogError::OtherLog {
                expected: "a".into(),
                found: "b".into(),
            },
            TlogError::IndexOutOfRange { index: 1, size: 1 },
            TlogError::TreeShrank { size1: 2, size2: 1 },
            TlogError::FromEmptyTree,
            TlogError::OtherOldSize {
                proof_from: 1,
                held: 2,
            },
            TlogError::WrongLength,
            TlogError::RootMismatch,
            TlogError::Forked {
                origin: "o".into(),
                size1: 1,
                size2: 2,
            },
        ];
        let counts = [
            all.iter().filter(|e| e.is_malformed()).count(),
            all.iter().filter(|e| e.is_untrusted()).count(),
            all.iter().filter(|e| e.is_disproved()).count(),
            all.iter().filter(|e| e.is_fork()).count(),
        ];
        assert_eq!(counts, [3, 3, 6, 1]);
        for error in &all {
            let answered = [
                error.is_malformed(),
                error.is_untrusted(),
                error.is_disproved(),
                error.is_fork(),
            ];
            assert_eq!(answered.iter().filter(|a| **a).count(), 1, "{error:?}");
        }
    }
}
