//! An OpenSSH signature (SSHSIG, `PROTOCOL.sshsig`) over a decision statement, checked.

use std::fmt;

use ssh_key::SshSig;

use super::CustomerKey;

/// The namespace every decision is signed in: `ssh-keygen -Y sign -n customer-lockbox`. A
/// signature made for anything else (git commits, files) is not a decision.
pub const SIGNATURE_NAMESPACE: &str = "customer-lockbox";

/// The longest armor taken: an SSHSIG of any supported key is well under 2 KiB.
const MAX_ARMOR: usize = 16 * 1024;
const BEGIN: &str = "-----BEGIN SSH SIGNATURE-----";
const END: &str = "-----END SSH SIGNATURE-----";
/// A security key's flag that its user touched it while it signed.
const USER_PRESENT: u8 = 0x01;

/// Why a key or a signature was refused: what was wrong, and what to do.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// The key line is not an OpenSSH public key.
    #[error("the key is not an OpenSSH public key line: {why}; give the line of its .pub file")]
    MalformedKey {
        /// What was wrong.
        why: &'static str,
    },
    /// The key's type is not one a decision may be signed with.
    #[error(
        "a {algorithm} key cannot sign decisions: use ssh-ed25519, ecdsa-sha2-nistp256, or a security key (sk-ssh-ed25519@openssh.com, sk-ecdsa-sha2-nistp256@openssh.com)"
    )]
    UnsupportedKey {
        /// The key's type.
        algorithm: String,
    },
    /// The text is not an SSH signature.
    #[error(
        "the signature is not an SSH signature ({why}): give the whole file `ssh-keygen -Y sign` wrote, from -----BEGIN SSH SIGNATURE----- to -----END SSH SIGNATURE-----"
    )]
    Malformed {
        /// What was wrong.
        why: &'static str,
    },
    /// The signature was made in another namespace.
    #[error(
        "the signature was made for {found:?}, not for a decision: sign with `ssh-keygen -Y sign -n customer-lockbox`"
    )]
    WrongNamespace {
        /// The namespace it was made in.
        found: String,
    },
    /// The signing key is none of the keys the decision may be signed with.
    #[error(
        "the signature is by the key {fingerprint}, which is not this person's key in the tenant's policy"
    )]
    UnknownKey {
        /// The signing key's fingerprint.
        fingerprint: String,
    },
    /// The signature does not verify over the statement: it is over another text, or altered.
    #[error(
        "the signature does not verify over this decision's statement: it was made over another text, or altered"
    )]
    Invalid,
    /// A security key's signature that does not say its user touched the key.
    #[error(
        "the security key signed without its user's touch (no user-presence flag): sign again and touch the key"
    )]
    NoUserPresence,
}

/// An SSH signature over a decision statement, as `ssh-keygen -Y sign -n customer-lockbox`
/// writes it: parsed and checked to be a lockbox decision's (its namespace and key type), not
/// yet verified against a statement and a person's keys ([`verify`](Self::verify)).
#[derive(Clone, PartialEq, Eq)]
pub struct DecisionSignature {
    armor: String,
    sig: SshSig,
}

impl DecisionSignature {
    /// Reads an armored SSH signature.
    ///
    /// # Errors
    ///
    /// [`SignatureError::Malformed`] for a text that is not one armored SSHSIG (too long, cut,
    /// other bytes around it, a blob that does not decode); [`SignatureError::WrongNamespace`];
    /// [`SignatureError::UnsupportedKey`].
    pub fn parse(armor: &str) -> Result<Self, SignatureError> {
        if armor.len() > MAX_ARMOR {
            return Err(SignatureError::Malformed {
                why: "it is longer than any SSH signature",
            });
        }
        let armor = armor.trim();
        if !armor.starts_with(BEGIN) || !armor.ends_with(END) {
            return Err(SignatureError::Malformed {
                why: "it does not begin and end with the SSH SIGNATURE armor lines",
            });
        }
        let sig = SshSig::from_pem(armor).map_err(|_| SignatureError::Malformed {
            why: "its contents do not decode as an SSHSIG signature",
        })?;
        if sig.namespace() != SIGNATURE_NAMESPACE {
            return Err(SignatureError::WrongNamespace {
                found: sig.namespace().chars().take(64).collect(),
            });
        }
        if !super::supported(&sig.algorithm()) {
            return Err(SignatureError::UnsupportedKey {
                algorithm: sig.algorithm().as_str().to_owned(),
            });
        }
        Ok(DecisionSignature {
            armor: armor.to_owned(),
            sig,
        })
    }

    /// The armor, as given (trimmed): what a record keeps.
    pub fn as_armor(&self) -> &str {
        &self.armor
    }

    /// The fingerprint of the key that made it (`SHA256:...`).
    pub fn signer_fingerprint(&self) -> String {
        self.sig
            .public_key()
            .fingerprint(ssh_key::HashAlg::Sha256)
            .to_string()
    }

    /// Checks that one of `keys` signed `statement`: the key's index among them.
    ///
    /// # Errors
    ///
    /// [`SignatureError::UnknownKey`] when none of `keys` made it; [`SignatureError::Invalid`]
    /// when it is not over `statement`; [`SignatureError::NoUserPresence`] for a security
    /// key's signature made without its user's touch.
    pub fn verify(&self, statement: &[u8], keys: &[CustomerKey]) -> Result<usize, SignatureError> {
        let (index, key) = keys
            .iter()
            .enumerate()
            .find(|(_, key)| key.public_key().key_data() == self.sig.public_key())
            .ok_or_else(|| SignatureError::UnknownKey {
                fingerprint: self.signer_fingerprint(),
            })?;
        key.public_key()
            .verify(SIGNATURE_NAMESPACE, statement, &self.sig)
            .map_err(|_| SignatureError::Invalid)?;
        if key.is_security_key() && self.security_key_flags() & USER_PRESENT == 0 {
            return Err(SignatureError::NoUserPresence);
        }
        Ok(index)
    }

    /// A security key's flags byte: the fifth byte from the end of its signature (flags, then a
    /// 4-byte counter, follow the signature itself); 0 for another key.
    fn security_key_flags(&self) -> u8 {
        let bytes = self.sig.signature().as_bytes();
        bytes
            .len()
            .checked_sub(5)
            .and_then(|at| bytes.get(at))
            .copied()
            .unwrap_or(0)
    }
}

impl fmt::Debug for DecisionSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "DecisionSignature({} by {})",
            self.sig.algorithm().as_str(),
            self.signer_fingerprint()
        )
    }
}
