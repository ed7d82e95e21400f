-- Retention pruning (`Maintenance::prune`) finds what it may remove by these.
CREATE INDEX IF NOT EXISTS sessions_expires ON sessions (expires_at);
CREATE INDEX IF NOT EXISTS customer_tokens_expires ON customer_tokens (expires_at);
CREATE INDEX IF NOT EXISTS idempotency_created ON idempotency (created_at);
CREATE INDEX IF NOT EXISTS deliveries_finished ON deliveries (state, finished_at);
CREATE INDEX IF NOT EXISTS conversations_closed ON conversations (state, updated_at);
