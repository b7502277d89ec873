-- Masters sharing one database register here. Each one heartbeats: it
-- sets heartbeat to the database's now() and expires to the moment after
-- which the others judge it dead and take its builders. A master that
-- stops deletes its row. The URLs say where its services are.
CREATE TABLE master (
    name text PRIMARY KEY,
    heartbeat timestamptz NOT NULL,
    expires timestamptz NOT NULL,
    started timestamptz NOT NULL,
    web_url text,
    librarian_url text
);

-- A builder's owner holds it for as long as that master's row is live
-- (expires in the future): the lease is the master's heartbeat, so it
-- needs no expiry of its own.
ALTER TABLE builder DROP COLUMN lease_expires;
