-- Per-tenant configuration documents (escalation rules, detector settings, business hours),
-- stored as JSON text and replaced whole.
CREATE TABLE settings (
    tenant      TEXT NOT NULL REFERENCES tenants (id),
    key         TEXT NOT NULL,
    value       TEXT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (tenant, key)
);
