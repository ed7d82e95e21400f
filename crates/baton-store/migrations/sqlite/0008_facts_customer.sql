-- The customer and their tier on the analytics facts row (as of the conversation's latest
-- event), so a report reads one table in index order instead of joining customers.
ALTER TABLE conversation_facts ADD COLUMN customer TEXT;
ALTER TABLE conversation_facts ADD COLUMN tier TEXT;
UPDATE conversation_facts SET customer = (
    SELECT c.customer_id FROM conversations c WHERE c.id = conversation_facts.conversation
);
UPDATE conversation_facts SET tier = (
    SELECT cu.tier FROM customers cu WHERE cu.id = conversation_facts.customer
);
DROP INDEX conversation_facts_range;
CREATE INDEX conversation_facts_range ON conversation_facts (tenant, started_at, conversation);
