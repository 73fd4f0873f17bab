-- Uploaded files: their bytes are in the object store under their key; this is what is known
-- of them, and the message they were sent with.
CREATE TABLE files (
    key text PRIMARY KEY CHECK (key ~ '^[0-9a-f]{32}$'),
    name text NOT NULL,
    size bigint NOT NULL CHECK (size > 0),
    content_type text NOT NULL,
    uploader_type text NOT NULL CHECK (uploader_type IN ('admin', 'store')),
    uploader_id bigint NOT NULL,
    -- The session of the message it was sent with (NULL until sent), and whether that
    -- message is a private note.
    session_id bigint REFERENCES sessions (id),
    private boolean NOT NULL DEFAULT false,
    created timestamptz NOT NULL DEFAULT now()
);
-- Files never sent, oldest first, for their cleanup.
CREATE INDEX files_unattached ON files (created) WHERE session_id IS NULL;
