//! Outcomes the circuit breakers missed while Redis was away (`breaker_backlog`): ingest writes
//! them here instead of dropping them, and every instance replays them, oldest first, once Redis
//! answers — an outage delays a breaker's opening and its alert, and loses neither. While a
//! provider has outcomes waiting, its new ones queue behind them, so the breaker sees every
//! provider's outcomes in request order.
//!
//! This file keeps the backlog; [`crate::usage::breaker_replay`] feeds it to the breakers.
use std::collections::HashSet;

use sqlx::PgPool;

use crate::usage::event::UsageEvent;

/// Adds outcomes for the breakers to see later.
pub async fn defer(db: &PgPool, events: &[&UsageEvent]) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO breaker_backlog (request_id, provider_id, created_at)
         SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::timestamptz[])
         ON CONFLICT (request_id) DO NOTHING",
    )
    .bind(events.iter().map(|e| e.request_id.clone()).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.provider_id).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.created_at).collect::<Vec<_>>())
    .execute(db)
    .await?;
    Ok(())
}

/// Which of `providers` have outcomes waiting.
pub async fn waiting(db: &PgPool, providers: &[i64]) -> Result<HashSet<i64>, sqlx::Error> {
    let ids: Vec<i64> =
        sqlx::query_scalar("SELECT DISTINCT provider_id FROM breaker_backlog WHERE provider_id = ANY($1)")
            .bind(providers)
            .fetch_all(db)
            .await?;
    Ok(ids.into_iter().collect())
}
