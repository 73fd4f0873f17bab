DROP TABLE admin_sockets;
DROP TABLE instances;
DROP INDEX sessions_claimed_by;
DROP INDEX sessions_waiting;
ALTER TABLE sessions DROP COLUMN queued_at;
ALTER TABLE admins DROP COLUMN max_sessions, DROP COLUMN away, DROP COLUMN presence,
    DROP COLUMN last_assigned;
ALTER TABLE messages DROP COLUMN private;
