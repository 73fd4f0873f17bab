-- A revocation takes effect on every instance before it is answered: each revocation is
-- numbered, and each instance's relay records the highest number it has applied (its token
-- cache forgot the token, its sockets of it were cut off). The revoking instance waits until
-- every relay listening when it committed has caught up.

CREATE SEQUENCE token_revocations;
ALTER TABLE tokens ADD COLUMN revocation bigint;
CREATE INDEX tokens_revocation ON tokens (revocation) WHERE revocation IS NOT NULL;

-- One row per listening relay connection, by its backend's pid; rows of connections that are
-- gone are removed when a relay registers.
CREATE TABLE relay_listeners (
    pid integer PRIMARY KEY,
    revocations_applied bigint NOT NULL,
    registered timestamptz NOT NULL DEFAULT now()
);
