-- What a gateway reports: users' quotas, providers (quotas and circuit-breaker settings) and one
-- row per request; plus rollups maintained at ingest so leaderboards and cost checks never scan
-- the raw rows.

-- Quotas in USD; NULL = no quota.
ALTER TABLE users
    ADD COLUMN limit_5h_usd      NUMERIC(14, 4) CHECK (limit_5h_usd > 0),
    ADD COLUMN limit_daily_usd   NUMERIC(14, 4) CHECK (limit_daily_usd > 0),
    ADD COLUMN limit_weekly_usd  NUMERIC(14, 4) CHECK (limit_weekly_usd > 0),
    ADD COLUMN limit_monthly_usd NUMERIC(14, 4) CHECK (limit_monthly_usd > 0);

CREATE TABLE providers (
    id                                  BIGINT PRIMARY KEY,
    name                                TEXT           NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    limit_weekly_usd                    NUMERIC(14, 4) CHECK (limit_weekly_usd > 0),
    limit_monthly_usd                   NUMERIC(14, 4) CHECK (limit_monthly_usd > 0),
    breaker_failure_threshold           INTEGER        NOT NULL DEFAULT 5
                                        CHECK (breaker_failure_threshold BETWEEN 1 AND 100),
    breaker_open_duration_ms            BIGINT         NOT NULL DEFAULT 1800000
                                        CHECK (breaker_open_duration_ms BETWEEN 1000 AND 86400000),
    breaker_half_open_success_threshold INTEGER        NOT NULL DEFAULT 2
                                        CHECK (breaker_half_open_success_threshold BETWEEN 1 AND 10),
    created_at                          TIMESTAMPTZ    NOT NULL DEFAULT now(),
    updated_at                          TIMESTAMPTZ    NOT NULL DEFAULT now()
);

CREATE TABLE usage_records (
    request_id                  TEXT           PRIMARY KEY CHECK (length(request_id) BETWEEN 1 AND 200),
    user_id                     BIGINT         NOT NULL REFERENCES users (id),
    provider_id                 BIGINT         NOT NULL REFERENCES providers (id),
    model                       TEXT           NOT NULL CHECK (length(model) <= 200),
    cost_usd                    NUMERIC(20, 10) NOT NULL CHECK (cost_usd >= 0),
    input_tokens                BIGINT         NOT NULL DEFAULT 0 CHECK (input_tokens >= 0),
    output_tokens               BIGINT         NOT NULL DEFAULT 0 CHECK (output_tokens >= 0),
    cache_creation_input_tokens BIGINT         NOT NULL DEFAULT 0 CHECK (cache_creation_input_tokens >= 0),
    cache_read_input_tokens     BIGINT         NOT NULL DEFAULT 0 CHECK (cache_read_input_tokens >= 0),
    success                     BOOLEAN        NOT NULL,
    status_code                 INTEGER,
    error_message               TEXT,
    created_at                  TIMESTAMPTZ    NOT NULL,
    ingested_at                 TIMESTAMPTZ    NOT NULL DEFAULT now()
);
-- The raw rows are read only at the edge of a rolling window (per user or provider) and by the
-- benchmark's naive scan.
CREATE INDEX usage_records_user_time ON usage_records (user_id, created_at);
CREATE INDEX usage_records_provider_time ON usage_records (provider_id, created_at);
-- The partial first bucket of a rolling 5-hour window is read from the raw rows.
CREATE INDEX usage_records_time ON usage_records (created_at);

-- Per user, provider and 15-minute bucket: 15 minutes divides every UTC offset in use (+05:45,
-- +08:45, …), so a calendar day, week or month in any APP_TIMEZONE is a whole number of buckets.
CREATE TABLE usage_rollups (
    bucket      TIMESTAMPTZ     NOT NULL,
    user_id     BIGINT          NOT NULL,
    provider_id BIGINT          NOT NULL,
    requests    BIGINT          NOT NULL,
    cost_usd    NUMERIC(24, 10) NOT NULL,
    tokens      BIGINT          NOT NULL,
    PRIMARY KEY (bucket, user_id, provider_id)
);
CREATE INDEX usage_rollups_user ON usage_rollups (user_id, bucket);
CREATE INDEX usage_rollups_provider ON usage_rollups (provider_id, bucket);

-- Per user, provider and calendar day in APP_TIMEZONE: what leaderboards, weeks and months read.
-- Derived from usage_rollups (exactly, as days are whole buckets) and rebuilt from them when
-- APP_TIMEZONE changes (usage_meta records the zone the days were cut in).
CREATE TABLE usage_daily (
    day         DATE            NOT NULL,
    user_id     BIGINT          NOT NULL,
    provider_id BIGINT          NOT NULL,
    requests    BIGINT          NOT NULL,
    cost_usd    NUMERIC(24, 10) NOT NULL,
    tokens      BIGINT          NOT NULL,
    PRIMARY KEY (day, user_id, provider_id)
);
CREATE INDEX usage_daily_user ON usage_daily (user_id, day);
CREATE INDEX usage_daily_provider ON usage_daily (provider_id, day);

CREATE TABLE usage_meta (
    id               SMALLINT PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    daily_timezone   TEXT NOT NULL
);
