-- `send_messages` writes several sends in one statement, and so in one transaction: each one
-- as `send_message` writes it at a version of its session's row, in the order given. A send
-- whose row is no longer at its version writes nothing (`moved`), nor does one whose sender
-- already wrote a message with its `client_message_id` in the session (`keyed`); the others
-- are written all the same. Each send's events are its slice of the event arrays:
-- `p_event_counts` says how many are its own, in order.
--
-- Returns one entry per send, in the order given: its outcome (`written`, `moved` or
-- `keyed`), and for a send written, the version of its row after it and an id for the next
-- message of its session (as `send_message` returns them).
--
-- The caller gives each session at most once, in the order of the sessions' ids, so that two
-- batches never wait for each other's locks in a circle.
CREATE FUNCTION send_messages(
    p_versions bigint[],
    p_ids bigint[],
    p_session_ids bigint[],
    p_sender_types text[],
    p_sender_ids bigint[],
    p_contents text[],
    p_attachment_urls text[],
    p_attachment_types text[],
    p_client_message_ids text[],
    p_created timestamptz[],
    p_private boolean[],
    p_message_counts bigint[],
    p_unread_by_admin bigint[],
    p_unread_by_store bigint[],
    p_event_counts integer[],
    p_kinds text[],
    p_data text[],
    p_all_admins boolean[],
    p_admin_ids text[],
    p_store_ids bigint[],
    p_carries_messages bigint[],
    p_carries_to text[],
    OUT outcomes text[],
    OUT versions bigint[],
    OUT next_message_ids bigint[]
)
LANGUAGE plpgsql AS $$
DECLARE
    first_event integer := 1;
    last_event integer;
    sent record;
BEGIN
    outcomes := '{}';
    versions := '{}';
    next_message_ids := '{}';
    FOR i IN 1 .. coalesce(cardinality(p_ids), 0) LOOP
        last_event := first_event + p_event_counts[i] - 1;
        IF p_client_message_ids[i] IS NOT NULL AND EXISTS (
            SELECT 1 FROM messages
             WHERE session_id = p_session_ids[i]
               AND sender_type = p_sender_types[i]
               AND sender_id = p_sender_ids[i]
               AND client_message_id = p_client_message_ids[i]
        ) THEN
            outcomes := outcomes || 'keyed'::text;
            versions := versions || NULL::bigint;
            next_message_ids := next_message_ids || NULL::bigint;
        ELSE
            SELECT * INTO sent
              FROM send_message(p_versions[i], p_ids[i], p_session_ids[i], p_sender_types[i],
                                p_sender_ids[i], p_contents[i], p_attachment_urls[i],
                                p_attachment_types[i], p_client_message_ids[i], p_created[i],
                                p_private[i], p_message_counts[i], p_unread_by_admin[i],
                                p_unread_by_store[i],
                                coalesce(p_kinds[first_event:last_event], '{}'),
                                coalesce(p_data[first_event:last_event], '{}'),
                                coalesce(p_all_admins[first_event:last_event], '{}'),
                                coalesce(p_admin_ids[first_event:last_event], '{}'),
                                coalesce(p_store_ids[first_event:last_event], '{}'),
                                coalesce(p_carries_messages[first_event:last_event], '{}'),
                                coalesce(p_carries_to[first_event:last_event], '{}'));
            outcomes := outcomes || CASE WHEN sent.written THEN 'written' ELSE 'moved' END;
            versions := versions || sent.version;
            next_message_ids := next_message_ids || sent.next_message_id;
        END IF;
        first_event := last_event + 1;
    END LOOP;
END;
$$;
