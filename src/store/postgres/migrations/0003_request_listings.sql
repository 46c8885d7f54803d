-- Schema version 3 of the PostgreSQL store. Never edit this file once released: add a new
-- migration instead.
--
-- Listings a platform's pages are built from: each request row gains the summary a list page
-- shows (support case, services, engineer, when drafted), taken from the request's first audit
-- record, which holds the draft; indexes serve each listing with keyset pagination, and the
-- outbox views across requests.
--
-- `lockbox_save_step` takes the request row and the audit rows as JSON objects keyed by column
-- name, populated into the tables' own row types: the column set is defined once, by the node,
-- and this function names no audit column. Before it writes, it checks the step's latest record
-- against the server's clock: further ahead than the node allows raises LB002, and nothing is
-- written. The digest check of version 2 (LB003) is gone: nodes only write steps they applied
-- to requests they read themselves, at a revision this function still checks.

ALTER TABLE requests ADD COLUMN service_request TEXT COLLATE "C";
ALTER TABLE requests ADD COLUMN services TEXT COLLATE "C";
ALTER TABLE requests ADD COLUMN engineer TEXT COLLATE "C";
ALTER TABLE requests ADD COLUMN drafted_at TEXT COLLATE "C";

UPDATE requests r SET
    service_request = a.record::jsonb #>> '{event,details,service_request}',
    services = (SELECT string_agg(s, ',' ORDER BY n)
                FROM jsonb_array_elements_text(a.record::jsonb #> '{event,details,services}')
                     WITH ORDINALITY AS e(s, n)),
    engineer = a.actor_id,
    drafted_at = a.at
FROM audit a
WHERE a.request_id = r.id AND a.sequence = 1;

UPDATE requests SET service_request = coalesce(service_request, ''),
                    services = coalesce(services, ''),
                    engineer = coalesce(engineer, ''),
                    drafted_at = coalesce(drafted_at, '');

ALTER TABLE requests ALTER COLUMN service_request SET NOT NULL,
                     ALTER COLUMN services SET NOT NULL,
                     ALTER COLUMN engineer SET NOT NULL,
                     ALTER COLUMN drafted_at SET NOT NULL;

DROP INDEX requests_by_tenant;
CREATE INDEX requests_by_tenant ON requests (tenant, drafted_at, id);
CREATE INDEX requests_by_tenant_state ON requests (tenant, state, drafted_at, id);
CREATE INDEX requests_by_engineer ON requests (engineer, drafted_at, id);
CREATE INDEX requests_by_service_request ON requests (service_request, drafted_at, id);
-- Only pending and granted requests have a due instant: one index serves the sweeper and the
-- "due before" listing, replacing version 1's (state, due_at).
DROP INDEX requests_due;
CREATE INDEX requests_by_due ON requests (due_at, id) WHERE due_at IS NOT NULL;

CREATE INDEX outbox_pending ON outbox (id) WHERE status = 'pending';
CREATE INDEX outbox_failed ON outbox (id) WHERE status = 'pending' AND last_error IS NOT NULL;

DROP FUNCTION lockbox_save_step(
    TEXT, TEXT, TEXT, BIGINT, TEXT, BIGINT, INTEGER, BIGINT, BYTEA, BIGINT, BYTEA,
    BIGINT[], BIGINT[], TEXT[], TEXT[], TEXT[], TEXT[], TEXT[], BYTEA[], BYTEA[],
    BIGINT[], TEXT[], TEXT[], TEXT[], BYTEA, TEXT, BIGINT);

-- A step in one round trip: the request row (inserted, or moved from the revision it was
-- loaded at), the tenant's chain head moved from the head the node expects to the head after
-- the step's records, then the records and the step's outbox entries. Hashes are computed by
-- the node, which knows the chain's format; this function only places them. Returns false,
-- having written nothing, when the request row is not where the step expects it (a conflict);
-- raises LB001 when another node has moved the chain (the node redoes the step under the
-- chain's lock), LB002 when a record is too far ahead of the server's clock.
CREATE FUNCTION lockbox_save_step(
    p_request JSONB, p_expected BIGINT,
    p_from_position BIGINT, p_from_hash BYTEA, p_to_position BIGINT, p_to_hash BYTEA,
    p_audit JSONB, p_outbox JSONB,
    p_latest_at TEXT, p_max_skew_micros BIGINT
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
    INSERT INTO audit SELECT * FROM jsonb_populate_recordset(NULL::audit, p_audit);
    INSERT INTO outbox (request_id, sequence, kind, created_at, message, status, attempts,
                        lease_until)
    SELECT n.id, m.sequence, m.kind, m.created_at, m.message, 'pending', 0, m.created_at
    FROM jsonb_to_recordset(p_outbox) AS m(sequence BIGINT, kind TEXT, created_at TEXT, message TEXT);
    RETURN TRUE;
END;
$$;
