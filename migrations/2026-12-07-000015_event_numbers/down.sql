DROP FUNCTION number_events(bigint, integer, text);
DROP FUNCTION unnumbered_events(integer);
DROP FUNCTION drawn_event_ids();
DROP VIEW numbered_events;

ALTER TABLE events ADD COLUMN event_id BIGINT;
UPDATE events e SET event_id = n.event_id FROM event_numbers n WHERE n.id = e.id;
DROP INDEX events_by_store;
CREATE UNIQUE INDEX events_event_id ON events (event_id);
CREATE INDEX events_unnumbered ON events (id) WHERE event_id IS NULL;
CREATE INDEX events_by_store ON events (store_id, event_id) WHERE store_id IS NOT NULL;
DROP TABLE event_sequencer;
DROP TABLE event_numbers;

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

CREATE FUNCTION number_events(p_after bigint, p_limit integer, p_channel text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_last bigint;
BEGIN
    WITH batch AS (
        SELECT id, row_number() OVER (ORDER BY id) AS n
          FROM (SELECT id FROM events WHERE event_id IS NULL ORDER BY id LIMIT p_limit) unnumbered
    ), numbered AS (
        UPDATE events
           SET event_id = p_after + batch.n
          FROM batch
         WHERE events.id = batch.id
        RETURNING events.event_id
    )
    SELECT max(event_id) INTO v_last FROM numbered;
    IF v_last IS NULL THEN
        RETURN p_after;
    END IF;
    PERFORM pg_notify(p_channel, json_build_object('first', p_after + 1, 'last', v_last)::text);
    RETURN v_last;
END;
$$;
