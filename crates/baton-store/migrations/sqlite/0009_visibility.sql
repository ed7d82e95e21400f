-- Who may see a conversation: agents see the ones assigned or offered to them, their queues'
-- waiting and assigned ones, and the closed ones they owned last. The pending offer's agent
-- lived only in `data`, and `assignee` is cleared on close, so both get a column of their own,
-- kept in sync by the store wherever the row is written.
ALTER TABLE conversations ADD COLUMN offer_agent TEXT;
ALTER TABLE conversations ADD COLUMN last_agent TEXT;

UPDATE conversations SET offer_agent = json_extract(data, '$.offer.agent');

-- The last owner: the current assignee, or else the agent of the latest assignment or transfer
-- to an agent in the conversation's log.
UPDATE conversations SET last_agent = COALESCE(assignee, (
    SELECT COALESCE(json_extract(e.data, '$.agent'), json_extract(e.data, '$.to_agent'))
    FROM events e
    WHERE e.tenant = conversations.tenant AND e.conversation = conversations.id
      AND (e.kind = 'assigned'
           OR (e.kind = 'transferred' AND json_extract(e.data, '$.to_agent') IS NOT NULL))
    ORDER BY e.seq DESC
    LIMIT 1
));

CREATE INDEX conversations_tenant_offer_agent ON conversations (tenant, offer_agent)
    WHERE offer_agent IS NOT NULL;
CREATE INDEX conversations_tenant_last_agent ON conversations (tenant, last_agent, id);
