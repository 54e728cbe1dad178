//! Claude Code Hub's users, API keys and providers, read at every poll and mirrored here
//! ([`crate::usage::mirror`]): names, owners, quotas, breaker settings, disabled flags and soft
//! deletes, so cost alerts and breakers use CCH's own. The raw API keys (`keys.key`) and the
//! upstream secrets (`providers.key`) are never read.
use app::usage::{BreakerConfig, DailyReset, Source};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::PgPool;

use crate::usage::mirror::{self, quota, Mirrored, MirroredKey, MirroredProvider, MirroredUser, Quotas, Synced};

/// The quota columns users, keys and providers share in CCH (its user's daily limit is
/// `daily_limit_usd`, renamed here).
#[derive(sqlx::FromRow)]
struct Limits {
    limit_5h_usd: Option<Decimal>,
    limit_daily_usd: Option<Decimal>,
    limit_weekly_usd: Option<Decimal>,
    limit_monthly_usd: Option<Decimal>,
    limit_total_usd: Option<Decimal>,
    daily_reset_mode: Option<String>,
    daily_reset_time: Option<String>,
}

impl Limits {
    /// As CCH applies them: `rolling` is the last 24 hours, `fixed` starts at `daily_reset_time`
    /// (`HH:mm` in CCH's time zone, taken to be APP_TIMEZONE; unreadable = midnight).
    fn quotas(&self) -> Quotas {
        let daily_reset = match self.daily_reset_mode.as_deref() {
            Some("rolling") => DailyReset::Rolling,
            _ => self
                .daily_reset_time
                .as_deref()
                .and_then(DailyReset::fixed_at)
                .unwrap_or(DailyReset::MIDNIGHT),
        };
        Quotas {
            limits: [
                self.limit_5h_usd,
                self.limit_daily_usd,
                self.limit_weekly_usd,
                self.limit_monthly_usd,
                self.limit_total_usd,
            ]
            .map(quota),
            daily_reset,
        }
    }
}

/// The quota columns as [`Limits`] reads them (`daily` names the daily limit's column).
fn limit_columns(daily: &str) -> String {
    format!(
        "limit_5h_usd::numeric AS limit_5h_usd, {daily}::numeric AS limit_daily_usd,
         limit_weekly_usd::numeric AS limit_weekly_usd, limit_monthly_usd::numeric AS limit_monthly_usd,
         limit_total_usd::numeric AS limit_total_usd, daily_reset_mode::text AS daily_reset_mode,
         daily_reset_time::text AS daily_reset_time"
    )
}

/// A user row of CCH's.
#[derive(sqlx::FromRow)]
struct User {
    id: i64,
    name: String,
    #[sqlx(flatten)]
    limits: Limits,
    is_enabled: Option<bool>,
    deleted_at: Option<DateTime<Utc>>,
}

/// A key row of CCH's (its raw value is not read).
#[derive(sqlx::FromRow)]
struct Key {
    id: i64,
    user_id: i64,
    name: String,
    #[sqlx(flatten)]
    limits: Limits,
    is_enabled: Option<bool>,
    deleted_at: Option<DateTime<Utc>>,
}

/// A provider row of CCH's.
#[derive(sqlx::FromRow)]
struct Provider {
    id: i64,
    name: String,
    #[sqlx(flatten)]
    limits: Limits,
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
    let users: Vec<User> = sqlx::query_as(&format!(
        "SELECT id::bigint AS id, name, {}, is_enabled, deleted_at FROM users ORDER BY id",
        limit_columns("daily_limit_usd")
    ))
    .fetch_all(cch)
    .await
    .map_err(super::CchError::Cch)?;
    let keys: Vec<Key> = sqlx::query_as(&format!(
        "SELECT id::bigint AS id, user_id::bigint AS user_id, name, {}, is_enabled, deleted_at
           FROM keys ORDER BY id",
        limit_columns("limit_daily_usd")
    ))
    .fetch_all(cch)
    .await
    .map_err(super::CchError::Cch)?;
    let providers: Vec<Provider> = sqlx::query_as(&format!(
        "SELECT id::bigint AS id, name, {},
                circuit_breaker_failure_threshold::bigint AS failure_threshold,
                circuit_breaker_open_duration::bigint AS open_duration_ms,
                circuit_breaker_half_open_success_threshold::bigint AS half_open_successes,
                is_enabled, deleted_at
           FROM providers ORDER BY id",
        limit_columns("limit_daily_usd")
    ))
    .fetch_all(cch)
    .await
    .map_err(super::CchError::Cch)?;
    let users: Vec<MirroredUser> = users
        .into_iter()
        .map(|u| MirroredUser {
            source_ref: u.id.to_string(),
            name: name(&u.name, || format!("user {}", u.id)),
            quotas: u.limits.quotas(),
            enabled: u.is_enabled.unwrap_or(true),
            deleted_at: u.deleted_at,
        })
        .collect();
    let keys: Vec<MirroredKey> = keys
        .into_iter()
        .map(|k| MirroredKey {
            key: Mirrored {
                source_ref: k.id.to_string(),
                name: name(&k.name, || format!("key {}", k.id)),
                quotas: k.limits.quotas(),
                enabled: k.is_enabled.unwrap_or(true),
                deleted_at: k.deleted_at,
            },
            owner_ref: k.user_id.to_string(),
        })
        .collect();
    let defaults = BreakerConfig::default();
    let providers: Vec<MirroredProvider> = providers
        .into_iter()
        .map(|p| MirroredProvider {
            provider: Mirrored {
                source_ref: p.id.to_string(),
                name: name(&p.name, || format!("provider {}", p.id)),
                quotas: p.limits.quotas(),
                enabled: p.is_enabled.unwrap_or(true),
                deleted_at: p.deleted_at,
            },
            breaker: BreakerConfig {
                failure_threshold: p.failure_threshold.unwrap_or(defaults.failure_threshold),
                open_duration_ms: p.open_duration_ms.unwrap_or(defaults.open_duration_ms),
                half_open_success_threshold: p.half_open_successes.unwrap_or(defaults.half_open_success_threshold),
            }
            .clamped(),
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
