-- Files (images and PDFs) that customers and agents attach to messages, stored in the database
-- itself so that a backup, a restore and an erasure cover them with everything else. The
-- message that carries a file names it in its own `attachment` column (the same reference its
-- `message_added` event records).
CREATE TABLE attachments (
    id            TEXT PRIMARY KEY,
    tenant        TEXT NOT NULL REFERENCES tenants (id),
    conversation  TEXT NOT NULL REFERENCES conversations (id),
    message       TEXT NOT NULL REFERENCES messages (id),
    uploader      TEXT NOT NULL,
    filename      TEXT NOT NULL,
    content_type  TEXT NOT NULL,
    size          BIGINT NOT NULL,
    sha256        TEXT NOT NULL,
    bytes         BLOB NOT NULL,
    created_at    BIGINT NOT NULL
);
CREATE INDEX attachments_conversation ON attachments (tenant, conversation);
ALTER TABLE messages ADD COLUMN attachment TEXT;
