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
CREATE INDEX audit_by_hash ON audit (tenant, hash);

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
