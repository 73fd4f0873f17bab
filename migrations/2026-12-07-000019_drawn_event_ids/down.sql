CREATE OR REPLACE FUNCTION drawn_event_ids() RETURNS bigint
LANGUAGE sql VOLATILE AS $$
    SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM events_id_seq;
$$;
