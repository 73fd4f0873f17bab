-- The ids drawn so far are read under the sequence's lock.
--
-- `drawn_event_ids` read the sequence's row with `SELECT ... FROM events_id_seq`, which reads
-- the row in place, without the lock that `nextval` holds while it changes it. One `nextval`
-- in 33 writes to the WAL the state the sequence will have 32 values later, and it puts that
-- state in the row for as long as it writes the record. A read at that moment saw up to 32
-- ids as drawn that no writer had drawn yet. The sequencer took them for a candidate (see
-- `event_numbers`), and writers that drew them after its round, with later transaction ids,
-- did not hold `settled` back: their events fell below `settled` unnumbered, never to be
-- numbered or delivered. Seen under load as up to 16 consecutive sends whose events never
-- reached any socket.
--
-- `pg_sequence_last_value` reads the row under the sequence's buffer lock: the last value
-- drawn, or NULL before the first. Before the first, there is no candidate; nothing is
-- settled until an id has been drawn.
CREATE OR REPLACE FUNCTION drawn_event_ids() RETURNS bigint
LANGUAGE sql VOLATILE AS $$
    SELECT pg_sequence_last_value('events_id_seq'::regclass);
$$;
