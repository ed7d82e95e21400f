-- Agent emails are unique per tenant, not across Baton (a global index told one tenant's admin
-- which addresses another tenant uses). SQLite cannot drop a column's UNIQUE constraint, so the
-- table is rebuilt; sessions (which reference agents with ON DELETE CASCADE) are kept aside and
-- restored, and foreign keys are checked at commit.
PRAGMA defer_foreign_keys = ON;
CREATE TEMP TABLE sessions_kept AS SELECT * FROM sessions;
CREATE TABLE agents_rebuilt (
    id                 TEXT PRIMARY KEY NOT NULL,
    tenant             TEXT NOT NULL REFERENCES tenants (id),
    email              TEXT NOT NULL,
    name               TEXT NOT NULL,
    role               TEXT NOT NULL,
    status             TEXT NOT NULL,
    status_changed_at  BIGINT NOT NULL,
    skills             TEXT NOT NULL,
    languages          TEXT NOT NULL,
    queues             TEXT NOT NULL,
    capacity           BIGINT NOT NULL,
    password_hash      TEXT NOT NULL,
    created_at         BIGINT NOT NULL,
    deactivated_at     BIGINT
);
INSERT INTO agents_rebuilt (id, tenant, email, name, role, status, status_changed_at, skills,
    languages, queues, capacity, password_hash, created_at, deactivated_at)
SELECT id, tenant, email, name, role, status, status_changed_at, skills, languages, queues,
    capacity, password_hash, created_at, deactivated_at FROM agents;
DROP TABLE agents;
ALTER TABLE agents_rebuilt RENAME TO agents;
CREATE INDEX agents_tenant ON agents (tenant, name);
CREATE UNIQUE INDEX agents_tenant_email ON agents (tenant, email);
CREATE INDEX agents_email ON agents (email);
INSERT INTO sessions SELECT * FROM sessions_kept WHERE NOT EXISTS
    (SELECT 1 FROM sessions s WHERE s.token_hash = sessions_kept.token_hash);
DROP TABLE sessions_kept;
