-- Where usage comes from (`server/src/sources/`): `http` (POST /api/v1/usage, in the gateway's own
-- integer ids), `litellm` (its proxy's callback) and `cch` (Claude Code Hub's database). A user or
-- provider a source names by an id of its own (`source_ref`: LiteLLM's user ids are text, its
-- providers deployment hashes) gets an id of ours from `source_entity_ids`, far above any id a
-- gateway reports over HTTP.
ALTER TABLE users
    ADD COLUMN source     TEXT NOT NULL DEFAULT 'http' CHECK (source IN ('http', 'litellm', 'cch')),
    ADD COLUMN source_ref TEXT CHECK (length(source_ref) BETWEEN 1 AND 200);
ALTER TABLE providers
    ADD COLUMN source     TEXT NOT NULL DEFAULT 'http' CHECK (source IN ('http', 'litellm', 'cch')),
    ADD COLUMN source_ref TEXT CHECK (length(source_ref) BETWEEN 1 AND 200);
CREATE UNIQUE INDEX users_by_source_ref ON users (source, source_ref) WHERE source_ref IS NOT NULL;
CREATE UNIQUE INDEX providers_by_source_ref ON providers (source, source_ref) WHERE source_ref IS NOT NULL;
CREATE SEQUENCE source_entity_ids START WITH 1000000000000;

-- What each source delivered, per minute (a shard per connection, as usage_provider_daily: every
-- batch of a source writes the same minute): events stored, repeats, rejections and events that
-- came without a price. Read for the last hour by the 数据来源 page; pruned after a day.
CREATE TABLE source_activity (
    source        TEXT        NOT NULL,
    minute        TIMESTAMPTZ NOT NULL,
    shard         SMALLINT    NOT NULL,
    accepted      BIGINT      NOT NULL,
    duplicates    BIGINT      NOT NULL,
    rejected      BIGINT      NOT NULL,
    unpriced      BIGINT      NOT NULL,
    last_event_at TIMESTAMPTZ,
    PRIMARY KEY (source, minute, shard)
);

-- The latest reasons a source's events were rejected or came unpriced, for people to act on.
CREATE TABLE source_notes (
    id     BIGSERIAL   PRIMARY KEY,
    source TEXT        NOT NULL,
    kind   TEXT        NOT NULL CHECK (kind IN ('rejected', 'unpriced')),
    at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    detail TEXT        NOT NULL CHECK (length(detail) <= 500)
);
CREATE INDEX source_notes_latest ON source_notes (source, kind, id DESC);
