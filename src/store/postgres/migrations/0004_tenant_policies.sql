-- Schema version 4 of the PostgreSQL store: tenants' policies, owned by the store. Never edit
-- this file once released: add a new migration instead.
--
-- Each change of a tenant's policy, numbered from 1: when it took effect, the tenant
-- administrator who made it, and the change's canonical JSON (format 2: who, when, the policy
-- before and after); the other columns are derived from it and checked against it on every
-- read. Each change is a record of the tenant's log: it takes the next position of the
-- tenant's hash chain, shared with the audit rows (under the chain's lock, as steps do), and
-- its hash covers every column the way an audit row's does (request id empty, sequence its
-- version, actor `tenant_admin`, kind `policy_changed`).
--
-- `lockbox_save_step` gains `p_policy_version`: the version of the tenant's policy the step was
-- decided under (NULL for a step that does not depend on the policy). After taking the chain
-- head, which serializes it with policy changes, it raises LB004, having written nothing, when
-- the tenant's latest policy version is another one: the node reads the policy again and redoes
-- the step.

CREATE TABLE policy_changes (
    tenant            TEXT COLLATE "C" NOT NULL,
    version           BIGINT NOT NULL CHECK (version > 0),
    at                TEXT COLLATE "C" NOT NULL,
    changed_by        TEXT COLLATE "C" NOT NULL,
    record            TEXT NOT NULL,
    chain_position    BIGINT NOT NULL CHECK (chain_position > 0),
    previous_hash     BYTEA NOT NULL,
    hash              BYTEA NOT NULL,
    PRIMARY KEY (tenant, version),
    UNIQUE (tenant, chain_position)
);

-- Each change's message to the approvers designated before and after it, written in the same
-- transaction as the change and delivered like the requests' messages: claimed under a lease,
-- rendered again from the stored change and checked before it is sent.
CREATE TABLE policy_outbox (
    tenant            TEXT COLLATE "C" NOT NULL,
    version           BIGINT NOT NULL,
    message           TEXT NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('pending', 'sent')),
    attempts          BIGINT NOT NULL CHECK (attempts >= 0),
    claim             TEXT,
    lease_until       TEXT NOT NULL,
    last_error        TEXT,
    finished_at       TEXT,
    PRIMARY KEY (tenant, version),
    FOREIGN KEY (tenant, version) REFERENCES policy_changes (tenant, version)
);

CREATE INDEX policy_outbox_due ON policy_outbox (lease_until) WHERE status = 'pending';

-- Record format 2: every stored request reads as format 2 (a format-1 trail is the format-2
-- trail with one approval required; its bytes, which the chain covers, stay as written).
UPDATE requests SET record_version = 2 WHERE record_version = 1;

DROP FUNCTION lockbox_save_step(JSONB, BIGINT, BIGINT, BYTEA, BIGINT, BYTEA, JSONB, JSONB, TEXT,
                                BIGINT);

CREATE FUNCTION lockbox_save_step(
    p_request JSONB, p_expected BIGINT,
    p_from_position BIGINT, p_from_hash BYTEA, p_to_position BIGINT, p_to_hash BYTEA,
    p_audit JSONB, p_outbox JSONB,
    p_latest_at TEXT, p_max_skew_micros BIGINT, p_policy_version BIGINT
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
    UPDATE chains SET position = p_to_position, hash = p_to_hash
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
    INSERT INTO outbox (request_id, sequence, kind, created_at, message, status, attempts,
                        lease_until)
    SELECT n.id, m.sequence, m.kind, m.created_at, m.message, 'pending', 0, m.created_at
    FROM jsonb_to_recordset(p_outbox) AS m(sequence BIGINT, kind TEXT, created_at TEXT, message TEXT);
    RETURN TRUE;
END;
$$;
