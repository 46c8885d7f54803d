//! Signed notes (C2SP signed-note, as Go's `golang.org/x/mod/sumdb/note` writes them) with
//! Ed25519: a text, a blank line, and one line per signature, `— <key name> <base64 of the key
//! hash and the signature>`. Checkpoints are signed in this form, so a customer can check them
//! with any of the ecosystem's verifiers, and this module checks notes as strictly as Go does
//! (`tests/evidence.rs` runs Go's vectors byte for byte).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use super::TlogError;

/// The algorithm byte of an Ed25519 key in the signed-note key encodings.
const ALG_ED25519: u8 = 0x01;
/// What starts every signature line: an em dash and a space.
const SIGNATURE_PREFIX: &str = "\u{2014} ";
/// The most signature lines a note may carry (as Go: more is refused, not parsed).
const MAX_SIGNATURES: usize = 100;

/// A note that is not a text, a blank line and signature lines.
fn malformed() -> TlogError {
    TlogError::Malformed {
        what: "signed note",
        why: "it is not a text, a blank line and signature lines `— name base64`: it was altered or cut",
    }
}

/// Whether `name` may name a key: non-empty, no white space, no `+`.
fn valid_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(char::is_whitespace) && !name.contains('+')
}

/// The 4-byte hash that identifies a key: SHA-256 of its name, a newline and its encoded key.
fn key_hash(name: &str, encoded: &[u8]) -> u32 {
    let mut hasher = Sha256::new();
    hasher.update(name.as_bytes());
    hasher.update(b"\n");
    hasher.update(encoded);
    let digest = hasher.finalize();
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// A key hash as written in a key: exactly 8 lowercase hex digits (the form Go prints), so that
/// one key has one spelling.
fn parse_key_hash(text: &str) -> Result<u32, TlogError> {
    let canonical = text.len() == 8 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    canonical
        .then(|| u32::from_str_radix(text, 16).ok())
        .flatten()
        .ok_or(TlogError::InvalidKey)
}

/// A log's public key in the signed-note form `name+hash+base64`: what a customer holds to
/// check the log's checkpoints.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifierKey {
    name: String,
    hash: u32,
    key: VerifyingKey,
}

impl VerifierKey {
    /// Reads a key in the form `name+hash+base64`.
    ///
    /// # Errors
    ///
    /// [`TlogError::InvalidKey`] for anything else, a hash that is not the key's own, or a key
    /// that is not Ed25519.
    pub fn parse(text: &str) -> Result<Self, TlogError> {
        let mut parts = text.splitn(3, '+');
        let (Some(name), Some(hash), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(TlogError::InvalidKey);
        };
        let hash = parse_key_hash(hash)?;
        let encoded = STANDARD.decode(key).map_err(|_| TlogError::InvalidKey)?;
        if !valid_name(name) || key_hash(name, &encoded) != hash {
            return Err(TlogError::InvalidKey);
        }
        let (Some(&ALG_ED25519), Ok(bytes)) = (
            encoded.first(),
            <[u8; 32]>::try_from(encoded.get(1..).unwrap_or_default()),
        ) else {
            return Err(TlogError::InvalidKey);
        };
        let key = VerifyingKey::from_bytes(&bytes).map_err(|_| TlogError::InvalidKey)?;
        Ok(VerifierKey {
            name: name.to_owned(),
            hash,
            key,
        })
    }

    /// The key's name (for a tenant's log, the log's origin).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key hash that signature lines carry.
    pub fn hash(&self) -> u32 {
        self.hash
    }
}

impl fmt::Display for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut encoded = vec![ALG_ED25519];
        encoded.extend_from_slice(self.key.as_bytes());
        write!(
            f,
            "{}+{:08x}+{}",
            self.name,
            self.hash,
            STANDARD.encode(encoded)
        )
    }
}

impl fmt::Debug for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VerifierKey({self})")
    }
}

/// An Ed25519 signing key held in this process, in the signed-note form
/// `PRIVATE+KEY+name+hash+base64`: for tests, examples and small deployments. A deployment that
/// keeps the key from the database's writers holds it elsewhere (an HSM, a KMS, another
/// service) behind the store's signer trait.
pub struct SignerKey {
    name: String,
    hash: u32,
    key: SigningKey,
}

impl SignerKey {
    /// Reads a key in the form `PRIVATE+KEY+name+hash+base64`.
    ///
    /// # Errors
    ///
    /// [`TlogError::InvalidKey`] for anything else.
    pub fn parse(text: &str) -> Result<Self, TlogError> {
        let rest = text
            .strip_prefix("PRIVATE+KEY+")
            .ok_or(TlogError::InvalidKey)?;
        let mut parts = rest.splitn(3, '+');
        let (Some(name), Some(hash), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(TlogError::InvalidKey);
        };
        let hash = parse_key_hash(hash)?;
        let encoded = STANDARD.decode(key).map_err(|_| TlogError::InvalidKey)?;
        let (Some(&ALG_ED25519), Ok(seed)) = (
            encoded.first(),
            <[u8; 32]>::try_from(encoded.get(1..).unwrap_or_default()),
        ) else {
            return Err(TlogError::InvalidKey);
        };
        let key = SigningKey::from_bytes(&seed);
        let mut public = vec![ALG_ED25519];
        public.extend_from_slice(key.verifying_key().as_bytes());
        if !valid_name(name) || key_hash(name, &public) != hash {
            return Err(TlogError::InvalidKey);
        }
        Ok(SignerKey {
            name: name.to_owned(),
            hash,
            key,
        })
    }

    /// The public key that checks this key's signatures.
    pub fn verifier(&self) -> VerifierKey {
        VerifierKey {
            name: self.name.clone(),
            hash: self.hash,
            key: self.key.verifying_key(),
        }
    }

    /// A key named `name` from its 32-byte Ed25519 seed. Keep the seed secret: whoever has it
    /// can sign checkpoints of the logs named `name`.
    ///
    /// # Errors
    ///
    /// [`TlogError::InvalidKey`] for a name a note cannot carry (empty, or with a space or `+`).
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<Self, TlogError> {
        if !valid_name(name) {
            return Err(TlogError::InvalidKey);
        }
        let key = SigningKey::from_bytes(seed);
        let mut public = vec![ALG_ED25519];
        public.extend_from_slice(key.verifying_key().as_bytes());
        Ok(SignerKey {
            name: name.to_owned(),
            hash: key_hash(name, &public),
            key,
        })
    }

    /// The key in the signed-note text form [`parse`](Self::parse) reads,
    /// `PRIVATE+KEY+name+hash+base64`: what a key file holds. Keep it secret: whoever has it can
    /// sign checkpoints of the logs this key names. (Not `Display`, so that no `{}` or log line
    /// prints it by accident.)
    pub fn to_secret_text(&self) -> String {
        let mut encoded = vec![ALG_ED25519];
        encoded.extend_from_slice(self.key.as_bytes());
        format!(
            "PRIVATE+KEY+{}+{:08x}+{}",
            self.name,
            self.hash,
            STANDARD.encode(encoded)
        )
    }

    /// The Ed25519 signature of `message`.
    pub(crate) fn sign_bytes(&self, message: &[u8]) -> [u8; 64] {
        self.key.sign(message).to_bytes()
    }

    /// Signs `text` as a note: the text, a blank line, this key's signature line.
    ///
    /// # Errors
    ///
    /// [`TlogError::InvalidText`] for a text a note cannot carry.
    pub fn sign(&self, text: &str) -> Result<String, TlogError> {
        check_text(text)?;
        let signature = self.key.sign(text.as_bytes());
        Ok(format!(
            "{text}\n{}",
            signature_line(&self.name, self.hash, &signature.to_bytes())
        ))
    }
}

impl fmt::Debug for SignerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SignerKey({}+{:08x}, ..)", self.name, self.hash)
    }
}

/// The note of `text` signed by `key` with `signature`: the text, a blank line, the signature
/// line. The signature is not checked here: open the note to check it.
#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
pub(crate) fn signed(text: &str, key: &VerifierKey, signature: &[u8; 64]) -> String {
    format!("{text}\n{}", signature_line(&key.name, key.hash, signature))
}

/// A signature line: `— name base64(hash || signature)` and a newline.
pub(crate) fn signature_line(name: &str, hash: u32, signature: &[u8; 64]) -> String {
    let mut bytes = hash.to_be_bytes().to_vec();
    bytes.extend_from_slice(signature);
    format!("{SIGNATURE_PREFIX}{name} {}\n", STANDARD.encode(bytes))
}

/// Refuses a text a note cannot carry: empty, not ending with a newline, or with a control
/// character other than the newline.
fn check_text(text: &str) -> Result<(), TlogError> {
    let clean = text.ends_with('\n') && !text.chars().any(|c| c < ' ' && c != '\n');
    if clean {
        Ok(())
    } else {
        Err(TlogError::InvalidText)
    }
}

/// A note whose signature by at least one trusted key verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedNote {
    text: String,
    /// The names of the trusted keys whose signatures verified.
    signed_by: Vec<String>,
    /// Signature lines by keys the caller did not name, kept unchecked.
    unverified: usize,
}

impl VerifiedNote {
    /// Reads `note` and checks its signatures by the `trusted` keys, as Go's `note.Open` does:
    /// every signature by a trusted key must verify (Ed25519, strictly), at least one must be
    /// there, and signatures by other keys are kept unchecked.
    ///
    /// # Errors
    ///
    /// [`TlogError::Malformed`] for a note that is not a text, a blank line and signature lines
    /// (or holds more than 100 of them); [`TlogError::InvalidSignature`] when a trusted key's
    /// signature does not verify; [`TlogError::Unverified`] when no signature is by a trusted
    /// key.
    pub fn open(note: &str, trusted: &[VerifierKey]) -> Result<VerifiedNote, TlogError> {
        open(note, trusted)
    }

    /// The signed text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The trusted keys whose signatures verified.
    pub fn signed_by(&self) -> &[String] {
        &self.signed_by
    }

    /// How many signatures are by keys the caller did not name (not checked).
    pub fn unverified(&self) -> usize {
        self.unverified
    }
}

/// [`VerifiedNote::open`].
pub(crate) fn open(note: &str, trusted: &[VerifierKey]) -> Result<VerifiedNote, TlogError> {
    if note.chars().any(|c| c < ' ' && c != '\n') {
        return Err(malformed());
    }
    let split = note.rfind("\n\n").ok_or(malformed())?;
    let (text, signatures) = (&note[..=split], &note[split + 2..]);
    if signatures.is_empty() || !signatures.ends_with('\n') {
        return Err(malformed());
    }
    let mut verified = VerifiedNote {
        text: text.to_owned(),
        signed_by: Vec::new(),
        unverified: 0,
    };
    let mut seen: Vec<&str> = Vec::new();
    for (count, line) in signatures.lines().enumerate() {
        if count >= MAX_SIGNATURES {
            return Err(malformed());
        }
        let signed = line.strip_prefix(SIGNATURE_PREFIX).ok_or(malformed())?;
        let (name, encoded) = signed.split_once(' ').ok_or(malformed())?;
        let bytes = STANDARD.decode(encoded).map_err(|_| malformed())?;
        if !valid_name(name) || encoded.is_empty() || bytes.len() < 5 {
            return Err(malformed());
        }
        let (hash, signature) = bytes.split_at(4);
        let hash = u32::from_be_bytes([hash[0], hash[1], hash[2], hash[3]]);
        let Some(key) = trusted
            .iter()
            .find(|key| key.name == name && key.hash == hash)
        else {
            if !seen.contains(&line) {
                seen.push(line);
                verified.unverified += 1;
            }
            continue;
        };
        if verified.signed_by.iter().any(|n| n == name) {
            continue;
        }
        let valid = Signature::from_slice(signature)
            .is_ok_and(|signature| key.key.verify_strict(text.as_bytes(), &signature).is_ok());
        if !valid {
            return Err(TlogError::InvalidSignature {
                name: name.to_owned(),
            });
        }
        verified.signed_by.push(name.to_owned());
    }
    if verified.signed_by.is_empty() {
        return Err(TlogError::Unverified);
    }
    Ok(verified)
}
