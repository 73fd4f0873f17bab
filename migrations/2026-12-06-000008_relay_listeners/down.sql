DROP TABLE relay_listeners;
DROP INDEX tokens_revocation;
ALTER TABLE tokens DROP COLUMN revocation;
DROP SEQUENCE token_revocations;
