DROP FUNCTION record_events(text[], text[], boolean[], text[], bigint[], timestamptz);
