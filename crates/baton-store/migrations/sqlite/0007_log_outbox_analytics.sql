-- Tamper evidence: each event's hash chains to the previous event of the same conversation (or,
-- for tenant-wide events, of the same tenant). Filled by the store on append; events written
-- before this migration are hashed by `Store::migrate` right after it.
ALTER TABLE events ADD COLUMN hash TEXT;

-- Analytics rollup: per-conversation facts folded from the events in the same transaction.
CREATE TABLE conversation_facts (
    conversation  TEXT PRIMARY KEY NOT NULL REFERENCES conversations (id),
    tenant        TEXT NOT NULL REFERENCES tenants (id),
    started_at    BIGINT NOT NULL,
    channel       TEXT NOT NULL,
    data          TEXT NOT NULL
);
CREATE INDEX conversation_facts_range ON conversation_facts (tenant, started_at);

-- Who wants to hear about which events: outbound webhooks and notification targets.
CREATE TABLE subscriptions (
    id          TEXT PRIMARY KEY NOT NULL,
    tenant      TEXT NOT NULL REFERENCES tenants (id),
    kind        TEXT NOT NULL,
    events      TEXT NOT NULL,
    channel     TEXT,
    config      TEXT NOT NULL,
    enabled     BIGINT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX subscriptions_tenant ON subscriptions (tenant, kind, id);

-- The transactional outbox: one row per (event, subscription), written with the event.
CREATE TABLE deliveries (
    id               TEXT PRIMARY KEY NOT NULL,
    tenant           TEXT NOT NULL REFERENCES tenants (id),
    subscription     TEXT NOT NULL,
    conversation     TEXT,
    event_seq        BIGINT NOT NULL,
    state            TEXT NOT NULL,
    attempts         BIGINT NOT NULL,
    next_attempt_at  BIGINT NOT NULL,
    last_error       TEXT,
    created_at       BIGINT NOT NULL,
    finished_at      BIGINT
);
CREATE INDEX deliveries_due ON deliveries (state, next_attempt_at);
CREATE INDEX deliveries_order ON deliveries (subscription, conversation, state, event_seq);
CREATE INDEX deliveries_tenant ON deliveries (tenant, state, event_seq);
