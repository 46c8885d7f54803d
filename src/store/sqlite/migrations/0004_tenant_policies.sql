-- Schema version 4: tenants' policies, owned by the store. Never edit this file once released.
--
-- Each change of a tenant's policy, numbered from 1: when it took effect, the tenant
-- administrator who made it, and the change's canonical JSON (format 2: who, when, the policy
-- before and after); the other columns are derived from it and checked against it on every
-- read. Each change is a record of the tenant's log: it takes the next position of the
-- tenant's hash chain, shared with the audit rows, and its hash covers every column the way an
-- audit row's does (request id empty, sequence its version, actor `tenant_admin`, kind
-- `policy_changed`). A store decides every step against the version in force at the step's instant, and a
-- step's write is refused when a newer version was saved since the step read the policy.
-- Requests keep their format-1 rows (the chain covers their bytes); they read as format 2.

CREATE TABLE policy_changes (
    tenant            TEXT NOT NULL,
    version           INTEGER NOT NULL CHECK (version > 0),
    at                TEXT NOT NULL,
    changed_by        TEXT NOT NULL,
    record            TEXT NOT NULL,
    chain_position    INTEGER NOT NULL CHECK (chain_position > 0),
    previous_hash     BLOB NOT NULL,
    hash              BLOB NOT NULL,
    PRIMARY KEY (tenant, version),
    UNIQUE (tenant, chain_position)
) STRICT, WITHOUT ROWID;

-- Each change's message to the approvers designated before and after it, written in the same
-- transaction as the change and delivered like the requests' messages: claimed under a lease,
-- rendered again from the stored change and checked before it is sent.
CREATE TABLE policy_outbox (
    tenant            TEXT NOT NULL,
    version           INTEGER NOT NULL,
    message           TEXT NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('pending', 'sent')),
    attempts          INTEGER NOT NULL CHECK (attempts >= 0),
    claim             TEXT,
    lease_until       TEXT NOT NULL,
    last_error        TEXT,
    finished_at       TEXT,
    PRIMARY KEY (tenant, version),
    FOREIGN KEY (tenant, version) REFERENCES policy_changes (tenant, version)
) STRICT;

CREATE INDEX policy_outbox_due ON policy_outbox (lease_until) WHERE status = 'pending';

-- Record format 2: every stored request reads as format 2 (a format-1 trail is the format-2
-- trail with one approval required; its bytes, which the chain covers, stay as written).
UPDATE requests SET record_version = 2 WHERE record_version = 1;
