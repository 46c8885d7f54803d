//! Evidence the customer can check without trusting the vendor: each tenant's audit records as
//! the leaves of an RFC 6962 Merkle tree, with proofs that a record is in the tree and that a
//! later tree extends an earlier one.
//!
//! Pure code: building and checking proofs needs no store, so a customer's auditor can run it on
//! an export with nothing else.

pub mod merkle;

pub use merkle::{ProofError, TreeHash};
