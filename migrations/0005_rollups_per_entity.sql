-- Rollups per entity instead of per (user, provider): usage is sparse (a user makes a few dozen
-- requests a day, spread over many providers and quarter-hours), so per-(user, provider, bucket)
-- rows came close to one per request and bought nothing. Now:
--   usage_user_buckets    per user and 15 minutes: the rolling 5-hour window (≤ 20 rows a user)
--   usage_user_daily      per user and day in APP_TIMEZONE: leaderboard, 今日/本周/本月
--   usage_provider_daily  per provider and day in APP_TIMEZONE: providers' 本周/本月
CREATE TABLE usage_user_buckets (
    user_id  BIGINT          NOT NULL,
    bucket   TIMESTAMPTZ     NOT NULL,
    requests BIGINT          NOT NULL,
    cost_usd NUMERIC(24, 10) NOT NULL,
    tokens   BIGINT          NOT NULL,
    PRIMARY KEY (user_id, bucket)
);

CREATE TABLE usage_user_daily (
    day      DATE            NOT NULL,
    user_id  BIGINT          NOT NULL,
    requests BIGINT          NOT NULL,
    cost_usd NUMERIC(24, 10) NOT NULL,
    tokens   BIGINT          NOT NULL,
    PRIMARY KEY (day, user_id)
);
CREATE INDEX usage_user_daily_user ON usage_user_daily (user_id, day);

CREATE TABLE usage_provider_daily (
    day         DATE            NOT NULL,
    provider_id BIGINT          NOT NULL,
    requests    BIGINT          NOT NULL,
    cost_usd    NUMERIC(24, 10) NOT NULL,
    tokens      BIGINT          NOT NULL,
    PRIMARY KEY (day, provider_id)
);
CREATE INDEX usage_provider_daily_provider ON usage_provider_daily (provider_id, day);

INSERT INTO usage_user_buckets (user_id, bucket, requests, cost_usd, tokens)
SELECT user_id, bucket, sum(requests), sum(cost_usd), sum(tokens) FROM usage_rollups GROUP BY 1, 2;
INSERT INTO usage_user_daily (day, user_id, requests, cost_usd, tokens)
SELECT day, user_id, sum(requests), sum(cost_usd), sum(tokens) FROM usage_daily GROUP BY 1, 2;
INSERT INTO usage_provider_daily (day, provider_id, requests, cost_usd, tokens)
SELECT day, provider_id, sum(requests), sum(cost_usd), sum(tokens) FROM usage_daily GROUP BY 1, 2;

DROP TABLE usage_rollups;
DROP TABLE usage_daily;
