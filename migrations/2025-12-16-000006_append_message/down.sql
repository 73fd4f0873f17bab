DROP FUNCTION append_message(bigint, text, bigint, text, text, text, text, timestamptz);
