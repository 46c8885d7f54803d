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

use crate::audit::ChainHash;
use crate::tlog::TreeHash;
use crate::values::RequestId;

/// An entry's hashed columns, borrowed from wherever they are held (a row a driver read, a
/// row about to be written, an exported line): the one definition of what a link covers, used
/// by every insert, read, export and verification. `T` is `str` for columns read as text, and
/// `[u8]` for a chain walk over stored bytes, which must hash whatever is stored, text or not.
#[derive(Debug)]
pub(crate) struct Entry<'a, T: ?Sized = str> {
    pub(crate) request_id: &'a T,
    pub(crate) sequence: u64,
    pub(crate) tenant: &'a T,
    pub(crate) at: &'a T,
    pub(crate) actor_role: &'a T,
    pub(crate) actor_id: &'a T,
    pub(crate) kind: &'a T,
    pub(crate) record: &'a T,
}

impl<T: ?Sized> Clone for Entry<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: ?Sized> Copy for Entry<'_, T> {}

impl<T: ?Sized + AsRef<[u8]>> Entry<'_, T> {
    /// The entry's link at `position` after `previous` (see the [module](self) docs).
    pub(crate) fn link(&self, previous: &ChainHash, position: u64) -> ChainHash {
        let sequence = self.sequence.to_be_bytes();
        ChainHash::link(
            previous,
            position,
            &[
                self.request_id.as_ref(),
                &sequence,
                self.tenant.as_ref(),
                self.at.as_ref(),
                self.actor_role.as_ref(),
                self.actor_id.as_ref(),
                self.kind.as_ref(),
                self.record.as_ref(),
            ],
        )
    }
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
    /// The entry `columns` make at `position`, linked by `previous_hash` and `hash`.
    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
    pub(crate) fn new(
        position: u64,
        columns: Entry<'_>,
        previous_hash: ChainHash,
        hash: ChainHash,
    ) -> LogEntry {
        LogEntry {
            position,
            tenant: columns.tenant.to_owned(),
            request_id: columns.request_id.to_owned(),
            sequence: columns.sequence,
            at: columns.at.to_owned(),
            actor_role: columns.actor_role.to_owned(),
            actor_id: columns.actor_id.to_owned(),
            kind: columns.kind.to_owned(),
            record: columns.record.to_owned(),
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
        self.columns().link(&self.previous_hash, self.position)
    }

    /// Its hashed columns, as bytes.
    pub(crate) fn columns(&self) -> Entry<'_, [u8]> {
        Entry {
            request_id: self.request_id.as_bytes(),
            sequence: self.sequence,
            tenant: self.tenant.as_bytes(),
            at: self.at.as_bytes(),
            actor_role: self.actor_role.as_bytes(),
            actor_id: self.actor_id.as_bytes(),
            kind: self.kind.as_bytes(),
            record: self.record.as_bytes(),
        }
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
