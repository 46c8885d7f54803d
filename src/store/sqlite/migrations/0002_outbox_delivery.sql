-- Schema version 2: outbox delivery with leases. Never edit this file once released.
--
-- The outbox gains the notification's kind, a status, an attempt count, the claim of the
-- attempt holding a message and until when (`lease_until`, also the earliest instant of the next
-- attempt), the last failure, and when it was finished. Messages are stored without addresses:
-- they are looked up in the directory when sent. SQLite cannot add constraints to a table, so
-- the table is rebuilt.

CREATE TABLE outbox_v2 (
    id                INTEGER PRIMARY KEY,
    request_id        TEXT NOT NULL REFERENCES requests (id),
    sequence          INTEGER NOT NULL CHECK (sequence > 0),
    kind              TEXT NOT NULL CHECK (kind IN
                          ('decision_needed', 'access_granted', 'no_access', 'access_ended')),
    created_at        TEXT NOT NULL,
    message           TEXT NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'dropped')),
    attempts          INTEGER NOT NULL CHECK (attempts >= 0),
    claim             TEXT,
    lease_until       TEXT NOT NULL,
    last_error        TEXT,
    finished_at       TEXT,
    UNIQUE (request_id, sequence),
    FOREIGN KEY (request_id, sequence) REFERENCES audit (request_id, sequence)
) STRICT;

-- Version 1 wrote only the approvers' decision messages.
INSERT INTO outbox_v2 (id, request_id, sequence, kind, created_at, message, status, attempts,
                       lease_until)
    SELECT id, request_id, sequence, 'decision_needed', created_at, message, 'pending', 0,
           created_at
    FROM outbox;

DROP TABLE outbox;
ALTER TABLE outbox_v2 RENAME TO outbox;

-- What a delivery run claims: pending messages whose lease (or retry delay) has run out.
CREATE INDEX outbox_due ON outbox (lease_until, id) WHERE status = 'pending';
