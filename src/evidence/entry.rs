//! One entry of a tenant's log: an audit record or a policy change as stored, every column of
//! it, in the form an export carries (one JSON object per line) and the offline verifier reads.
//!
//! The entry's leaf in the tenant's Merkle tree is its chain link, the SHA-256 hash over the
//! previous link, its position and every stored column (see [`chain`](crate::audit::chain)):
//!
//! ```text
//! link(n) = SHA-256( link(n-1) ‖ n as 8 bytes big-endian ‖ for each field: length as 4 bytes big-endian ‖ field )
//! fields  = request_id, sequence (8 bytes big-endian), tenant, at, actor_role, actor_id, kind, record
//! leaf(n) = SHA-256( 0x00 ‖ link(n) )          (leaf index n - 1, RFC 6962)
//! ```
//!
//! so one definition of a record's bytes serves the chain (which finds an edit without a key)
//! and the tree (whose signed roots a customer holds), the leaf covers every stored column
//! through the link, and a verifier hashes each record's bytes once.

use serde::{Deserialize, Serialize};

use super::TreeHash;
use crate::audit::ChainHash;
use crate::values::RequestId;

/// The fields of a record a link and a leaf hash, in order (see the [module](self) docs).
#[allow(clippy::too_many_arguments)] // one argument per hashed column, in hash order
pub(crate) fn entry_fields<'a>(
    request: &'a [u8],
    sequence: &'a [u8; 8],
    tenant: &'a [u8],
    at: &'a [u8],
    actor_role: &'a [u8],
    actor_id: &'a [u8],
    kind: &'a [u8],
    record: &'a [u8],
) -> [&'a [u8]; 8] {
    [
        request, sequence, tenant, at, actor_role, actor_id, kind, record,
    ]
}

/// The link of an entry at `position` after `previous`, from its columns as text.
#[allow(clippy::too_many_arguments)] // one argument per hashed column, in hash order
pub(crate) fn link_of(
    previous: &ChainHash,
    position: u64,
    request: &str,
    sequence: u64,
    tenant: &str,
    at: &str,
    (actor_role, actor_id): (&str, &str),
    kind: &str,
    record: &str,
) -> ChainHash {
    let sequence = sequence.to_be_bytes();
    ChainHash::link(
        previous,
        position,
        &entry_fields(
            request.as_bytes(),
            &sequence,
            tenant.as_bytes(),
            at.as_bytes(),
            actor_role.as_bytes(),
            actor_id.as_bytes(),
            kind.as_bytes(),
            record.as_bytes(),
        ),
    )
}

/// The leaf of the entry whose chain link is `link`.
pub(crate) fn leaf_hash(link: &ChainHash) -> TreeHash {
    TreeHash::leaf(link.as_bytes())
}

/// An entry of a tenant's log, every stored column of it: what an export writes, one per line,
/// in log order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogEntry {
    position: u64,
    tenant: String,
    request_id: String,
    sequence: u64,
    at: String,
    actor_role: String,
    actor_id: String,
    kind: String,
    record: String,
    previous_hash: ChainHash,
    hash: ChainHash,
}

impl LogEntry {
    /// An entry from its stored columns.
    #[allow(clippy::too_many_arguments)] // one argument per stored column
    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
    pub(crate) fn from_columns(
        position: u64,
        tenant: &str,
        request_id: &str,
        sequence: u64,
        at: &str,
        actor_role: &str,
        actor_id: &str,
        kind: &str,
        record: &str,
        previous_hash: ChainHash,
        hash: ChainHash,
    ) -> LogEntry {
        LogEntry {
            position,
            tenant: tenant.to_owned(),
            request_id: request_id.to_owned(),
            sequence,
            at: at.to_owned(),
            actor_role: actor_role.to_owned(),
            actor_id: actor_id.to_owned(),
            kind: kind.to_owned(),
            record: record.to_owned(),
            previous_hash,
            hash,
        }
    }

    /// Its leaf hash in the tenant's Merkle tree (leaf index `position - 1`), from its columns:
    /// the leaf of the link they hash to, whatever its stored `hash` says.
    pub fn leaf_hash(&self) -> TreeHash {
        leaf_hash(&self.link_hash())
    }

    /// The link its columns hash to (after its stored `previous_hash`).
    pub fn link_hash(&self) -> ChainHash {
        link_of(
            &self.previous_hash,
            self.position,
            &self.request_id,
            self.sequence,
            &self.tenant,
            &self.at,
            (&self.actor_role, &self.actor_id),
            &self.kind,
            &self.record,
        )
    }

    /// Its position in the tenant's log, from 1.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// The tenant, as stored.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// The request the record belongs to; `None` for a policy change (or an unreadable id).
    pub fn request(&self) -> Option<RequestId> {
        RequestId::parse(&self.request_id).ok()
    }

    /// Its sequence within its request (a policy change: its version).
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    /// When it happened, as stored (RFC 3339, UTC).
    pub fn at(&self) -> &str {
        &self.at
    }

    /// The actor's role and id.
    pub fn actor(&self) -> (&str, &str) {
        (&self.actor_role, &self.actor_id)
    }

    /// What happened: the record's kind.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The record's canonical JSON.
    pub fn record(&self) -> &str {
        &self.record
    }

    /// The hash of the entry before it in the chain.
    pub fn previous_hash(&self) -> &ChainHash {
        &self.previous_hash
    }

    /// Its own chain hash.
    pub fn hash(&self) -> &ChainHash {
        &self.hash
    }
}
