-- Server-side conversation search: the transcript's words as a stored tsvector with a GIN
-- index ('simple' configuration: no language's stemming, as customers write in many), and
-- customers' names and emails matched case-insensitively.
ALTER TABLE messages
    ADD COLUMN search tsvector GENERATED ALWAYS AS (to_tsvector('simple', text)) STORED;
CREATE INDEX messages_search ON messages USING GIN (search);
