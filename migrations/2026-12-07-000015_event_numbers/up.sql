-- Each event written once.
--
-- Until now the sequencer numbered an event by updating its row: the whole row written a
-- second time, with an entry in each of its indexes. Now the event row is written once, by
-- the change that records it, and its number is a row of its own in a narrow table,
-- `event_numbers`, written once by the sequencer. Readers read `numbered_events`, the events
-- with their numbers.
--
-- What is left to number is found without a marker on the event row: the events whose `id`
-- is above `event_sequencer.settled` and that have no number yet. `settled` follows the
-- writers: every id up to it is numbered or was never committed. It moves up to the ids
-- drawn at some earlier round (`candidate`) once every transaction that could have drawn one
-- of them has ended (none below `candidate_xmax`, that round's own transaction id, is
-- running), and a numbering since has seen them all. A long transaction holds `settled` back, so the
-- sequencer's scan grows while it runs, but it delays nobody's numbers.
--
-- For this, a writer must hold a transaction id before it draws an event id:
-- `record_events` takes one first.

CREATE TABLE event_numbers (
    event_id BIGINT PRIMARY KEY,
    id BIGINT NOT NULL UNIQUE
);

INSERT INTO event_numbers (event_id, id)
SELECT event_id, id FROM events WHERE event_id IS NOT NULL;

-- Events recorded but not numbered when this runs get their numbers now, in order.
INSERT INTO event_numbers (event_id, id)
SELECT greatest(coalesce((SELECT max(event_id) FROM events), 0),
                (SELECT pruned_through FROM event_retention))
       + row_number() OVER (ORDER BY id),
       id
  FROM events
 WHERE event_id IS NULL;

DROP INDEX events_event_id;
DROP INDEX events_unnumbered;
DROP INDEX events_by_store;
ALTER TABLE events DROP COLUMN event_id;
CREATE INDEX events_by_store ON events (store_id, id) WHERE store_id IS NOT NULL;

CREATE TABLE event_sequencer (
    singleton BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
    -- Every event with an id up to this one is numbered, or was never committed.
    settled BIGINT NOT NULL,
    -- The ids drawn before some round, and the transaction id of that round (64 bits, as
    -- `xid8` writes it): settled once no transaction below it is running.
    candidate BIGINT,
    candidate_xmax BIGINT
);

INSERT INTO event_sequencer (settled) SELECT coalesce(max(id), 0) FROM events;

CREATE VIEW numbered_events AS
SELECT n.event_id, e.id, e.kind, e.data, e.all_admins, e.admin_ids, e.store_id, e.created,
       e.carries_message, e.carries_to
  FROM event_numbers n
  JOIN events e ON e.id = n.id;

-- As before, with a transaction id taken before the event ids are drawn (see above).
CREATE OR REPLACE FUNCTION record_events(
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
    PERFORM pg_current_xact_id();
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

-- The highest event id drawn so far (before the first is drawn, the sequence's `last_value`
-- is the one that will be).
CREATE FUNCTION drawn_event_ids() RETURNS bigint
LANGUAGE sql VOLATILE AS $$
    SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM events_id_seq;
$$;

-- The committed events not numbered yet, oldest first, at most `p_limit`.
CREATE FUNCTION unnumbered_events(p_limit integer) RETURNS SETOF bigint
LANGUAGE sql STABLE AS $$
    SELECT e.id
      FROM events e
     WHERE e.id > (SELECT settled FROM event_sequencer)
       AND NOT EXISTS (SELECT 1 FROM event_numbers n WHERE n.id = e.id)
     ORDER BY e.id
     LIMIT p_limit;
$$;

-- Numbers the oldest committed unnumbered events, at most `p_limit`, from `p_after + 1` on, in
-- the order they were inserted, and announces `{"first": …, "last": …}` on `p_channel` when it
-- numbered any; then moves `settled` up when it may. Returns the highest id given (`p_after`
-- when there was nothing to number). Called on its own, the statement is its own
-- transaction: the numbers, the announcement and the sequencer's state commit together.
DROP FUNCTION number_events(bigint, integer, text);

CREATE FUNCTION number_events(p_after bigint, p_limit integer, p_channel text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_drawn bigint;
    v_xid bigint;
    v_state event_sequencer%ROWTYPE;
    v_ripe boolean;
    v_count integer;
    v_last bigint;
BEGIN
    -- The ids drawn so far, then this transaction's id: a writer that drew one of those ids
    -- held its transaction id before, so that id is below this one. (This is why the
    -- statement must run on its own: in a transaction that already had an id, that id would
    -- be too old.)
    v_drawn := drawn_event_ids();
    v_xid := pg_current_xact_id()::text::bigint;
    SELECT * INTO v_state FROM event_sequencer FOR UPDATE;
    -- Every transaction that could have drawn an id up to the candidate has ended (the
    -- candidate's transaction id is that of an earlier round, which has ended, so a snapshot
    -- lists every transaction below it still running): the numbering below sees all of those
    -- that committed.
    v_ripe := v_state.candidate IS NOT NULL
              AND pg_snapshot_xmin(pg_current_snapshot())::text::bigint
                  >= v_state.candidate_xmax;

    INSERT INTO event_numbers (event_id, id)
    SELECT p_after + row_number() OVER (ORDER BY u.id), u.id
      FROM unnumbered_events(p_limit) AS u(id);
    GET DIAGNOSTICS v_count = ROW_COUNT;

    IF v_ripe AND v_count < p_limit THEN
        -- All it could see is numbered: the candidate is settled, and the ids drawn now are
        -- the next candidate.
        UPDATE event_sequencer
           SET settled = greatest(settled, candidate), candidate = v_drawn, candidate_xmax = v_xid;
    ELSIF v_state.candidate IS NULL THEN
        UPDATE event_sequencer SET candidate = v_drawn, candidate_xmax = v_xid;
    END IF;

    IF v_count = 0 THEN
        RETURN p_after;
    END IF;
    v_last := p_after + v_count;
    PERFORM pg_notify(p_channel, json_build_object('first', p_after + 1, 'last', v_last)::text);
    RETURN v_last;
END;
$$;
