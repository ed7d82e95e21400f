-- Knowledge-base articles. The search index is built from these rows in memory.
CREATE TABLE kb_articles (
    tenant      TEXT NOT NULL REFERENCES tenants (id),
    id          TEXT NOT NULL,
    data        TEXT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (tenant, id)
);
