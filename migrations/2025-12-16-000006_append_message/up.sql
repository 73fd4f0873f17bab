-- Stores a message and moves its session on in one call: the session's last message and
-- activity time, its message count, and the unread count of the side that did not write.
-- Returns the message's id. The caller holds the session's row lock, so the session it
-- locked plus these changes is the session after the message.
--
-- A function for the same reason as record_events: PL/pgSQL keeps the plans of its
-- statements for the session, and one call is one round trip instead of two.
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
