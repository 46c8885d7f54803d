//! A transparency log, generic: what Go splits into `golang.org/x/mod/sumdb/tlog` and
//! `sumdb/note`, and C2SP specifies as tlog-checkpoint, tlog-proof and signed-note.
//!
//! - **Merkle trees** (RFC 6962 / RFC 9162 §2.1): [`TreeHash`], the [`root`] of a tree, its
//!   [`inclusion_proof`]s and [`consistency_proof`]s, and their checks
//!   ([`verify_inclusion`], [`verify_consistency`]).
//! - **Signed notes** with Ed25519 keys in the signed-note form: [`SignerKey`],
//!   [`VerifierKey`], [`VerifiedNote`].
//! - **Checkpoints and proofs** in their C2SP text forms: [`Checkpoint`], [`TlogProof`],
//!   [`ConsistencyProof`].
//!
//! Pure code: no I/O, no store, nothing of the lockbox. The lockbox's log, whose entries are
//! audit records, is built on it in [`evidence`](crate::evidence). Every refusal is one
//! [`TlogError`].

mod checkpoint;
mod error;
mod merkle;
mod note;

pub use checkpoint::{Checkpoint, ConsistencyProof, TlogProof, check_same_size};
pub use error::TlogError;
pub use merkle::{
    TreeHash, consistency_proof, inclusion_proof, root, verify_consistency, verify_inclusion,
};
pub use note::{SignerKey, VerifiedNote, VerifierKey};

#[cfg_attr(
    not(any(feature = "sqlite", feature = "postgres")),
    allow(unused_imports)
)]
pub(crate) use merkle::{
    Frontier, NodeId, consistency_proof_from, inclusion_proof_from, nodes_read,
};
#[cfg_attr(
    not(any(feature = "sqlite", feature = "postgres")),
    allow(unused_imports)
)]
pub(crate) use note::{open as open_note, signed as signed_note};
