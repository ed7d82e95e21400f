-- The web widget: a tenant's public widget key (its hash; the key itself is in the `widget`
-- setting) and customer tokens, each scoped to one conversation.
CREATE TABLE widget_keys (
    key_hash    TEXT PRIMARY KEY NOT NULL,
    tenant      TEXT NOT NULL REFERENCES tenants (id)
);
CREATE INDEX widget_keys_tenant ON widget_keys (tenant);

CREATE TABLE customer_tokens (
    token_hash    TEXT PRIMARY KEY NOT NULL,
    tenant        TEXT NOT NULL REFERENCES tenants (id),
    conversation  TEXT NOT NULL,
    expires_at    BIGINT NOT NULL
);
