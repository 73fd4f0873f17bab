DROP FUNCTION send_message(bigint, bigint, bigint, text, bigint, text, text, text, text,
                           timestamptz, boolean, bigint, bigint, bigint, text[], text[],
                           boolean[], text[], bigint[], bigint[], text[]);

-- As migration 000007 defined it.
CREATE FUNCTION append_message(
    p_id bigint,
    p_session_id bigint,
    p_sender_type text,
    p_sender_id bigint,
    p_content text,
    p_attachment_url text,
    p_attachment_type text,
    p_client_message_id text,
    p_created timestamptz,
    p_message_count bigint,
    p_unread_by_admin bigint,
    p_unread_by_store bigint
) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO messages (id, session_id, sender_type, sender_id, content, attachment_url,
                          attachment_type, client_message_id, created)
    VALUES (p_id, p_session_id, p_sender_type, p_sender_id, p_content, p_attachment_url,
            p_attachment_type, p_client_message_id, p_created);
    UPDATE sessions
       SET last_message_id = p_id,
           last_message_at = p_created,
           updated = p_created,
           message_count = p_message_count,
           unread_by_admin = p_unread_by_admin,
           unread_by_store = p_unread_by_store
     WHERE id = p_session_id;
END;
$$;
