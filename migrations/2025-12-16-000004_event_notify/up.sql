-- Every statement that records events announces them on the channel `chat_events`, in the
-- same transaction, so the announcement is delivered at commit and only if it commits.
-- PostgreSQL delivers notifications in commit order, which is also event id order.
--
-- The payload carries the events themselves when they fit in a notification (8000 bytes), so
-- that other instances need no query to relay them; otherwise only their id range.

CREATE FUNCTION events_announce() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    payload text;
BEGIN
    SELECT json_build_object(
               'first', min(id),
               'last', max(id),
               'events', json_agg(json_build_object(
                   'id', id,
                   'kind', kind,
                   'data', data::json,
                   'all_admins', all_admins,
                   'admin_ids', admin_ids,
                   'store_id', store_id,
                   'created', created
               ) ORDER BY id)
           )::text
      INTO payload
      FROM announced;
    IF octet_length(payload) > 7900 THEN
        SELECT json_build_object('first', min(id), 'last', max(id))::text
          INTO payload
          FROM announced;
    END IF;
    PERFORM pg_notify('chat_events', payload);
    RETURN NULL;
END;
$$;

CREATE TRIGGER events_announce
    AFTER INSERT ON events
    REFERENCING NEW TABLE AS announced
    FOR EACH STATEMENT
    EXECUTE FUNCTION events_announce();
