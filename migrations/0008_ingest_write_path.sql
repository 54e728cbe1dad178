-- The ingest write path, measured (bench usage; pg_walinspect on a 5 M-row table):
--   * the foreign keys of usage_records took a KEY SHARE row lock on its user and provider for
--     every inserted row (a WAL record each, and multixacts on the few hot provider rows shared
--     by concurrent batches): a third of the statement's time. Ingest itself adds or renames the
--     users and providers a batch names before inserting its rows, and neither is ever deleted,
--     so the references hold without the checks.
--   * the raw rows are read by time only at the edge of a window (the partial first quarter-hour
--     of the rolling 5 hours) and by whole-table passes; they arrive in time order, so a BRIN
--     index answers those ranges from the last few block ranges, and costs next to nothing per
--     insert where the B-tree cost an index insertion per row.
--   * every batch adds to the same few usage_provider_daily rows (today's, one per provider),
--     and holds their row locks until its statement ends: concurrent batches queued there
--     (a quarter of the throughput). Each connection now adds to a shard of its own
--     (pg_backend_pid() % 8); readers sum over the shards, which they did anyway.
--   * usage_user_buckets serves only the rolling 5-hour window, yet kept every quarter-hour
--     since the first request; it is now pruned to the last hours (ingest::prune_buckets), so
--     it stays a few rows per active user and its upserts stay in cache. The time-zone rebuild
--     of the daily rollups reads the raw rows instead.
ALTER TABLE usage_records DROP CONSTRAINT IF EXISTS usage_records_user_id_fkey;
ALTER TABLE usage_records DROP CONSTRAINT IF EXISTS usage_records_provider_id_fkey;
DELETE FROM usage_user_buckets WHERE bucket < now() - interval '6 hours';
DROP INDEX IF EXISTS usage_records_time;
CREATE INDEX usage_records_time ON usage_records USING brin (created_at)
    WITH (pages_per_range = 16, autosummarize = on);
ALTER TABLE usage_provider_daily ADD COLUMN shard SMALLINT NOT NULL DEFAULT 0;
ALTER TABLE usage_provider_daily DROP CONSTRAINT usage_provider_daily_pkey;
ALTER TABLE usage_provider_daily ADD PRIMARY KEY (day, provider_id, shard);
