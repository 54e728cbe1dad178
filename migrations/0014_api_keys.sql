-- API keys a gateway issues to its users (Claude Code Hub's `keys`), mirrored with their owner,
-- name, quotas and state as `users` are (`synced_at`); a request is attributed to its key
-- (`usage_records.key_id`). A key's raw value is never read.
CREATE TABLE api_keys (
    id                BIGINT         PRIMARY KEY,
    source            TEXT           NOT NULL CHECK (source IN ('litellm', 'cch')),
    source_ref        TEXT           NOT NULL CHECK (length(source_ref) BETWEEN 1 AND 200),
    user_id           BIGINT         NOT NULL REFERENCES users (id),
    name              TEXT           NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    limit_5h_usd      NUMERIC(14, 4) CHECK (limit_5h_usd > 0),
    limit_daily_usd   NUMERIC(14, 4) CHECK (limit_daily_usd > 0),
    limit_weekly_usd  NUMERIC(14, 4) CHECK (limit_weekly_usd > 0),
    limit_monthly_usd NUMERIC(14, 4) CHECK (limit_monthly_usd > 0),
    enabled           BOOLEAN        NOT NULL DEFAULT true,
    deleted_at        TIMESTAMPTZ,
    synced_at         TIMESTAMPTZ    NOT NULL DEFAULT now(),
    created_at        TIMESTAMPTZ    NOT NULL DEFAULT now(),
    updated_at        TIMESTAMPTZ    NOT NULL DEFAULT now(),
    UNIQUE (source, source_ref)
);
CREATE INDEX api_keys_by_user ON api_keys (user_id);

ALTER TABLE usage_records ADD COLUMN key_id BIGINT REFERENCES api_keys (id);
