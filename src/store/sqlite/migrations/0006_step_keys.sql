-- Schema version 6: idempotency keys. Never edit this file once released.
--
-- A step taken with an idempotency key keeps one row here, written in the step's own
-- transaction: the key (unique per request, so a second write with it fails and writes
-- nothing), the step it was given to, the revision the step left the request at, and what it
-- answered (`result`, JSON: done, a batch's report, a recorded refusal, or the instant refused
-- as ahead of the store's clock). A call with a key that is here takes nothing and answers the
-- same from the request's trail up to that revision. The rows are the platform's plumbing, not
-- evidence: they are outside the tenant's hash chain and log.

CREATE TABLE step_keys (
    request_id        TEXT NOT NULL REFERENCES requests (id),
    key               TEXT NOT NULL,
    step              TEXT NOT NULL,
    revision          INTEGER NOT NULL CHECK (revision > 0),
    result            TEXT NOT NULL,
    PRIMARY KEY (request_id, key)
) STRICT, WITHOUT ROWID;
