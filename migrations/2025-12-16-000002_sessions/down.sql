ALTER TABLE sessions DROP CONSTRAINT sessions_last_message_id_fkey;
DROP TABLE messages;
DROP TABLE sessions;
