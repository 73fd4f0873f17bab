-- Records events: takes the feed lock, then inserts the rows in the order given and returns
-- their ids in that order.
--
-- The lock (a transaction-level advisory lock, held until the transaction ends) makes ids be
-- drawn in commit order: a reader that has seen event N never sees an event below N appear
-- later. Callers record events last in their transaction, so that the lock is held briefly.
--
-- A function rather than a statement sent each time: PL/pgSQL keeps the plan of its insert
-- for the whole session, where a statement with a variable number of rows would be parsed and
-- planned again for every change.
CREATE FUNCTION record_events(
    p_kinds text[],
    p_data text[],
    p_all_admins boolean[],
    p_admin_ids text[],
    p_store_ids bigint[],
    p_created timestamptz
) RETURNS SETOF bigint
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(7163082359894795620); -- "chatfeed"
    RETURN QUERY
    WITH inserted AS (
        INSERT INTO events (kind, data, all_admins, admin_ids, store_id, created)
        SELECT e.kind, e.data, e.all_admins, e.admin_ids::bigint[], e.store_id, p_created
          FROM unnest(p_kinds, p_data, p_all_admins, p_admin_ids, p_store_ids)
               WITH ORDINALITY AS e(kind, data, all_admins, admin_ids, store_id, n)
         ORDER BY e.n
        RETURNING events.id
    )
    SELECT inserted.id FROM inserted ORDER BY inserted.id;
END;
$$;
