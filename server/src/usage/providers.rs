//! Providers as the gateway knows them (its integer ids): quotas and circuit-breaker settings.
use std::collections::HashMap;
use std::time::Duration;

use sqlx::PgPool;

use crate::usage::breaker::BreakerSettings;

/// Breaker settings of the given providers (missing ones are left out).
pub async fn breaker_settings(db: &PgPool, ids: &[i64]) -> Result<HashMap<i64, BreakerSettings>, sqlx::Error> {
    let rows: Vec<(i64, i32, i64, i32)> = sqlx::query_as(
        "SELECT id, breaker_failure_threshold, breaker_open_duration_ms, breaker_half_open_success_threshold
           FROM providers WHERE id = ANY($1)",
    )
    .bind(ids)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, threshold, open_ms, successes)| {
            (
                id,
                BreakerSettings {
                    failure_threshold: threshold.max(1) as u32,
                    open_duration: Duration::from_millis(open_ms.max(1000) as u64),
                    half_open_success_threshold: successes.max(1) as u32,
                },
            )
        })
        .collect())
}
