-- Chat sessions and their messages.

CREATE TABLE sessions (
    id              BIGSERIAL PRIMARY KEY,
    store_id        BIGINT NOT NULL REFERENCES stores (id),
    -- The claiming admin; kept when the session is closed.
    admin_id        BIGINT REFERENCES admins (id),
    status          TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'claimed', 'closed')),
    last_message_id BIGINT,
    last_message_at TIMESTAMPTZ NOT NULL,
    -- Maintained counters, so that lists never count messages.
    message_count   BIGINT NOT NULL DEFAULT 0 CHECK (message_count >= 0),
    unread_by_admin BIGINT NOT NULL DEFAULT 0 CHECK (unread_by_admin >= 0),
    unread_by_store BIGINT NOT NULL DEFAULT 0 CHECK (unread_by_store >= 0),
    created         TIMESTAMPTZ NOT NULL,
    updated         TIMESTAMPTZ NOT NULL,
    CHECK (status <> 'open' OR admin_id IS NULL),
    CHECK (status <> 'claimed' OR admin_id IS NOT NULL)
);

-- A store has at most one session that is not closed: concurrent first messages make one.
CREATE UNIQUE INDEX sessions_one_live_per_store ON sessions (store_id) WHERE status <> 'closed';
-- The open queue, newest activity first.
CREATE INDEX sessions_open_queue ON sessions (last_message_at DESC, id DESC) WHERE status = 'open';
-- An admin's sessions, newest activity first.
CREATE INDEX sessions_by_admin ON sessions (admin_id, status, last_message_at DESC, id DESC)
    WHERE admin_id IS NOT NULL;
-- A store's sessions, newest first.
CREATE INDEX sessions_by_store ON sessions (store_id, created DESC, id DESC);
-- Every conversation, newest first (public API).
CREATE INDEX sessions_newest ON sessions (created DESC, id DESC);

CREATE TABLE messages (
    id                BIGSERIAL PRIMARY KEY,
    session_id        BIGINT NOT NULL REFERENCES sessions (id),
    sender_type       TEXT NOT NULL CHECK (sender_type IN ('store', 'admin', 'system')),
    sender_id         BIGINT,
    content           TEXT NOT NULL,
    attachment_url    TEXT NOT NULL DEFAULT '',
    attachment_type   TEXT NOT NULL DEFAULT ''
                      CHECK (attachment_type IN ('', 'image', 'video', 'audio', 'file')),
    status            TEXT NOT NULL DEFAULT 'sent' CHECK (status IN ('sent', 'delivered', 'read')),
    client_message_id TEXT CHECK (length(client_message_id) BETWEEN 1 AND 64),
    created           TIMESTAMPTZ NOT NULL,
    CHECK ((sender_type = 'system') = (sender_id IS NULL))
);

CREATE INDEX messages_by_session ON messages (session_id, id);
-- Idempotent sends: one message per sender and client_message_id in a session.
CREATE UNIQUE INDEX messages_client_message_id
    ON messages (session_id, sender_type, sender_id, client_message_id)
    WHERE client_message_id IS NOT NULL;

ALTER TABLE sessions
    ADD CONSTRAINT sessions_last_message_id_fkey FOREIGN KEY (last_message_id) REFERENCES messages (id);
