-- The event feed (a transactional outbox): every change writes its events in its own
-- transaction. Writers take a transaction-level advisory lock just before inserting events, so
-- ids are drawn in commit order: a reader that has seen event N never later finds a committed
-- event below N.

CREATE TABLE events (
    id         BIGSERIAL PRIMARY KEY,
    kind       TEXT NOT NULL,
    -- The event's `data` object, as JSON text (kept byte for byte, unlike jsonb).
    data       TEXT NOT NULL,
    -- The audience: every admin, these admins, this store.
    all_admins BOOLEAN NOT NULL DEFAULT false,
    admin_ids  BIGINT[] NOT NULL DEFAULT '{}',
    store_id   BIGINT,
    created    TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX events_by_store ON events (store_id, id) WHERE store_id IS NOT NULL;
CREATE INDEX events_by_created ON events (created);

-- The highest event id pruned so far: a reader resuming below it must resync.
CREATE TABLE event_retention (
    singleton      BOOLEAN PRIMARY KEY DEFAULT true CHECK (singleton),
    pruned_through BIGINT NOT NULL DEFAULT 0
);

INSERT INTO event_retention DEFAULT VALUES;
