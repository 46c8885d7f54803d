-- Schema version 1. Never edit this file once released: add a new migration instead.

-- One row per request: its state and revision (how many audit records are saved), and the
-- instant time alone moves it on, for the sweeper.
CREATE TABLE requests (
    id                TEXT PRIMARY KEY NOT NULL,
    tenant            TEXT NOT NULL,
    state             TEXT NOT NULL CHECK (state IN
                          ('drafted', 'manager_approved', 'pending_customer', 'granted', 'closed')),
    revision          INTEGER NOT NULL CHECK (revision > 0),
    due_at            TEXT,
    record_version    INTEGER NOT NULL
) STRICT;

CREATE INDEX requests_due ON requests (state, due_at) WHERE due_at IS NOT NULL;
CREATE INDEX requests_by_tenant ON requests (tenant);

-- One row per audit record. `record` is the record's canonical JSON (format version 1); the
-- other columns are derived from it for searching, and checked against it on every read.
-- `chain_position`, `previous_hash` and `hash` form the tenant's hash chain, which covers every
-- column. Rows are clustered by chain, so verifying a tenant's chain reads them in order, and the
-- chain's head is its last row.
CREATE TABLE audit (
    tenant            TEXT NOT NULL,
    chain_position    INTEGER NOT NULL CHECK (chain_position > 0),
    request_id        TEXT NOT NULL REFERENCES requests (id),
    sequence          INTEGER NOT NULL CHECK (sequence > 0),
    at                TEXT NOT NULL,
    actor_role        TEXT NOT NULL,
    actor_id          TEXT NOT NULL,
    kind              TEXT NOT NULL,
    record            TEXT NOT NULL,
    previous_hash     BLOB NOT NULL,
    hash              BLOB NOT NULL,
    PRIMARY KEY (tenant, chain_position)
) STRICT, WITHOUT ROWID;

CREATE UNIQUE INDEX audit_by_request ON audit (request_id, sequence);
CREATE INDEX audit_by_time ON audit (at, request_id, sequence);
CREATE INDEX audit_by_tenant ON audit (tenant, at, request_id, sequence);
CREATE INDEX audit_by_actor ON audit (actor_role, actor_id, at, request_id, sequence);
CREATE INDEX audit_by_kind ON audit (kind, at, request_id, sequence);

-- Notifications to send, written in the same transaction as the step that caused them.
CREATE TABLE outbox (
    id                INTEGER PRIMARY KEY,
    request_id        TEXT NOT NULL REFERENCES requests (id),
    sequence          INTEGER NOT NULL,
    created_at        TEXT NOT NULL,
    message           TEXT NOT NULL,
    FOREIGN KEY (request_id, sequence) REFERENCES audit (request_id, sequence)
) STRICT;
