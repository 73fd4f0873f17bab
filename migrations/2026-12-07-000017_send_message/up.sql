-- A message in one statement: the session's row lock, the message, the session after it and
-- the events, as the domain decided them.
--
-- A send first reads its session without a lock and without a transaction, asks the domain,
-- and calls this function on its own, with the version of the session row it read (`xmin`,
-- the id of the transaction that wrote that row; every write of the row gives it a new one).
-- The function locks the row only if it is still that version and then writes; otherwise it
-- writes nothing and returns false, and the caller sends again under the session's lock, in a
-- transaction of its own (`p_version` NULL: the caller holds the lock). Two round trips for a
-- send instead of four (BEGIN, the lock, the write, COMMIT), and no transaction open between
-- them.
--
-- The lock comes first, so the events' ids are drawn while the row lock is held, as before:
-- a session's events are numbered in the order of its changes. A private note moves the
-- session on in nothing: its row is only locked.
--
-- It replaces `append_message`, which wrote the message and the session only.
CREATE FUNCTION send_message(
    p_version bigint,
    p_id bigint,
    p_session_id bigint,
    p_sender_type text,
    p_sender_id bigint,
    p_content text,
    p_attachment_url text,
    p_attachment_type text,
    p_client_message_id text,
    p_created timestamptz,
    p_private boolean,
    p_message_count bigint,
    p_unread_by_admin bigint,
    p_unread_by_store bigint,
    p_kinds text[],
    p_data text[],
    p_all_admins boolean[],
    p_admin_ids text[],
    p_store_ids bigint[],
    p_carries_messages bigint[],
    p_carries_to text[]
) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    IF p_version IS NOT NULL THEN
        -- Waits for a writer of the row that holds it, then checks the row it would lock.
        PERFORM 1 FROM sessions
         WHERE id = p_session_id AND xmin = p_version::text::xid
           FOR NO KEY UPDATE;
        IF NOT FOUND THEN
            RETURN false;
        END IF;
    END IF;
    INSERT INTO messages (id, session_id, sender_type, sender_id, content, attachment_url,
                          attachment_type, client_message_id, created, private)
    VALUES (p_id, p_session_id, p_sender_type, p_sender_id, p_content, p_attachment_url,
            p_attachment_type, p_client_message_id, p_created, p_private);
    IF NOT p_private THEN
        UPDATE sessions
           SET last_message_id = p_id,
               last_message_at = p_created,
               updated = p_created,
               message_count = p_message_count,
               unread_by_admin = p_unread_by_admin,
               unread_by_store = p_unread_by_store
         WHERE id = p_session_id;
    END IF;
    IF cardinality(p_kinds) > 0 THEN
        PERFORM record_events(p_kinds, p_data, p_all_admins, p_admin_ids, p_store_ids,
                              p_carries_messages, p_carries_to, p_created);
    END IF;
    RETURN true;
END;
$$;

DROP FUNCTION append_message(bigint, bigint, text, bigint, text, text, text, text, timestamptz,
                             bigint, bigint, bigint);
