-- Persisted routing timers: one row per (tenant, kind), due at `due_at` (Unix ms). The routing
-- dispatcher keeps the `routing` timer at its router's next deadline (offer expiry, overflow
-- step, sticky window, queue opening); the timer worker claims due rows and routes the tenant.
-- (The index on conversations (tenant, state, id) that rebuilding a router reads already
-- exists since 0001.)
CREATE TABLE timers (
    tenant  TEXT NOT NULL REFERENCES tenants (id),
    kind    TEXT NOT NULL,
    due_at  BIGINT NOT NULL,
    PRIMARY KEY (tenant, kind)
);
CREATE INDEX timers_due ON timers (due_at);

-- Route every existing tenant once after the upgrade (conversations queued before routing ran
-- in the server get offered).
INSERT INTO timers (tenant, kind, due_at) SELECT id, 'routing', 0 FROM tenants;
