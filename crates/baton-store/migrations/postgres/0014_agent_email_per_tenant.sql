-- Agent emails are unique per tenant, not across Baton (a global index told one tenant's admin
-- which addresses another tenant uses).
ALTER TABLE agents DROP CONSTRAINT agents_email_key;
CREATE UNIQUE INDEX agents_tenant_email ON agents (tenant, email);
CREATE INDEX agents_email ON agents (email);
