-- Schema version 2 of the PostgreSQL store. Never edit this file once released: add a new
-- migration instead.
--
-- `lockbox_save_step` checks two more things before it writes, each raising its own SQLSTATE
-- so that nothing of the step is written:
--   LB002  a record of the step is later than the server's clock plus the skew the node allows
--          (the node records the attempt as refused, at the server's clock, instead);
--   LB003  the records the node counts as saved are not the stored ones (the request was loaded
--          elsewhere, or built from an edited record): SHA-256 over each stored record's JSON
--          and a newline, in sequence order, must equal the node's digest of its own.

DROP FUNCTION lockbox_save_step(
    TEXT, TEXT, TEXT, BIGINT, TEXT, BIGINT, INTEGER, BIGINT, BYTEA, BIGINT, BYTEA,
    BIGINT[], BIGINT[], TEXT[], TEXT[], TEXT[], TEXT[], TEXT[], BYTEA[], BYTEA[],
    BIGINT[], TEXT[], TEXT[], TEXT[]);

CREATE FUNCTION lockbox_save_step(
    p_id TEXT, p_tenant TEXT, p_state TEXT, p_revision BIGINT, p_due_at TEXT,
    p_expected BIGINT, p_record_version INTEGER,
    p_from_position BIGINT, p_from_hash BYTEA, p_to_position BIGINT, p_to_hash BYTEA,
    p_positions BIGINT[], p_sequences BIGINT[], p_ats TEXT[], p_actor_roles TEXT[],
    p_actor_ids TEXT[], p_kinds TEXT[], p_records TEXT[], p_previous_hashes BYTEA[],
    p_hashes BYTEA[],
    p_causes BIGINT[], p_message_kinds TEXT[], p_created_ats TEXT[], p_messages TEXT[],
    p_saved_digest BYTEA, p_latest_at TEXT, p_max_skew_micros BIGINT
) RETURNS BOOLEAN LANGUAGE plpgsql AS $$
BEGIN
    IF p_latest_at::timestamptz > clock_timestamp() + p_max_skew_micros * INTERVAL '1 microsecond' THEN
        RAISE EXCEPTION 'a record of request % is stamped % , ahead of the server''s clock', p_id, p_latest_at
            USING ERRCODE = 'LB002';
    END IF;
    IF p_expected = 0 THEN
        INSERT INTO requests (id, tenant, state, revision, due_at, record_version)
        VALUES (p_id, p_tenant, p_state, p_revision, p_due_at, p_record_version)
        ON CONFLICT (id) DO NOTHING;
    ELSE
        UPDATE requests SET state = p_state, revision = p_revision, due_at = p_due_at
        WHERE id = p_id AND tenant = p_tenant AND revision = p_expected;
    END IF;
    IF NOT FOUND THEN
        RETURN FALSE;
    END IF;
    IF p_expected > 0 AND p_saved_digest IS DISTINCT FROM (
        SELECT sha256(convert_to(string_agg(record || E'\n', '' ORDER BY sequence), 'UTF8'))
        FROM audit WHERE request_id = p_id AND sequence <= p_expected
    ) THEN
        RAISE EXCEPTION 'the records request % counts as saved are not the stored ones', p_id
            USING ERRCODE = 'LB003';
    END IF;
    UPDATE chains SET position = p_to_position, hash = p_to_hash
    WHERE tenant = p_tenant AND position = p_from_position AND hash = p_from_hash;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'the chain of tenant % moved on from position %', p_tenant, p_from_position
            USING ERRCODE = 'LB001';
    END IF;
    INSERT INTO audit (tenant, chain_position, request_id, sequence, at, actor_role, actor_id,
                       kind, record, previous_hash, hash)
    SELECT p_tenant, r.chain_position, p_id, r.sequence, r.at, r.actor_role, r.actor_id, r.kind,
           r.record, r.previous_hash, r.hash
    FROM unnest(p_positions, p_sequences, p_ats, p_actor_roles, p_actor_ids, p_kinds, p_records,
                p_previous_hashes, p_hashes)
        AS r(chain_position, sequence, at, actor_role, actor_id, kind, record, previous_hash, hash);
    INSERT INTO outbox (request_id, sequence, kind, created_at, message, status, attempts,
                        lease_until)
    SELECT p_id, m.sequence, m.kind, m.created_at, m.message, 'pending', 0, m.created_at
    FROM unnest(p_causes, p_message_kinds, p_created_ats, p_messages)
        AS m(sequence, kind, created_at, message);
    RETURN TRUE;
END;
$$;
