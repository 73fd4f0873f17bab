DROP FUNCTION number_events(bigint, integer, text);
