-- What a tenant's router learned between routing passes (the router is rebuilt from the store
-- on every pass): moving handle times per queue and agent, round-robin rotation, the agent who
-- held each assigned conversation, and per waiting conversation the customer's language and
-- previous agent. One JSON document per tenant, written under the tenant's routing lock.
CREATE TABLE routing_memory (
    tenant      TEXT PRIMARY KEY NOT NULL REFERENCES tenants (id),
    data        TEXT NOT NULL,
    updated_at  BIGINT NOT NULL
);

-- A returning customer's previous agent (sticky routing, best match) is read from their
-- latest earlier conversation.
CREATE INDEX conversation_facts_customer ON conversation_facts (tenant, customer, started_at);
