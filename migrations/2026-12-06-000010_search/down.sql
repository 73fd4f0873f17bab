DROP INDEX stores_search;
DROP INDEX messages_search;
DROP TEXT SEARCH CONFIGURATION chat_search;
DROP EXTENSION IF EXISTS unaccent;
