//! Decisions the customer signs: the keys a tenant's people hold ([`CustomerKey`], OpenSSH
//! public key lines, as git's `allowed_signers` lists them) and the OpenSSH signatures they make
//! with them ([`DecisionSignature`], SSHSIG, as `ssh-keygen -Y sign -n customer-lockbox` writes
//! it), over a [`DecisionStatement`] that names everything the decision is about.
//!
//! Pure code: parsing and checking need no store and no network, so a customer's auditor checks
//! a signed decision with the export alone. The cryptography is RustCrypto's `ssh-key`; what it
//! leaves to its caller is done here: only four key types are taken, the namespace and hash are
//! the lockbox's, a security key's signature must say its user was present, and nothing a
//! stranger hands in (1 MiB of garbage, a truncated armor) panics.

mod key;
mod policy;
mod signed;
mod sshsig;
mod statement;

pub use key::CustomerKey;
pub(crate) use policy::check_change;
pub use policy::{PolicyStatement, SignedChange};
pub(crate) use signed::{DecisionContext, Verification};
pub use signed::{SignatureFault, SignedDecision};
pub use sshsig::{DecisionSignature, SIGNATURE_NAMESPACE, SignatureError};
pub use statement::{Answered, Decision, DecisionStatement, StatementFacts};

/// Whether a key of `algorithm` may sign decisions: `ssh-ed25519`, `ecdsa-sha2-nistp256` and
/// their FIDO2 security-key forms.
fn supported(algorithm: &ssh_key::Algorithm) -> bool {
    use ssh_key::{Algorithm, EcdsaCurve};
    matches!(
        algorithm,
        Algorithm::Ed25519
            | Algorithm::SkEd25519
            | Algorithm::SkEcdsaSha2NistP256
            | Algorithm::Ecdsa {
                curve: EcdsaCurve::NistP256
            }
    )
}
