-- Schema version 7: policy changes refused for their signature, on record. Never edit this file
-- once released.
--
-- A tenant whose policy lists keys accepts a change only signed by an administrator of the
-- version before it (its first keyed version, by its own administrator). A change refused for
-- its signature (missing, malformed, by another key, over another change) writes nothing to the
-- policy, and its attempt is kept here: a record of the tenant's log like a policy change, at the
-- next position of the tenant's hash chain and tree, its hash covering every column the way a
-- policy change's does (request id empty, sequence the version it would have made, actor
-- `tenant_admin`, kind `policy_change_refused`). Its record (JSON) names the administrator, the
-- policy tried and what was wrong with the signature; the signature itself is not kept.

CREATE TABLE policy_refusals (
    tenant            TEXT COLLATE "C" NOT NULL,
    version           BIGINT NOT NULL CHECK (version > 0),
    at                TEXT COLLATE "C" NOT NULL,
    changed_by        TEXT COLLATE "C" NOT NULL,
    record            TEXT NOT NULL,
    chain_position    BIGINT NOT NULL CHECK (chain_position > 0),
    previous_hash     BYTEA NOT NULL,
    hash              BYTEA NOT NULL,
    PRIMARY KEY (tenant, chain_position)
);
