DROP TRIGGER events_announce ON events;
DROP FUNCTION events_announce();
