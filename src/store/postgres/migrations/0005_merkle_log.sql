-- Schema version 5 of the PostgreSQL store: each tenant's log is an RFC 6962 Merkle tree, with
-- signed checkpoints. Never edit this file once released: add a new migration instead.
--
-- Leaf n - 1 of a tenant's tree is the entry at chain position n (an audit row or a policy
-- change): SHA-256 of 0x00 and the bytes its chain link hashes, so the leaf covers every stored
-- column. The store keeps every perfect subtree (level 0 the leaves; `2^level` leaves ending at
-- leaf `last`), which is what an inclusion or consistency proof of any size reads: O(log n)
-- rows; keyed by their last leaf, a step's new nodes are neighbours at the end of the index. `chains.frontier` holds the tree's right edge at the chain head (the roots of the
-- perfect subtrees its leaves decompose into, largest first, 32 bytes each), read with the head
-- under the chain's lock, so a step appends its leaves without reading nodes.
--
-- Checkpoints (C2SP tlog-checkpoint: origin, size, root) are signed outside the database, by a
-- signer the store is given and never holds the key of, and kept, every one: `note` is the
-- signed note as the customer receives it. The trees of the records already stored are built
-- by the migration, in Rust, in the same transaction; it signs nothing.
--
-- `lockbox_save_step` gains `p_nodes` (the subtrees the step's records complete, as JSON
-- objects with `last`, `level` and `hash` in hex) and `p_to_frontier`, the tree's edge after them.

CREATE TABLE log_nodes (
    tenant            TEXT COLLATE "C" NOT NULL,
    last              BIGINT NOT NULL CHECK (last >= 0),
    level             SMALLINT NOT NULL CHECK (level BETWEEN 0 AND 63),
    hash              BYTEA NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (tenant, last, level)
);

CREATE TABLE checkpoints (
    tenant            TEXT COLLATE "C" NOT NULL,
    size              BIGINT NOT NULL CHECK (size > 0),
    root              BYTEA NOT NULL CHECK (length(root) = 32),
    note              TEXT NOT NULL,
    signed_at         TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (tenant, size)
);

ALTER TABLE chains ADD COLUMN frontier BYTEA NOT NULL DEFAULT '';

DROP FUNCTION lockbox_save_step(JSONB, BIGINT, BIGINT, BYTEA, BIGINT, BYTEA, JSONB, JSONB, TEXT,
                                BIGINT, BIGINT);

CREATE FUNCTION lockbox_save_step(
    p_request JSONB, p_expected BIGINT,
    p_from_position BIGINT, p_from_hash BYTEA, p_to_position BIGINT, p_to_hash BYTEA,
    p_audit JSONB, p_outbox JSONB,
    p_latest_at TEXT, p_max_skew_micros BIGINT, p_policy_version BIGINT,
    p_nodes JSONB, p_to_frontier BYTEA
) RETURNS BOOLEAN LANGUAGE plpgsql AS $$
DECLARE
    n requests;
BEGIN
    IF p_latest_at::timestamptz > clock_timestamp() + p_max_skew_micros * INTERVAL '1 microsecond' THEN
        RAISE EXCEPTION 'a record is stamped %, ahead of the server''s clock', p_latest_at
            USING ERRCODE = 'LB002';
    END IF;
    n := jsonb_populate_record(NULL::requests, p_request);
    IF p_expected = 0 THEN
        INSERT INTO requests SELECT n.* ON CONFLICT (id) DO NOTHING;
    ELSE
        UPDATE requests SET state = n.state, revision = n.revision, due_at = n.due_at
        WHERE id = n.id AND tenant = n.tenant AND revision = p_expected;
    END IF;
    IF NOT FOUND THEN
        RETURN FALSE;
    END IF;
    UPDATE chains SET position = p_to_position, hash = p_to_hash, frontier = p_to_frontier
    WHERE tenant = n.tenant AND position = p_from_position AND hash = p_from_hash;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'the chain of tenant % moved on from position %', n.tenant, p_from_position
            USING ERRCODE = 'LB001';
    END IF;
    IF p_policy_version IS NOT NULL AND p_policy_version <> (
        SELECT coalesce(max(version), 0) FROM policy_changes WHERE tenant = n.tenant
    ) THEN
        RAISE EXCEPTION 'the policy of tenant % changed from version %', n.tenant, p_policy_version
            USING ERRCODE = 'LB004';
    END IF;
    INSERT INTO audit SELECT * FROM jsonb_populate_recordset(NULL::audit, p_audit);
    INSERT INTO log_nodes (tenant, last, level, hash)
    SELECT n.tenant, m.last, m.level, decode(m.hash, 'hex')
    FROM jsonb_to_recordset(p_nodes) AS m(last BIGINT, level SMALLINT, hash TEXT);
    INSERT INTO outbox (request_id, sequence, kind, created_at, message, status, attempts,
                        lease_until)
    SELECT n.id, m.sequence, m.kind, m.created_at, m.message, 'pending', 0, m.created_at
    FROM jsonb_to_recordset(p_outbox) AS m(sequence BIGINT, kind TEXT, created_at TEXT, message TEXT);
    RETURN TRUE;
END;
$$;
