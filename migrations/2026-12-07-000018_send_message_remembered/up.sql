-- `send_message` now also says what a send needs to write the next message of the session
-- without reading it first: the version of the session's row after the write (`xmin`: the id
-- of the transaction that wrote it) and an id drawn for that next message. It says so for a
-- write at a version only (`p_version` given); under the caller's lock, both are NULL.
--
-- The id is drawn while the row's lock is held, like the id drawn by a locked read: a message
-- written later with it, at the version returned, follows every message of the session that
-- moved its row, in ids as in commits. A private note now writes the row too (unchanged),
-- so that this holds for notes as well. `written` is false when the row was no longer at
-- `p_version`: nothing was written.
DROP FUNCTION send_message(bigint, bigint, bigint, text, bigint, text, text, text, text,
                           timestamptz, boolean, bigint, bigint, bigint, text[], text[],
                           boolean[], text[], bigint[], bigint[], text[]);

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
    p_carries_to text[],
    OUT written boolean,
    OUT version bigint,
    OUT next_message_id bigint
)
LANGUAGE plpgsql AS $$
BEGIN
    written := false;
    IF p_version IS NOT NULL THEN
        -- Waits for a writer of the row that holds it, then checks the row it would lock.
        PERFORM 1 FROM sessions
         WHERE id = p_session_id AND xmin = p_version::text::xid
           FOR NO KEY UPDATE;
        IF NOT FOUND THEN
            RETURN;
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
         WHERE id = p_session_id
        RETURNING xmin::text::bigint INTO version;
    ELSE
        -- A private note moves the session on in nothing, but its row is written all the
        -- same, for a new version: a send that read the session before the note (with an id
        -- drawn before the note's) finds it changed and draws its id again, after the note's.
        UPDATE sessions SET updated = updated WHERE id = p_session_id
        RETURNING xmin::text::bigint INTO version;
    END IF;
    IF cardinality(p_kinds) > 0 THEN
        PERFORM record_events(p_kinds, p_data, p_all_admins, p_admin_ids, p_store_ids,
                              p_carries_messages, p_carries_to, p_created);
    END IF;
    written := true;
    IF p_version IS NULL THEN
        version := NULL;
    ELSE
        next_message_id := nextval('messages_id_seq');
    END IF;
END;
$$;
