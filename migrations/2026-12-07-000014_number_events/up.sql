-- The sequencer numbers a batch and announces it in one statement: one round trip per batch
-- instead of four (BEGIN, the update, the notification, COMMIT). Called on its own, the
-- statement is its own transaction: the numbers and their announcement commit together.
--
-- Numbers the oldest committed unnumbered events, at most `p_limit`, from `p_after + 1` on, in
-- the order they were inserted, and announces `{"first": …, "last": …}` on `p_channel` when it
-- numbered any. Returns the highest id given (`p_after` when there was nothing to number).
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
