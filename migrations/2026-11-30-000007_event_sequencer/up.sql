-- The event feed without a lock shared by all writers.
--
-- A change writes its events in its own transaction, unnumbered (`event_id` is null), taking
-- no lock but the rows it changes and sending no notification. After they commit, one
-- sequencer per database (the instance holding a session-level advisory lock) numbers them in
-- batches, in the order they were inserted, and announces each batch on `chat_events`.
--
-- `id` is the order of insertion, drawn while the writer holds the row lock of what it
-- changes, so the events of one session are inserted in the order their changes commit, and a
-- batch that sees an event also sees every earlier event of its session. `event_id`, the id
-- clients see, is given by the one sequencer in one transaction per batch: it grows
-- strictly, without gaps, and every reader sees a prefix of it.

DROP TRIGGER events_announce ON events;
DROP FUNCTION events_announce();
DROP FUNCTION record_events(text[], text[], boolean[], text[], bigint[], timestamptz);

ALTER TABLE events
    ADD COLUMN event_id BIGINT,
    -- The message the event shows in full, and the side it is carried to: a socket of that
    -- side that receives the event has the message delivered.
    ADD COLUMN carries_message BIGINT,
    ADD COLUMN carries_to TEXT CHECK (carries_to IN ('admin', 'store')),
    ADD CHECK ((carries_message IS NULL) = (carries_to IS NULL));

-- Events recorded before this migration keep the ids readers have seen.
UPDATE events SET event_id = id;

CREATE UNIQUE INDEX events_event_id ON events (event_id);
-- What the sequencer has left to number.
CREATE INDEX events_unnumbered ON events (id) WHERE event_id IS NULL;
DROP INDEX events_by_store;
CREATE INDEX events_by_store ON events (store_id, event_id) WHERE store_id IS NOT NULL;

-- Records events, unnumbered, in the order given. No lock: writers never wait on each other
-- here. A function so that its insert's plan is kept for the session.
CREATE FUNCTION record_events(
    p_kinds text[],
    p_data text[],
    p_all_admins boolean[],
    p_admin_ids text[],
    p_store_ids bigint[],
    p_carries_messages bigint[],
    p_carries_to text[],
    p_created timestamptz
) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO events (kind, data, all_admins, admin_ids, store_id, carries_message, carries_to,
                        created)
    SELECT e.kind, e.data, e.all_admins, e.admin_ids::bigint[], e.store_id, e.message, e.side,
           p_created
      FROM unnest(p_kinds, p_data, p_all_admins, p_admin_ids, p_store_ids, p_carries_messages,
                  p_carries_to)
           WITH ORDINALITY AS e(kind, data, all_admins, admin_ids, store_id, message, side, n)
     ORDER BY e.n;
END;
$$;

-- Stores a message and the session after it, as the domain decided them on the session the
-- caller locked: the message with the id the caller drew, and the session's last message,
-- activity time and counters. One round trip; the arithmetic is the domain's, not repeated
-- here.
DROP FUNCTION append_message(bigint, text, bigint, text, text, text, text, timestamptz);

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
