-- Every quota a gateway keeps, on users, API keys and providers alike (Claude Code Hub has them all):
-- 5 hours, a day, a week, a month and a total, and how the day is cut — at a fixed local time
-- (`fixed`, 00:00 = the calendar day) or the last 24 hours (`rolling`).
ALTER TABLE users
    ADD COLUMN limit_total_usd  NUMERIC(14, 4) CHECK (limit_total_usd > 0),
    ADD COLUMN daily_reset_mode TEXT NOT NULL DEFAULT 'fixed' CHECK (daily_reset_mode IN ('fixed', 'rolling')),
    ADD COLUMN daily_reset_time TIME NOT NULL DEFAULT '00:00';
ALTER TABLE api_keys
    ADD COLUMN limit_total_usd  NUMERIC(14, 4) CHECK (limit_total_usd > 0),
    ADD COLUMN daily_reset_mode TEXT NOT NULL DEFAULT 'fixed' CHECK (daily_reset_mode IN ('fixed', 'rolling')),
    ADD COLUMN daily_reset_time TIME NOT NULL DEFAULT '00:00';
ALTER TABLE providers
    ADD COLUMN limit_5h_usd     NUMERIC(14, 4) CHECK (limit_5h_usd > 0),
    ADD COLUMN limit_daily_usd  NUMERIC(14, 4) CHECK (limit_daily_usd > 0),
    ADD COLUMN limit_total_usd  NUMERIC(14, 4) CHECK (limit_total_usd > 0),
    ADD COLUMN daily_reset_mode TEXT NOT NULL DEFAULT 'fixed' CHECK (daily_reset_mode IN ('fixed', 'rolling')),
    ADD COLUMN daily_reset_time TIME NOT NULL DEFAULT '00:00';

-- The rollups keys and providers now need, as users have them (migration 0005): per key and
-- quarter-hour and per key and day; per provider and quarter-hour (a shard per connection, as
-- usage_provider_daily: every batch names the same few providers). The quarter-hours are kept
-- 25 hours (ingest::BUCKETS_KEPT): a day that does not start at midnight is read from them.
CREATE TABLE usage_key_buckets (
    key_id   BIGINT          NOT NULL,
    bucket   TIMESTAMPTZ     NOT NULL,
    requests BIGINT          NOT NULL,
    cost_usd NUMERIC(24, 10) NOT NULL,
    tokens   BIGINT          NOT NULL,
    PRIMARY KEY (key_id, bucket)
);
CREATE TABLE usage_key_daily (
    day      DATE            NOT NULL,
    key_id   BIGINT          NOT NULL,
    requests BIGINT          NOT NULL,
    cost_usd NUMERIC(24, 10) NOT NULL,
    tokens   BIGINT          NOT NULL,
    PRIMARY KEY (day, key_id)
);
CREATE INDEX usage_key_daily_key ON usage_key_daily (key_id, day);
CREATE TABLE usage_provider_buckets (
    provider_id BIGINT          NOT NULL,
    bucket      TIMESTAMPTZ     NOT NULL,
    shard       SMALLINT        NOT NULL,
    requests    BIGINT          NOT NULL,
    cost_usd    NUMERIC(24, 10) NOT NULL,
    tokens      BIGINT          NOT NULL,
    PRIMARY KEY (provider_id, bucket, shard)
);
-- The partial first quarter-hour of a key's window is read from the raw rows.
CREATE INDEX usage_records_key_time ON usage_records (key_id, created_at) WHERE key_id IS NOT NULL;

INSERT INTO usage_key_daily (day, key_id, requests, cost_usd, tokens)
SELECT (created_at AT TIME ZONE coalesce((SELECT daily_timezone FROM usage_meta WHERE id = 1), 'UTC'))::date,
       key_id, count(*), sum(cost_usd),
       sum(input_tokens + output_tokens + cache_creation_input_tokens + cache_read_input_tokens)
  FROM usage_records WHERE key_id IS NOT NULL GROUP BY 1, 2;
INSERT INTO usage_key_buckets (key_id, bucket, requests, cost_usd, tokens)
SELECT key_id, date_bin('15 minutes', created_at, TIMESTAMPTZ '2000-01-01 00:00:00+00'), count(*), sum(cost_usd),
       sum(input_tokens + output_tokens + cache_creation_input_tokens + cache_read_input_tokens)
  FROM usage_records WHERE key_id IS NOT NULL AND created_at >= now() - interval '25 hours' GROUP BY 1, 2;
INSERT INTO usage_provider_buckets (provider_id, bucket, shard, requests, cost_usd, tokens)
SELECT provider_id, date_bin('15 minutes', created_at, TIMESTAMPTZ '2000-01-01 00:00:00+00'), 0, count(*),
       sum(cost_usd), sum(input_tokens + output_tokens + cache_creation_input_tokens + cache_read_input_tokens)
  FROM usage_records WHERE created_at >= now() - interval '25 hours' GROUP BY 1, 2;
-- The users' quarter-hours were kept 6 hours: the 19 before are rebuilt from the raw rows.
DELETE FROM usage_user_buckets;
INSERT INTO usage_user_buckets (user_id, bucket, requests, cost_usd, tokens)
SELECT user_id, date_bin('15 minutes', created_at, TIMESTAMPTZ '2000-01-01 00:00:00+00'), count(*), sum(cost_usd),
       sum(input_tokens + output_tokens + cache_creation_input_tokens + cache_read_input_tokens)
  FROM usage_records WHERE created_at >= now() - interval '25 hours' GROUP BY 1, 2;
