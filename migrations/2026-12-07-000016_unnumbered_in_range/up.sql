-- The search for what is left to number reads only what lies above `settled`.
--
-- `unnumbered_events` looked for events above `settled` with no row in `event_numbers`. The
-- planner cannot tell how far above the table's start `settled` is (it is read by the query
-- itself), so it planned a hash anti join: every round read the whole of `event_numbers`
-- into a hash table, a cost that grew with every event kept (7 ms a round at 40,000 events).
-- The same condition on the numbers' side lets any plan read only the numbers above
-- `settled`, through the index on `event_numbers (id)`.

CREATE OR REPLACE FUNCTION unnumbered_events(p_limit integer) RETURNS SETOF bigint
LANGUAGE sql STABLE AS $$
    SELECT e.id
      FROM events e
     WHERE e.id > (SELECT settled FROM event_sequencer)
       AND NOT EXISTS (SELECT 1 FROM event_numbers n
                        WHERE n.id = e.id AND n.id > (SELECT settled FROM event_sequencer))
     ORDER BY e.id
     LIMIT p_limit;
$$;
