-- Schema version 1 of the PostgreSQL store. Never edit this file once released: add a new
-- migration instead.
--
-- The same tables as the SQLite store's schema 2, and `chains`, which holds each tenant's chain
-- head: a step locks its tenant's row, so writers on many nodes extend one chain in turn. Text
-- that is ordered or compared (ids, instants) uses the "C" collation, so order is byte order on
-- every server, whatever its locale: RFC 3339 instants then sort in time order.

CREATE TABLE requests (
    id                TEXT COLLATE "C" PRIMARY KEY,
    tenant            TEXT COLLATE "C" NOT NULL,
    state             TEXT NOT NULL CHECK (state IN
                          ('drafted', 'manager_approved', 'pending_customer', 'granted', 'closed')),
    revision          BIGINT NOT NULL CHECK (revision > 0),
    due_at            TEXT COLLATE "C",
    record_version    INTEGER NOT NULL
);

CREATE INDEX requests_due ON requests (state, due_at) WHERE due_at IS NOT NULL;
CREATE INDEX requests_by_tenant ON requests (tenant);

CREATE TABLE chains (
    tenant            TEXT COLLATE "C" PRIMARY KEY,
    position          BIGINT NOT NULL CHECK (position >= 0),
    hash              BYTEA NOT NULL
);

CREATE TABLE audit (
    tenant            TEXT COLLATE "C" NOT NULL,
    chain_position    BIGINT NOT NULL CHECK (chain_position > 0),
    request_id        TEXT COLLATE "C" NOT NULL REFERENCES requests (id),
    sequence          BIGINT NOT NULL CHECK (sequence > 0),
    at                TEXT COLLATE "C" NOT NULL,
    actor_role        TEXT COLLATE "C" NOT NULL,
    actor_id          TEXT COLLATE "C" NOT NULL,
    kind              TEXT COLLATE "C" NOT NULL,
    record            TEXT NOT NULL,
    previous_hash     BYTEA NOT NULL,
    hash              BYTEA NOT NULL,
    PRIMARY KEY (tenant, chain_position)
);

CREATE UNIQUE INDEX audit_by_request ON audit (request_id, sequence);
CREATE INDEX audit_by_time ON audit (at, request_id, sequence);
CREATE INDEX audit_by_tenant ON audit (tenant, at, request_id, sequence);
CREATE INDEX audit_by_actor ON audit (actor_role, actor_id, at, request_id, sequence);
CREATE INDEX audit_by_kind ON audit (kind, at, request_id, sequence);

CREATE TABLE outbox (
    id                BIGSERIAL PRIMARY KEY,
    request_id        TEXT COLLATE "C" NOT NULL REFERENCES requests (id),
    sequence          BIGINT NOT NULL CHECK (sequence > 0),
    kind              TEXT NOT NULL CHECK (kind IN
                          ('decision_needed', 'access_granted', 'no_access', 'access_ended')),
    created_at        TEXT COLLATE "C" NOT NULL,
    message           TEXT NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'dropped')),
    attempts          INTEGER NOT NULL CHECK (attempts >= 0),
    claim             TEXT,
    lease_until       TEXT COLLATE "C" NOT NULL,
    last_error        TEXT,
    finished_at       TEXT,
    UNIQUE (request_id, sequence),
    FOREIGN KEY (request_id, sequence) REFERENCES audit (request_id, sequence)
);

CREATE INDEX outbox_due ON outbox (lease_until, id) WHERE status = 'pending';

-- A step in one round trip: the request row (inserted, or moved from the revision it was
-- loaded at), the tenant's chain head moved from the head the node expects to the head after
-- the step's records, then the records and the step's outbox entries. Hashes are computed by
-- the node, which knows the chain's format; this function only places them. Returns false,
-- having written nothing, when the request row is not where the step expects it (a conflict);
-- raises SQLSTATE LB001 when another node has moved the chain, which undoes the request row
-- too, and the node redoes the step under the chain's lock.
CREATE FUNCTION lockbox_save_step(
    p_id TEXT, p_tenant TEXT, p_state TEXT, p_revision BIGINT, p_due_at TEXT,
    p_expected BIGINT, p_record_version INTEGER,
    p_from_position BIGINT, p_from_hash BYTEA, p_to_position BIGINT, p_to_hash BYTEA,
    p_positions BIGINT[], p_sequences BIGINT[], p_ats TEXT[], p_actor_roles TEXT[],
    p_actor_ids TEXT[], p_kinds TEXT[], p_records TEXT[], p_previous_hashes BYTEA[],
    p_hashes BYTEA[],
    p_causes BIGINT[], p_message_kinds TEXT[], p_created_ats TEXT[], p_messages TEXT[]
) RETURNS BOOLEAN LANGUAGE plpgsql AS $$
BEGIN
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
