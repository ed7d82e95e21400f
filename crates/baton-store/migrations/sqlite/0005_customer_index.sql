-- A customer's past conversations (the handoff brief's profile).
CREATE INDEX conversations_tenant_customer ON conversations (tenant, customer_id, id);
