-- Baton schema (PostgreSQL). Times are unix milliseconds, ids are text, JSON is text.

CREATE TABLE tenants (
    id          TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY NOT NULL,
    tenant      TEXT NOT NULL REFERENCES tenants (id),
    name        TEXT NOT NULL,
    prefix      TEXT NOT NULL,
    hash        TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);
CREATE INDEX api_keys_tenant ON api_keys (tenant, created_at);

CREATE TABLE agents (
    id                 TEXT PRIMARY KEY NOT NULL,
    tenant             TEXT NOT NULL REFERENCES tenants (id),
    email              TEXT NOT NULL UNIQUE,
    name               TEXT NOT NULL,
    role               TEXT NOT NULL,
    status             TEXT NOT NULL,
    status_changed_at  BIGINT NOT NULL,
    skills             TEXT NOT NULL,
    languages          TEXT NOT NULL,
    queues             TEXT NOT NULL,
    capacity           BIGINT NOT NULL,
    password_hash      TEXT NOT NULL,
    created_at         BIGINT NOT NULL
);
CREATE INDEX agents_tenant ON agents (tenant, name);

CREATE TABLE sessions (
    token_hash  TEXT PRIMARY KEY NOT NULL,
    tenant      TEXT NOT NULL REFERENCES tenants (id),
    agent       TEXT NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX sessions_agent ON sessions (agent);

CREATE TABLE queues (
    tenant              TEXT NOT NULL REFERENCES tenants (id),
    id                  TEXT NOT NULL,
    name                TEXT NOT NULL,
    skills              TEXT NOT NULL,
    languages           TEXT NOT NULL,
    strategy            TEXT NOT NULL,
    offer_timeout_secs  BIGINT NOT NULL,
    settings            TEXT NOT NULL,
    created_at          BIGINT NOT NULL,
    PRIMARY KEY (tenant, id)
);

CREATE TABLE customers (
    id           TEXT PRIMARY KEY NOT NULL,
    tenant       TEXT NOT NULL REFERENCES tenants (id),
    external_id  TEXT,
    name         TEXT,
    email        TEXT,
    phone        TEXT,
    language     TEXT,
    tier         TEXT,
    attributes   TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE UNIQUE INDEX customers_external_id ON customers (tenant, external_id)
    WHERE external_id IS NOT NULL;

CREATE TABLE conversations (
    id           TEXT PRIMARY KEY NOT NULL,
    tenant       TEXT NOT NULL REFERENCES tenants (id),
    customer_id  TEXT NOT NULL REFERENCES customers (id),
    channel      TEXT NOT NULL,
    state        TEXT NOT NULL,
    queue        TEXT,
    assignee     TEXT,
    priority     BIGINT NOT NULL,
    version      BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    data         TEXT NOT NULL
);
CREATE UNIQUE INDEX conversations_tenant_id ON conversations (tenant, id);
CREATE INDEX conversations_tenant_state ON conversations (tenant, state, id);
CREATE INDEX conversations_tenant_assignee ON conversations (tenant, assignee, id);
CREATE INDEX conversations_state ON conversations (state);

CREATE TABLE messages (
    seq           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id            TEXT NOT NULL UNIQUE,
    tenant        TEXT NOT NULL REFERENCES tenants (id),
    conversation  TEXT NOT NULL REFERENCES conversations (id),
    role          TEXT NOT NULL,
    text          TEXT NOT NULL,
    agent         TEXT,
    external_id   TEXT,
    bot           TEXT,
    created_at    BIGINT NOT NULL
);
CREATE INDEX messages_tenant_conversation ON messages (tenant, conversation, seq);
CREATE UNIQUE INDEX messages_external_id ON messages (tenant, external_id)
    WHERE external_id IS NOT NULL;

CREATE TABLE events (
    seq           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant        TEXT NOT NULL REFERENCES tenants (id),
    conversation  TEXT REFERENCES conversations (id),
    kind          TEXT NOT NULL,
    actor         TEXT NOT NULL,
    data          TEXT NOT NULL,
    at            BIGINT NOT NULL
);
CREATE INDEX events_tenant_conversation ON events (tenant, conversation, seq);
CREATE INDEX events_tenant_seq ON events (tenant, seq);

CREATE TABLE idempotency (
    scope        TEXT NOT NULL,
    idem_key     TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,
    status       BIGINT,
    body         TEXT,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (scope, idem_key)
);
