-- Schema version 6 of the PostgreSQL store: idempotency keys. Never edit this file once
-- released: add a new migration instead.
--
-- A step taken with an idempotency key keeps one row here, written in the step's own
-- transaction: the key (unique per request, so a second write with it fails and writes
-- nothing), the step it was given to, the revision the step left the request at, and what it
-- answered (`result`, JSON: done, a batch's report, a recorded refusal, or the instant refused
-- as ahead of the store's clock). A call with a key that is here takes nothing and answers the
-- same from the request's trail up to that revision. The rows are the platform's plumbing, not
-- evidence: they are outside the tenant's hash chain and log.
--
-- `lockbox_save_step` gains `p_key` (NULL, or an object with `key`, `step` and `result`): the
-- row is inserted after the request row moves, and a key the request already has raises
-- `LB005`, which undoes the step. And `p_store_clock`: the clock the store was given (RFC 3339),
-- checked against instead of the server's `clock_timestamp()` when not NULL (a test's clock).

CREATE TABLE step_keys (
    request_id        TEXT COLLATE "C" NOT NULL REFERENCES requests (id),
    key               TEXT COLLATE "C" NOT NULL,
    step              TEXT NOT NULL,
    revision          BIGINT NOT NULL CHECK (revision > 0),
    result            TEXT NOT NULL,
    PRIMARY KEY (request_id, key)
);

DROP FUNCTION lockbox_save_step(JSONB, BIGINT, BIGINT, BYTEA, BIGINT, BYTEA, JSONB, JSONB, TEXT,
                                BIGINT, BIGINT, JSONB, BYTEA);

CREATE FUNCTION lockbox_save_step(
    p_request JSONB, p_expected BIGINT,
    p_from_position BIGINT, p_from_hash BYTEA, p_to_position BIGINT, p_to_hash BYTEA,
    p_audit JSONB, p_outbox JSONB,
    p_latest_at TEXT, p_max_skew_micros BIGINT, p_policy_version BIGINT,
    p_nodes JSONB, p_to_frontier BYTEA, p_key JSONB, p_store_clock TEXT
) RETURNS BOOLEAN LANGUAGE plpgsql AS $$
DECLARE
    n requests;
BEGIN
    IF p_latest_at::timestamptz > coalesce(p_store_clock::timestamptz, clock_timestamp())
                                  + p_max_skew_micros * INTERVAL '1 microsecond' THEN
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
    IF p_key IS NOT NULL THEN
        INSERT INTO step_keys (request_id, key, step, revision, result)
        VALUES (n.id, p_key->>'key', p_key->>'step', n.revision, p_key->>'result')
        ON CONFLICT DO NOTHING;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'request % already has a step with idempotency key %', n.id, p_key->>'key'
                USING ERRCODE = 'LB005';
        END IF;
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
