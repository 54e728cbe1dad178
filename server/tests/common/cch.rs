//! A Claude Code Hub database of the test's own: the tables and columns the connector reads,
//! written from Claude Code Hub v0.9.2's schema (`src/drizzle/schema.ts`), and a writer that
//! writes requests the way CCH does — the row inserted when the request starts (no status), then
//! updated as it finishes (the status, later perhaps the cost), with `updated_at` moved by each.
#![allow(dead_code)]

use rust_decimal::Decimal;
use sqlx::{Executor, PgPool};

/// CCH v0.9.2's tables, as far as the connector reads them (shared with `bench cch`).
const SCHEMA: &str = include_str!("../fixtures/cch/schema.sql");

/// CCH's database, created empty for one test.
pub struct CchDb {
    pub url: url::Url,
    pub pool: PgPool,
}

impl CchDb {
    pub async fn create() -> CchDb {
        let url = super::create_database().await;
        let pool = PgPool::connect(url.as_str()).await.unwrap();
        pool.execute(SCHEMA).await.unwrap();
        CchDb { url, pool }
    }

    pub async fn user(&self, name: &str) -> i64 {
        sqlx::query_scalar("INSERT INTO users (name) VALUES ($1) RETURNING id::bigint")
            .bind(name)
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }

    /// A key of `user`'s (its raw value `sk-<name>`).
    pub async fn key(&self, user: i64, name: &str) -> (i64, String) {
        let raw = format!("sk-{name}");
        let id = sqlx::query_scalar("INSERT INTO keys (user_id, key, name) VALUES ($1, $2, $3) RETURNING id::bigint")
            .bind(user)
            .bind(&raw)
            .bind(name)
            .fetch_one(&self.pool)
            .await
            .unwrap();
        (id, raw)
    }

    pub async fn provider(&self, name: &str) -> i64 {
        sqlx::query_scalar(
            "INSERT INTO providers (name, url, key) VALUES ($1, 'https://api.anthropic.com', 'sk-ant-upstream-secret')
             RETURNING id::bigint",
        )
        .bind(name)
        .fetch_one(&self.pool)
        .await
        .unwrap()
    }

    /// A request starting (CCH's `createMessageRequest`): no status, cost 0; returns its id.
    pub async fn start(&self, user: i64, key: &str, provider: i64, endpoint: &str) -> i64 {
        sqlx::query_scalar(
            "INSERT INTO message_request (provider_id, user_id, key, model, original_model, endpoint,
                                          provider_chain)
             VALUES ($1, $2, $3, 'claude-sonnet-4', 'claude-sonnet-4', $4,
                     jsonb_build_array(jsonb_build_object('id', $1, 'reason', 'initial_selection')))
             RETURNING id::bigint",
        )
        .bind(i32::try_from(provider).unwrap())
        .bind(i32::try_from(user).unwrap())
        .bind(key)
        .bind(endpoint)
        .fetch_one(&self.pool)
        .await
        .unwrap()
    }

    /// The write buffer's flush of a finished request: its status, tokens and (when `cost` is
    /// given) cost; `served_by` is the provider the chain ends with.
    pub async fn finish(&self, id: i64, status: i32, cost: Option<Decimal>, served_by: i64, error: Option<&str>) {
        let reason = if status < 400 {
            "request_success"
        } else {
            "retry_failed"
        };
        sqlx::query(
            "UPDATE message_request
                SET status_code = $2, cost_usd = coalesce($3, cost_usd), input_tokens = 1000, output_tokens = 200,
                    cache_creation_input_tokens = 10, cache_read_input_tokens = 5, error_message = $4,
                    provider_id = $5,
                    provider_chain = provider_chain || jsonb_build_array(
                        jsonb_build_object('id', $5, 'name', 'served', 'reason', $6::text, 'statusCode', $2)),
                    duration_ms = 1200, updated_at = now()
              WHERE id = $1 AND deleted_at IS NULL",
        )
        .bind(i32::try_from(id).unwrap())
        .bind(status)
        .bind(cost)
        .bind(error)
        .bind(i32::try_from(served_by).unwrap())
        .bind(reason)
        .execute(&self.pool)
        .await
        .unwrap();
    }

    /// A later flush writing only the cost (CCH's cost may land after the status).
    pub async fn write_cost(&self, id: i64, cost: Decimal) {
        sqlx::query("UPDATE message_request SET cost_usd = $2, updated_at = now() WHERE id = $1")
            .bind(i32::try_from(id).unwrap())
            .bind(cost)
            .execute(&self.pool)
            .await
            .unwrap();
    }

    /// A guard's complete row: a warmup block (`blocked_by`) or a replay (`is_replay`), both
    /// with no upstream (provider 0), status 200 and no cost.
    pub async fn guarded(&self, user: i64, key: &str, blocked_by: Option<&str>, replay: bool) -> i64 {
        sqlx::query_scalar(
            "INSERT INTO message_request (provider_id, user_id, key, model, endpoint, status_code, cost_usd,
                                          blocked_by, is_replay, input_tokens, output_tokens)
             VALUES (0, $1, $2, 'claude-sonnet-4', '/v1/messages', 200, CASE WHEN $4 THEN 0 END, $3, $4, 800, 100)
             RETURNING id::bigint",
        )
        .bind(i32::try_from(user).unwrap())
        .bind(key)
        .bind(blocked_by)
        .bind(replay)
        .fetch_one(&self.pool)
        .await
        .unwrap()
    }

    pub async fn execute(&self, sql: &str) {
        self.pool.execute(sql).await.unwrap();
    }
}
