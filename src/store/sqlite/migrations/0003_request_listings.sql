-- Schema version 3: listings a platform's pages are built from. Never edit this file once
-- released.
--
-- Each request row gains the summary a list page shows (support case, services, engineer, when
-- drafted), taken from the request's first audit record, which holds the draft; loads check
-- these columns against the trail like every other. Indexes serve each listing with keyset
-- pagination, and the outbox views across requests.

ALTER TABLE requests ADD COLUMN service_request TEXT NOT NULL DEFAULT '';
ALTER TABLE requests ADD COLUMN services TEXT NOT NULL DEFAULT '';
ALTER TABLE requests ADD COLUMN engineer TEXT NOT NULL DEFAULT '';
ALTER TABLE requests ADD COLUMN drafted_at TEXT NOT NULL DEFAULT '';

UPDATE requests SET
    service_request = coalesce((SELECT json_extract(a.record, '$.event.details.service_request')
                                FROM audit a WHERE a.request_id = requests.id AND a.sequence = 1), ''),
    services = coalesce((SELECT group_concat(s.value, ',')
                         FROM audit a, json_each(a.record, '$.event.details.services') s
                         WHERE a.request_id = requests.id AND a.sequence = 1), ''),
    engineer = coalesce((SELECT a.actor_id FROM audit a
                         WHERE a.request_id = requests.id AND a.sequence = 1), ''),
    drafted_at = coalesce((SELECT a.at FROM audit a
                           WHERE a.request_id = requests.id AND a.sequence = 1), '');

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
