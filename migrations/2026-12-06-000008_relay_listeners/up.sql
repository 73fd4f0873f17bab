-- A revocation takes effect on every instance before it is answered: each revocation is
-- numbered, and each instance's relay records the highest number it has applied (its token
-- cache forgot the token, its sockets of it were cut off). The revoking instance waits until
-- every relay listening when it committed has caught up.

CREATE SEQUENCE token_revocations;
ALTER TABLE tokens ADD COLUMN revocation bigint;
CREATE INDEX tokens_revocation ON tokens (revocation) WHERE revocation IS NOT NULL;

-- One row per listening relay connection, by its backend's pid; rows of connections that are
-- gone are removed when a relay registers. Each relay says every second that it is alive
-- (`heard_at`) and how far it has delivered; a relay silent for too long while notifications
-- wait in PostgreSQL's queue is cut off by the others, so that a frozen instance never fills
-- the queue that every instance's numbering needs.
CREATE TABLE relay_listeners (
    pid integer PRIMARY KEY,
    revocations_applied bigint NOT NULL,
    delivered_through bigint NOT NULL DEFAULT 0,
    registered timestamptz NOT NULL DEFAULT now(),
    heard_at timestamptz NOT NULL DEFAULT now()
);
