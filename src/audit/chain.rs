//! The per-tenant hash chain that makes a store's audit records tamper-evident.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::values::{RequestId, TenantId};

/// A SHA-256 hash in the chain.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct ChainHash([u8; 32]);

impl ChainHash {
    /// The hash before the first record: 32 zero bytes.
    pub const GENESIS: ChainHash = ChainHash([0; 32]);

    /// The hash of the record at `position` whose stored fields are `fields`, after
    /// `previous`.
    pub fn link(previous: &ChainHash, position: u64, fields: &[&[u8]]) -> ChainHash {
        let mut hasher = Sha256::new();
        hasher.update(previous.0);
        hasher.update(position.to_be_bytes());
        for field in fields {
            // Lengths over 4 GiB cannot occur (SQLite's own limit is 1 GB); saturate anyway.
            let len = u32::try_from(field.len()).unwrap_or(u32::MAX);
            hasher.update(len.to_be_bytes());
            hasher.update(field);
        }
        ChainHash(hasher.finalize().into())
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// A hash from raw bytes, if there are exactly 32.
    pub fn from_slice(bytes: &[u8]) -> Option<ChainHash> {
        <[u8; 32]>::try_from(bytes).ok().map(ChainHash)
    }
}

impl fmt::Display for ChainHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for ChainHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChainHash({self})")
    }
}

impl From<ChainHash> for String {
    fn from(hash: ChainHash) -> String {
        hash.to_string()
    }
}

impl TryFrom<String> for ChainHash {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        hex::decode(&text)
            .ok()
            .and_then(|bytes| ChainHash::from_slice(&bytes))
            .ok_or_else(|| format!("{text:?} is not 64 hexadecimal digits"))
    }
}

/// The end of a tenant's chain: how many records it holds and the last hash.
///
/// Each record a store saves gets the next position in its tenant's chain and a SHA-256 hash of
/// the previous hash (32 zero bytes before the first), its position, and every stored field of
/// the record (its canonical JSON and the columns searches use), each prefixed with its length.
/// The exact bytes, and how the same link is the leaf of the tenant's Merkle tree, are defined
/// once, in [`LogEntry`](crate::evidence::LogEntry).
///
/// Covering the columns means an edited column breaks the chain even when the JSON is left
/// alone, and verifying needs no decoding.
///
/// Editing, removing, reordering or inserting a record breaks the chain at that record, unless
/// the whole rest of the chain is recomputed. A chain carries no secret, so someone who can
/// write the database can recompute it; to detect that too, keep the [`ChainHead`] somewhere
/// the database's writers cannot reach (a ticket, a log shipped elsewhere) and compare.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainHead {
    /// The tenant.
    pub tenant: TenantId,
    /// The position of the last record (the number of records).
    pub position: u64,
    /// The hash of the last record.
    pub hash: ChainHash,
}

/// How a chain was tampered with, as far as the first break shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tampering {
    /// The record's content no longer matches its hash.
    Edited,
    /// Records are missing before this position (or at the end of the chain).
    Removed,
    /// The record links to a record that comes after it.
    Reordered,
    /// The record links to nothing in the chain: it was added from outside.
    Inserted,
    /// The record is linked and signed into the log, but it is a customer's decision or a
    /// policy change the customer did not sign (or signed as another): made by someone with
    /// the database and the log's key.
    Forged,
}

impl fmt::Display for Tampering {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Tampering::Edited => "edited",
            Tampering::Removed => "removed",
            Tampering::Reordered => "reordered",
            Tampering::Inserted => "inserted",
            Tampering::Forged => "forged",
        })
    }
}

/// The first place a tenant's chain breaks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainBreak {
    /// The tenant.
    pub tenant: TenantId,
    /// The chain position where the break shows.
    pub position: u64,
    /// The request and audit sequence number stored at that position, when a record is there.
    pub record: Option<(RequestId, u64)>,
    /// What the break looks like.
    pub tampering: Tampering,
}

impl fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the audit chain of tenant {} breaks at position {}",
            self.tenant, self.position
        )?;
        if let Some((request, sequence)) = self.record {
            write!(f, " (request {request}, record #{sequence})")?;
        }
        write!(
            f,
            ": a record was {}; restore the store from a verified backup and investigate who could write to it",
            self.tampering
        )
    }
}

/// The outcome of verifying a tenant's chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChainVerdict {
    /// Every record links to the one before, and the head matches the last record.
    Intact {
        /// The head: compare it with a copy kept elsewhere to detect a recomputed chain.
        head: Option<ChainHead>,
    },
    /// The chain breaks here.
    Broken(ChainBreak),
}

impl ChainVerdict {
    /// Whether the chain is intact.
    pub fn is_intact(&self) -> bool {
        matches!(self, ChainVerdict::Intact { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_matches_sha256_over_the_length_prefixed_fields() {
        let json = br#"{"sequence":1}"#;
        let mut input = vec![0u8; 32];
        input.extend_from_slice(&1u64.to_be_bytes());
        input.extend_from_slice(&2u32.to_be_bytes());
        input.extend_from_slice(b"ab");
        input.extend_from_slice(&(json.len() as u32).to_be_bytes());
        input.extend_from_slice(json);
        let expected: [u8; 32] = Sha256::digest(&input).into();
        let hash = ChainHash::link(&ChainHash::GENESIS, 1, &[b"ab", json]);
        assert_eq!(hash.as_bytes(), &expected);
        // Length prefixes keep field boundaries: moving a byte across them changes the hash.
        let moved = ChainHash::link(&ChainHash::GENESIS, 1, &[b"a", b"b{\"sequence\":1}"]);
        assert_ne!(hash, moved);
    }

    #[test]
    fn hashes_round_trip_as_hex() {
        let hash = ChainHash::link(&ChainHash::GENESIS, 7, &[b"x"]);
        assert_eq!(ChainHash::try_from(hash.to_string()), Ok(hash));
        assert!(ChainHash::try_from("zz".to_owned()).is_err());
        assert!(ChainHash::from_slice(&[0; 31]).is_none());
    }
}
