-- Schema version 5: each tenant's log is an RFC 6962 Merkle tree, with signed checkpoints.
-- Never edit this file once released.
--
-- Leaf n - 1 of a tenant's tree is the entry at chain position n (an audit row or a policy
-- change): SHA-256 of 0x00 and the bytes its chain link hashes, so the leaf covers every stored
-- column. The store keeps every perfect subtree (level 0 the leaves; `2^level` leaves ending at
-- leaf `last`), which is what an inclusion or consistency proof of any size reads: O(log n)
-- rows. Each step writes the subtrees its records complete, in its own transaction; keyed by
-- their last leaf, they are all at the end of the tenant's range, so a step's nodes fill a page
-- or two instead of touching one page per level.
--
-- Checkpoints (C2SP tlog-checkpoint: origin, size, root) are signed outside the database, by a
-- signer the store is given and never holds the key of, and kept, every one: `note` is the
-- signed note as the customer receives it. The migration's hook builds the trees of the records
-- already stored, in chain order; it signs nothing (no signer is at hand when migrating).

CREATE TABLE log_nodes (
    tenant            TEXT NOT NULL,
    last              INTEGER NOT NULL CHECK (last >= 0),
    level             INTEGER NOT NULL CHECK (level BETWEEN 0 AND 63),
    hash              BLOB NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (tenant, last, level)
) STRICT, WITHOUT ROWID;

CREATE TABLE checkpoints (
    tenant            TEXT NOT NULL,
    size              INTEGER NOT NULL CHECK (size > 0),
    root              BLOB NOT NULL CHECK (length(root) = 32),
    note              TEXT NOT NULL,
    signed_at         TEXT NOT NULL,
    PRIMARY KEY (tenant, size)
) STRICT, WITHOUT ROWID;
