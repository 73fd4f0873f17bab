-- Full-text search over messages and store names, diacritics and case aside: a text search
-- configuration like `simple` (every word kept, lowercased) that also unaccents the words that
-- may carry diacritics, and GIN indexes on what it makes of the text.
CREATE EXTENSION IF NOT EXISTS unaccent;
CREATE TEXT SEARCH CONFIGURATION chat_search (COPY = simple);
ALTER TEXT SEARCH CONFIGURATION chat_search
    ALTER MAPPING FOR hword, hword_part, word, numword, numhword, hword_numpart
    WITH unaccent, simple;
CREATE INDEX messages_search ON messages USING gin (to_tsvector('chat_search', content));
CREATE INDEX stores_search ON stores USING gin (to_tsvector('chat_search', name));
