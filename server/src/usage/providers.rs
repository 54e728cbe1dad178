//! Providers as the gateway knows them (its integer ids): quotas and circuit-breaker settings.
use std::collections::HashMap;

use app::usage::BreakerConfig;
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
                BreakerSettings::from_config(BreakerConfig {
                    failure_threshold: i64::from(threshold),
                    open_duration_ms: open_ms,
                    half_open_success_threshold: i64::from(successes),
                }),
            )
        })
        .collect())
}

/// The id the gateway that reports provider `id` gives it (`providers.source_ref`); `None` for
/// a provider of `/api/v1/usage`, whose id is the gateway's own, or one that is gone.
pub async fn source_ref(db: &PgPool, id: i64) -> Result<Option<String>, sqlx::Error> {
    let found: Option<Option<String>> = sqlx::query_scalar("SELECT source_ref FROM providers WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await?;
    Ok(found.flatten())
}
