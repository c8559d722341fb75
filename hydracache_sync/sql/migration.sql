--! Template for hydracache_sync.tiers.postgres.migration_sql(), which validates
--! the names, fills in the {{...}} placeholders and drops these --! lines.
--! Do not run this file directly.
-- hydracache_sync: the durable tier's table, read and written by PostgresStore.
-- Printed by: python -m hydracache_sync schema --schema {{schema}} --table {{table}}
-- Idempotent (safe to run again); the schema must exist already.
-- PostgresStore never creates or alters schema at run time.

CREATE TABLE IF NOT EXISTS "{{schema}}"."{{table}}" (
    key         TEXT PRIMARY KEY,
    value       BYTEA,
    is_none     BOOLEAN NOT NULL,
    expires_at  TIMESTAMPTZ,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    tags        TEXT[] NOT NULL DEFAULT '{}',
    CHECK (is_none = (value IS NULL))
);

-- Expiry sweeps (PostgresStore.cleanup_expired) read only expiring rows.
CREATE INDEX IF NOT EXISTS "{{expires_index}}"
    ON "{{schema}}"."{{table}}" (expires_at)
    WHERE expires_at IS NOT NULL;

-- Tag invalidation (tags @> ARRAY[tag]) never scans the table.
CREATE INDEX IF NOT EXISTS "{{tags_index}}"
    ON "{{schema}}"."{{table}}" USING GIN (tags);

COMMENT ON TABLE "{{schema}}"."{{table}}" IS
    'hydracache_sync durable cache tier; owned by PostgresStore, which deletes any row in it.';
COMMENT ON COLUMN "{{schema}}"."{{table}}".key IS
    'The cache''s full key, view prefixes included.';
COMMENT ON COLUMN "{{schema}}"."{{table}}".value IS
    'The envelope bytes written by the cache; NULL exactly when is_none.';
COMMENT ON COLUMN "{{schema}}"."{{table}}".is_none IS
    'A cached None (negative entry), stored without an envelope.';
COMMENT ON COLUMN "{{schema}}"."{{table}}".expires_at IS
    'When the entry stops being readable; NULL means never.';
COMMENT ON COLUMN "{{schema}}"."{{table}}".created_at IS
    'When the entry was last written.';
COMMENT ON COLUMN "{{schema}}"."{{table}}".tags IS
    'Invalidation tags of the entry (GIN-indexed).';
