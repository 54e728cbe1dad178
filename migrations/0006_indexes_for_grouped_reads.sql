-- Spending per window is now read in one grouped pass per rollup table (server/src/spending.rs)
-- instead of one index scan per user and window:
--   * the rolling 5 hours reads the last 20 quarter-hours of every user: an index on the bucket;
--   * the raw rows are only read by time (the partial first quarter-hour of the rolling window,
--     the time-zone rebuild), so the per-user and per-provider indexes cost every insert and
--     serve nothing.
CREATE INDEX usage_user_buckets_bucket ON usage_user_buckets (bucket);
DROP INDEX IF EXISTS usage_records_user_time;
DROP INDEX IF EXISTS usage_records_provider_time;
