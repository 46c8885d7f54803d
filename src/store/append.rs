//! Appending to a tenant's log, written once for every backend and every kind of entry: from
//! the log's head and the new rows, the rows linked into the chain, the subtrees of the tree
//! they complete, and the new head. Pure: a backend reads the head, calls [`append`] and writes
//! what it returns, all in its transaction.

use super::columns::{AuditRow, PolicyRow};
use crate::audit::ChainHash;
use crate::tlog::{Frontier, NodeId, TreeHash};

/// The head of a tenant's log, where its next entry is appended: the last entry's chain
/// position and hash (0 and [`ChainHash::GENESIS`] for an empty log) and the edge of the tree
/// over its entries.
#[derive(Clone, Debug)]
pub(crate) struct LogTip {
    pub(crate) position: u64,
    pub(crate) hash: ChainHash,
    pub(crate) frontier: Frontier,
}

impl LogTip {
    /// The head of a log with no entries.
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    pub(crate) fn empty() -> LogTip {
        LogTip {
            position: 0,
            hash: ChainHash::GENESIS,
            frontier: Frontier::default(),
        }
    }
}

/// A row that is an entry of a tenant's log: an audit record's or a policy change's.
pub(crate) trait Entry: Clone {
    /// Links the row into the chain at `position`, after `previous`; returns its hash.
    fn link(&mut self, previous: ChainHash, position: u64) -> ChainHash;
    /// Its leaf in the tree, once linked.
    fn leaf_hash(&self) -> TreeHash;
}

impl Entry for AuditRow {
    fn link(&mut self, previous: ChainHash, position: u64) -> ChainHash {
        AuditRow::link(self, previous, position)
    }

    fn leaf_hash(&self) -> TreeHash {
        AuditRow::leaf_hash(self)
    }
}

impl Entry for PolicyRow {
    fn link(&mut self, previous: ChainHash, position: u64) -> ChainHash {
        PolicyRow::link(self, previous, position)
    }

    fn leaf_hash(&self) -> TreeHash {
        PolicyRow::leaf_hash(self)
    }
}

/// What appending rows to a log gives a backend to write: the rows linked in order, the
/// subtrees they complete, and the log's new head.
#[derive(Debug)]
pub(crate) struct Appended<R> {
    pub(crate) rows: Vec<R>,
    pub(crate) nodes: Vec<(NodeId, TreeHash)>,
    pub(crate) tip: LogTip,
}

/// Appends `rows` to the log at `tip`: each linked after the one before it, at the next
/// position, and its leaf pushed onto the tree.
pub(crate) fn append<R: Entry>(tip: &LogTip, rows: &[R]) -> Appended<R> {
    let LogTip {
        mut position,
        hash: mut previous,
        mut frontier,
    } = tip.clone();
    let mut nodes = Vec::with_capacity(2 * rows.len() + 8);
    let mut linked = Vec::with_capacity(rows.len());
    for row in rows {
        let mut row = row.clone();
        position = position.saturating_add(1);
        previous = row.link(previous, position);
        frontier.push(row.leaf_hash(), &mut nodes);
        linked.push(row);
    }
    Appended {
        rows: linked,
        nodes,
        tip: LogTip {
            position,
            hash: previous,
            frontier,
        },
    }
}
