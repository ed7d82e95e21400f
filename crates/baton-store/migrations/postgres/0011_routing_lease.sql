-- One instance routes a tenant at a time: it holds this lease and renews it every second.
-- `epoch` grows each time another instance takes the lease over; every routing decision
-- commits only if its instance still holds the lease at the epoch it routed under (a fence),
-- so a stale router can never act after a takeover.
CREATE TABLE routing_leases (
    tenant      TEXT PRIMARY KEY NOT NULL REFERENCES tenants (id),
    holder      TEXT NOT NULL,
    epoch       BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
