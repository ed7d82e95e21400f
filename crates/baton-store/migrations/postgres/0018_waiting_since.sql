-- When a waiting conversation entered its current queue gets a column, kept in sync by the
-- store wherever the row is written, so that the queue gauges of `/metrics` (depth, oldest
-- wait, pending offers) are one aggregate in SQL instead of parsing every waiting
-- conversation's document on each scrape (hundreds of megabytes at 100,000 waiting).
ALTER TABLE conversations ADD COLUMN waiting_since BIGINT;

UPDATE conversations
SET waiting_since = COALESCE(
    ((data::jsonb) ->> 'entered_queue_at')::bigint,
    ((data::jsonb) ->> 'queued_at')::bigint
)
WHERE state = 'queued';
