-- Schema version 4: tenants' policies, owned by the store. Never edit this file once released.
--
-- Each change of a tenant's policy, numbered from 1: when it took effect, the tenant
-- administrator who made it, and the change's canonical JSON (format 2: who, when, the policy
-- before and after); the other columns are derived from it and checked against it on every
-- read. A store decides every step against the version in force at the step's instant, and a
-- step's write is refused when a newer version was saved since the step read the policy.
-- Requests keep their format-1 rows (the chain covers their bytes); they read as format 2.

CREATE TABLE policy_changes (
    tenant            TEXT NOT NULL,
    version           INTEGER NOT NULL CHECK (version > 0),
    at                TEXT NOT NULL,
    changed_by        TEXT NOT NULL,
    record            TEXT NOT NULL,
    PRIMARY KEY (tenant, version)
) STRICT, WITHOUT ROWID;
