-- A deactivated agent keeps their history but cannot log in and is offered nothing; NULL while
-- active.
ALTER TABLE agents ADD COLUMN deactivated_at BIGINT;
