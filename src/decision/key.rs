//! A key a tenant's person holds, as an OpenSSH public key line.

use std::fmt;

use ssh_key::{Algorithm, HashAlg, PublicKey};

use super::SignatureError;

/// The longest public key line taken: far longer than any of the four key types needs.
const MAX_LINE: usize = 8 * 1024;

/// A public key a tenant's designated approver or administrator holds, as an OpenSSH public key
/// line (`ssh-ed25519 AAAA... megan@laptop`, what `~/.ssh/id_ed25519.pub` holds): one of
/// `ssh-ed25519`, `ecdsa-sha2-nistp256`, and the FIDO2 security-key forms
/// `sk-ssh-ed25519@openssh.com` and `sk-ecdsa-sha2-nistp256@openssh.com`.
///
/// Serialized as its line (without the comment, which is a label, not part of the key).
///
/// ```
/// use customer_lockbox::CustomerKey;
///
/// let key = CustomerKey::parse(
///     "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIKqPIpur+dQmhIEV6EWxOiyw/hyRzDGL4o7PWczotTx megan",
/// )?;
/// assert_eq!(key.algorithm(), "ssh-ed25519");
/// assert!(key.fingerprint().starts_with("SHA256:"));
/// # Ok::<(), customer_lockbox::SignatureError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct CustomerKey(PublicKey);

impl CustomerKey {
    /// Reads an OpenSSH public key line (`TYPE BASE64 [COMMENT]`).
    ///
    /// # Errors
    ///
    /// [`SignatureError::MalformedKey`] for a line that is not an OpenSSH public key;
    /// [`SignatureError::UnsupportedKey`] for another key type (RSA, DSA, other curves).
    pub fn parse(line: &str) -> Result<Self, SignatureError> {
        let line = line.trim();
        if line.len() > MAX_LINE {
            return Err(SignatureError::MalformedKey {
                why: "the line is longer than any supported key",
            });
        }
        let mut key = PublicKey::from_openssh(line).map_err(|_| SignatureError::MalformedKey {
            why: "it is not an OpenSSH public key line (TYPE BASE64 [COMMENT])",
        })?;
        // The comment labels a key; it is no part of it: two lines of one key are one key.
        key.set_comment("");
        if !super::supported(&key.algorithm()) {
            return Err(SignatureError::UnsupportedKey {
                algorithm: key.algorithm().as_str().to_owned(),
            });
        }
        Ok(CustomerKey(key))
    }

    /// The key's type, as OpenSSH names it (`ssh-ed25519`, ...).
    pub fn algorithm(&self) -> String {
        self.0.algorithm().as_str().to_owned()
    }

    /// Whether the key lives on a FIDO2 security key (its signatures must show the user was
    /// present).
    pub fn is_security_key(&self) -> bool {
        matches!(
            self.0.algorithm(),
            Algorithm::SkEd25519 | Algorithm::SkEcdsaSha2NistP256
        )
    }

    /// The key's fingerprint as `ssh-keygen -l` prints it (`SHA256:` and unpadded base64): what
    /// a person compares to pin the key.
    pub fn fingerprint(&self) -> String {
        self.0.fingerprint(HashAlg::Sha256).to_string()
    }

    /// The key as an OpenSSH public key line, without a comment.
    pub fn to_line(&self) -> String {
        self.0
            .to_openssh()
            .map(|line| line.trim_end().to_owned())
            .unwrap_or_default()
    }

    pub(super) fn public_key(&self) -> &PublicKey {
        &self.0
    }
}

/// By the key's line (parsed without its comment, as equality compares it).
impl std::hash::Hash for CustomerKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.to_line().hash(state);
    }
}

impl fmt::Debug for CustomerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "CustomerKey({} {})",
            self.algorithm(),
            self.fingerprint()
        )
    }
}

impl fmt::Display for CustomerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_line())
    }
}

impl serde::Serialize for CustomerKey {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_line())
    }
}

impl<'de> serde::Deserialize<'de> for CustomerKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let line = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        CustomerKey::parse(&line).map_err(serde::de::Error::custom)
    }
}
