//! Who signs a log's checkpoints: a trait, so that the key can live where the database's writers
//! cannot reach it (an HSM, a cloud KMS, a signing service of its own). The store hands the
//! signer a checkpoint's text and gets 64 bytes back; it never sees the key, and it checks every
//! signature against the signer's public key before keeping it.
//!
//! [`SignerKey`] is the in-process signer, for tests, examples and deployments that accept the
//! key in the application's memory.

use std::future::Future;
use std::pin::Pin;

use crate::tlog::{SignerKey, VerifierKey};

/// What [`CheckpointSigner::sign`] returns: a boxed future, so a signer can be kept as a trait
/// object and call out to a remote service.
pub type SignFuture<'a> = Pin<Box<dyn Future<Output = Result<[u8; 64], SignerError>> + Send + 'a>>;

/// Signs checkpoints with Ed25519 (RFC 8032, pure Ed25519, as C2SP signed notes use it).
///
/// The [`verifier`](Self::verifier)'s name is the log's name: each tenant's log is the origin
/// `<name>/<tenant id>`, and customers trust the key by that name and its hash.
pub trait CheckpointSigner: Send + Sync {
    /// The public key that checks this signer's signatures, as customers are given it.
    fn verifier(&self) -> VerifierKey;

    /// The Ed25519 signature of `message` (a checkpoint's text, as signed notes sign it).
    fn sign<'a>(&'a self, message: &'a [u8]) -> SignFuture<'a>;

    /// The signature at once, without waiting on anything, for a signer that can (a key in
    /// this process): the store then signs inside the step's own transaction, one commit for
    /// both. `None`, the default, for a signer that must be awaited: the store signs after the
    /// step commits. The store checks every awaited signature against
    /// [`verifier`](Self::verifier), and the first signature given at once (a signer set up
    /// with another key than it publishes fails there); implement this only for a signer
    /// whose later signatures are made the same way, as [`SignerKey`]'s are.
    fn sign_at_once(&self, message: &[u8]) -> Option<Result<[u8; 64], SignerError>> {
        let _ = message;
        None
    }
}

/// A signer failed (the service was unreachable, refused, timed out): the source says how.
#[derive(Debug, thiserror::Error)]
#[error("the checkpoint signer failed: {0}")]
pub struct SignerError(#[source] Box<dyn std::error::Error + Send + Sync>);

impl SignerError {
    /// The failure of a signer, from its own error.
    pub fn new(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        SignerError(source.into())
    }
}

impl CheckpointSigner for SignerKey {
    fn verifier(&self) -> VerifierKey {
        SignerKey::verifier(self)
    }

    fn sign<'a>(&'a self, message: &'a [u8]) -> SignFuture<'a> {
        let signature = self.sign_bytes(message);
        Box::pin(std::future::ready(Ok(signature)))
    }

    fn sign_at_once(&self, message: &[u8]) -> Option<Result<[u8; 64], SignerError>> {
        Some(Ok(self.sign_bytes(message)))
    }
}
