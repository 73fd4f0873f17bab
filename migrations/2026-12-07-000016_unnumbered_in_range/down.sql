CREATE OR REPLACE FUNCTION unnumbered_events(p_limit integer) RETURNS SETOF bigint
LANGUAGE sql STABLE AS $$
    SELECT e.id
      FROM events e
     WHERE e.id > (SELECT settled FROM event_sequencer)
       AND NOT EXISTS (SELECT 1 FROM event_numbers n WHERE n.id = e.id)
     ORDER BY e.id
     LIMIT p_limit;
$$;
