-- Back to ids drawn by writers under the feed lock. Readers cannot resume across this: every
-- event is dropped and marked pruned, so that they resync, and new ids start above every id
-- given so far.

DROP FUNCTION record_events(text[], text[], boolean[], text[], bigint[], bigint[], text[],
                            timestamptz);
DROP FUNCTION append_message(bigint, bigint, text, bigint, text, text, text, text, timestamptz,
                             bigint, bigint, bigint);
CREATE FUNCTION append_message(
    p_session_id bigint,
    p_sender_type text,
    p_sender_id bigint,
    p_content text,
    p_attachment_url text,
    p_attachment_type text,
    p_client_message_id text,
    p_created timestamptz
) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    message_id bigint;
BEGIN
    INSERT INTO messages (session_id, sender_type, sender_id, content, attachment_url,
                          attachment_type, client_message_id, created)
    VALUES (p_session_id, p_sender_type, p_sender_id, p_content, p_attachment_url,
            p_attachment_type, p_client_message_id, p_created)
    RETURNING id INTO message_id;
    UPDATE sessions
       SET last_message_id = message_id,
           last_message_at = p_created,
           updated = p_created,
           message_count = message_count + 1,
           unread_by_admin = unread_by_admin + CASE WHEN p_sender_type = 'store' THEN 1 ELSE 0 END,
           unread_by_store = unread_by_store + CASE WHEN p_sender_type = 'store' THEN 0 ELSE 1 END
     WHERE id = p_session_id;
    RETURN message_id;
END;
$$;


UPDATE event_retention
   SET pruned_through = greatest(pruned_through,
                                 (SELECT coalesce(max(greatest(id, event_id)), 0) FROM events));
SELECT setval('events_id_seq', greatest((SELECT pruned_through FROM event_retention), 1));
DELETE FROM events;

DROP INDEX events_by_store;
CREATE INDEX events_by_store ON events (store_id, id) WHERE store_id IS NOT NULL;
DROP INDEX events_unnumbered;
DROP INDEX events_event_id;
ALTER TABLE events
    DROP COLUMN carries_to,
    DROP COLUMN carries_message,
    DROP COLUMN event_id;

-- As the earlier migrations made them.
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

CREATE FUNCTION record_events(
    p_kinds text[],
    p_data text[],
    p_all_admins boolean[],
    p_admin_ids text[],
    p_store_ids bigint[],
    p_created timestamptz
) RETURNS SETOF bigint
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(7163082359894795620); -- "chatfeed"
    RETURN QUERY
    WITH inserted AS (
        INSERT INTO events (kind, data, all_admins, admin_ids, store_id, created)
        SELECT e.kind, e.data, e.all_admins, e.admin_ids::bigint[], e.store_id, p_created
          FROM unnest(p_kinds, p_data, p_all_admins, p_admin_ids, p_store_ids)
               WITH ORDINALITY AS e(kind, data, all_admins, admin_ids, store_id, n)
         ORDER BY e.n
        RETURNING events.id
    )
    SELECT inserted.id FROM inserted ORDER BY inserted.id;
END;
$$;
