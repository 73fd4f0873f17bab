-- The support team's tools: private notes, presence, capacity and routing.

-- A private note: a message only admins see. It moves no counter of its session and is not its
-- last message, so that nothing of it reaches the store's side.
ALTER TABLE messages ADD COLUMN private boolean NOT NULL DEFAULT false;

-- How many claimed sessions an admin may hold (0: no limit); whether they said they are away;
-- the presence last announced (the admin_presence events tell its changes); when routing
-- last gave them a session (ties go to the one assigned least recently).
ALTER TABLE admins
    ADD COLUMN max_sessions integer NOT NULL DEFAULT 0 CHECK (max_sessions >= 0),
    ADD COLUMN away boolean NOT NULL DEFAULT false,
    ADD COLUMN presence text NOT NULL DEFAULT 'offline'
        CHECK (presence IN ('online', 'away', 'offline')),
    ADD COLUMN last_assigned timestamptz;

-- When an open session entered the queue (opened, or released back): the oldest waits least.
ALTER TABLE sessions ADD COLUMN queued_at timestamptz;
UPDATE sessions SET queued_at = updated WHERE status = 'open';
CREATE INDEX sessions_waiting ON sessions (queued_at, id) WHERE status = 'open';
-- An admin's load.
CREATE INDEX sessions_claimed_by ON sessions (admin_id) WHERE status = 'claimed';

-- The instances of the service that are running, each saying so every few seconds: an
-- instance that stops saying so is gone, and so are the sockets it held.
CREATE TABLE instances (
    id bigint PRIMARY KEY,
    heard_at timestamptz NOT NULL DEFAULT now()
);

-- Which instance holds a socket of which admin (or held one less than the grace ago).
CREATE TABLE admin_sockets (
    instance_id bigint NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    admin_id bigint NOT NULL REFERENCES admins (id) ON DELETE CASCADE,
    PRIMARY KEY (admin_id, instance_id)
);
