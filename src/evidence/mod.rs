//! Evidence the customer can check without trusting the vendor: each tenant's audit records as
//! the leaves of an RFC 6962 Merkle tree, with proofs that a record is in the tree and that a
//! later tree extends an earlier one, and notes signed with Ed25519 in the C2SP signed-note form
//! that checkpoints of the tree are published in.
//!
//! Pure code: building and checking proofs needs no store, so a customer's auditor can run it on
//! an export with nothing else.

pub(crate) mod entry;
mod message;
mod signatures;
mod signer;
mod verify;

pub use entry::LogEntry;
pub use message::{Evidence, EvidenceError, RecordProof};
pub use signatures::DecisionCount;
#[cfg_attr(
    not(any(feature = "sqlite", feature = "postgres")),
    allow(unused_imports)
)]
pub(crate) use signatures::{POLICY_CHANGE_REFUSED, POLICY_CHANGED};
pub use signer::{CheckpointSigner, SignFuture, SignerError};
pub use verify::{ExportError, ExportLine, LogBreak, LogVerdict, LogVerifier, verify_export};

/// The origin of `tenant`'s log under the log name `name`: `<name>/<tenant id>`.
pub fn log_origin(name: &str, tenant: crate::values::TenantId) -> String {
    format!("{name}/{tenant}")
}
