//! Claude Code Hub's users, API keys and providers, read at every poll and mirrored here
//! ([`crate::usage::mirror`]): names, owners, quotas, breaker settings, disabled flags and soft
//! deletes, so cost alerts and breakers use CCH's own. The raw API keys (`keys.key`) and the
//! upstream secrets (`providers.key`) are never read.
use app::usage::{BreakerConfig, Source};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::PgPool;

use crate::usage::mirror::{self, quota, MirroredKey, MirroredProvider, MirroredUser, Synced};

/// A user row of CCH's.
#[derive(sqlx::FromRow)]
struct User {
    id: i64,
    name: String,
    limit_5h_usd: Option<Decimal>,
    daily_limit_usd: Option<Decimal>,
    limit_weekly_usd: Option<Decimal>,
    limit_monthly_usd: Option<Decimal>,
    is_enabled: Option<bool>,
    deleted_at: Option<DateTime<Utc>>,
}

/// A key row of CCH's (its raw value is not read).
#[derive(sqlx::FromRow)]
struct Key {
    id: i64,
    user_id: i64,
    name: String,
    limit_5h_usd: Option<Decimal>,
    limit_daily_usd: Option<Decimal>,
    limit_weekly_usd: Option<Decimal>,
    limit_monthly_usd: Option<Decimal>,
    is_enabled: Option<bool>,
    deleted_at: Option<DateTime<Utc>>,
}

/// A provider row of CCH's.
#[derive(sqlx::FromRow)]
struct Provider {
    id: i64,
    name: String,
    limit_weekly_usd: Option<Decimal>,
    limit_monthly_usd: Option<Decimal>,
    failure_threshold: Option<i64>,
    open_duration_ms: Option<i64>,
    half_open_successes: Option<i64>,
    is_enabled: Option<bool>,
    deleted_at: Option<DateTime<Utc>>,
}

/// A name as stored: trimmed, at most 200 characters, never empty.
pub fn name(text: &str, otherwise: impl FnOnce() -> String) -> String {
    let name: String = text.trim().chars().take(200).collect();
    if name.is_empty() {
        otherwise()
    } else {
        name
    }
}

/// What one sync changed: users, keys, providers.
pub async fn sync(cch: &PgPool, ours: &PgPool) -> Result<(Synced, Synced, Synced), super::CchError> {
    let users: Vec<User> = sqlx::query_as(
        "SELECT id::bigint AS id, name, limit_5h_usd::numeric AS limit_5h_usd,
                daily_limit_usd::numeric AS daily_limit_usd, limit_weekly_usd::numeric AS limit_weekly_usd,
                limit_monthly_usd::numeric AS limit_monthly_usd, is_enabled, deleted_at
           FROM users ORDER BY id",
    )
    .fetch_all(cch)
    .await
    .map_err(super::CchError::Cch)?;
    let keys: Vec<Key> = sqlx::query_as(
        "SELECT id::bigint AS id, user_id::bigint AS user_id, name, limit_5h_usd::numeric AS limit_5h_usd,
                limit_daily_usd::numeric AS limit_daily_usd, limit_weekly_usd::numeric AS limit_weekly_usd,
                limit_monthly_usd::numeric AS limit_monthly_usd, is_enabled, deleted_at
           FROM keys ORDER BY id",
    )
    .fetch_all(cch)
    .await
    .map_err(super::CchError::Cch)?;
    let providers: Vec<Provider> = sqlx::query_as(
        "SELECT id::bigint AS id, name, limit_weekly_usd::numeric AS limit_weekly_usd,
                limit_monthly_usd::numeric AS limit_monthly_usd,
                circuit_breaker_failure_threshold::bigint AS failure_threshold,
                circuit_breaker_open_duration::bigint AS open_duration_ms,
                circuit_breaker_half_open_success_threshold::bigint AS half_open_successes,
                is_enabled, deleted_at
           FROM providers ORDER BY id",
    )
    .fetch_all(cch)
    .await
    .map_err(super::CchError::Cch)?;
    let users: Vec<MirroredUser> = users
        .into_iter()
        .map(|u| MirroredUser {
            source_ref: u.id.to_string(),
            name: name(&u.name, || format!("user {}", u.id)),
            limits: [
                u.limit_5h_usd,
                u.daily_limit_usd,
                u.limit_weekly_usd,
                u.limit_monthly_usd,
            ]
            .map(quota),
            enabled: u.is_enabled.unwrap_or(true),
            deleted_at: u.deleted_at,
        })
        .collect();
    let keys: Vec<MirroredKey> = keys
        .into_iter()
        .map(|k| MirroredKey {
            source_ref: k.id.to_string(),
            owner_ref: k.user_id.to_string(),
            name: name(&k.name, || format!("key {}", k.id)),
            limits: [
                k.limit_5h_usd,
                k.limit_daily_usd,
                k.limit_weekly_usd,
                k.limit_monthly_usd,
            ]
            .map(quota),
            enabled: k.is_enabled.unwrap_or(true),
            deleted_at: k.deleted_at,
        })
        .collect();
    let defaults = BreakerConfig::default();
    let providers: Vec<MirroredProvider> = providers
        .into_iter()
        .map(|p| MirroredProvider {
            source_ref: p.id.to_string(),
            name: name(&p.name, || format!("provider {}", p.id)),
            limits: [p.limit_weekly_usd, p.limit_monthly_usd].map(quota),
            breaker: BreakerConfig {
                failure_threshold: p.failure_threshold.unwrap_or(defaults.failure_threshold),
                open_duration_ms: p.open_duration_ms.unwrap_or(defaults.open_duration_ms),
                half_open_success_threshold: p.half_open_successes.unwrap_or(defaults.half_open_success_threshold),
            }
            .clamped(),
            enabled: p.is_enabled.unwrap_or(true),
            deleted_at: p.deleted_at,
        })
        .collect();
    // Users before their keys.
    let users = mirror::sync_users(ours, Source::Cch, &users).await?;
    Ok((
        users,
        mirror::sync_keys(ours, Source::Cch, &keys).await?,
        mirror::sync_providers(ours, Source::Cch, &providers).await?,
    ))
}
