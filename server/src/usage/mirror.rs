//! Users, API keys and providers a gateway keeps itself (Claude Code Hub's): their
//! names, quotas, breaker settings, disabled flags and soft deletes are copied here as the
//! gateway has them, at every poll of its source, and are read-only here (`synced_at` marks
//! them): the cost check and the breakers then use the gateway's own quotas and thresholds.
//! Each gets an id of ours once (from `source_entity_ids`, as the sources give them), kept beside the
//! gateway's own (`source`, `source_ref`).
use std::collections::HashMap;

use app::usage::{BreakerConfig, Source};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::PgPool;

/// A quota as the gateway has it: NULL, zero or negative means none (as in Claude Code Hub);
/// amounts beyond our column are capped to it.
pub fn quota(amount: Option<Decimal>) -> Option<Decimal> {
    let cap = Decimal::new(99_999_999_999_999, 4);
    amount
        .filter(|a| *a > Decimal::ZERO)
        .map(|a| a.min(cap).round_dp(4))
        .filter(|a| *a > Decimal::ZERO)
}

/// A user as the gateway has it.
#[derive(Clone, Debug, PartialEq)]
pub struct MirroredUser {
    /// The gateway's id.
    pub source_ref: String,
    pub name: String,
    /// 5 小时, 今日, 本周, 本月 (already through [`quota`]).
    pub limits: [Option<Decimal>; 4],
    pub enabled: bool,
    pub deleted_at: Option<DateTime<Utc>>,
}

/// A provider as the gateway has it.
#[derive(Clone, Debug, PartialEq)]
pub struct MirroredProvider {
    pub source_ref: String,
    pub name: String,
    /// 本周, 本月.
    pub limits: [Option<Decimal>; 2],
    /// Within our ranges ([`BreakerConfig::clamped`]).
    pub breaker: BreakerConfig,
    pub enabled: bool,
    pub deleted_at: Option<DateTime<Utc>>,
}

/// An API key as the gateway has it, with its owner (the user's id in the gateway).
#[derive(Clone, Debug, PartialEq)]
pub struct MirroredKey {
    pub source_ref: String,
    pub owner_ref: String,
    pub name: String,
    /// 5 小时, 今日, 本周, 本月 (already through [`quota`]).
    pub limits: [Option<Decimal>; 4],
    pub enabled: bool,
    pub deleted_at: Option<DateTime<Utc>>,
}

/// What a sync changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Synced {
    pub added: u64,
    pub changed: u64,
    /// Gone from the gateway altogether (not even soft-deleted): marked deleted here.
    pub vanished: u64,
}

/// Makes `source`'s users what `users` says: new ones added, changed ones updated, those no
/// longer in the list marked deleted. Rows that did not change are not written.
pub async fn sync_users(db: &PgPool, source: Source, users: &[MirroredUser]) -> Result<Synced, sqlx::Error> {
    let refs: Vec<&str> = users.iter().map(|u| u.source_ref.as_str()).collect();
    let names: Vec<&str> = users.iter().map(|u| u.name.as_str()).collect();
    let limit = |i: usize| users.iter().map(|u| u.limits[i]).collect::<Vec<_>>();
    let enabled: Vec<bool> = users.iter().map(|u| u.enabled).collect();
    let deleted: Vec<Option<DateTime<Utc>>> = users.iter().map(|u| u.deleted_at).collect();
    let (added, changed, vanished): (i64, i64, i64) = sqlx::query_as(
        "WITH incoming AS (
             SELECT * FROM UNNEST($2::text[], $3::text[], $4::numeric[], $5::numeric[], $6::numeric[],
                                  $7::numeric[], $8::bool[], $9::timestamptz[])
                 AS i(source_ref, name, l5h, lday, lweek, lmonth, enabled, deleted_at)
         ), changed AS (
             UPDATE users u
                SET name = i.name, limit_5h_usd = i.l5h, limit_daily_usd = i.lday, limit_weekly_usd = i.lweek,
                    limit_monthly_usd = i.lmonth, enabled = i.enabled, deleted_at = i.deleted_at,
                    synced_at = now(), updated_at = now()
               FROM incoming i
              WHERE u.source = $1 AND u.source_ref = i.source_ref
                AND (u.name, u.limit_5h_usd, u.limit_daily_usd, u.limit_weekly_usd, u.limit_monthly_usd, u.enabled,
                     u.deleted_at, u.synced_at IS NULL)
                    IS DISTINCT FROM (i.name, i.l5h, i.lday, i.lweek, i.lmonth, i.enabled, i.deleted_at, false)
             RETURNING 1
         ), added AS (
             INSERT INTO users (id, name, source, source_ref, limit_5h_usd, limit_daily_usd, limit_weekly_usd,
                                limit_monthly_usd, enabled, deleted_at, synced_at)
             SELECT nextval('source_entity_ids'), i.name, $1, i.source_ref, i.l5h, i.lday, i.lweek, i.lmonth,
                    i.enabled, i.deleted_at, now()
               FROM incoming i
              WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.source = $1 AND u.source_ref = i.source_ref)
             ON CONFLICT (source, source_ref) WHERE source_ref IS NOT NULL DO NOTHING
             RETURNING 1
         ), vanished AS (
             UPDATE users u SET deleted_at = now(), synced_at = now(), updated_at = now()
              WHERE u.source = $1 AND u.synced_at IS NOT NULL AND u.deleted_at IS NULL
                AND NOT EXISTS (SELECT 1 FROM incoming i WHERE i.source_ref = u.source_ref)
             RETURNING 1
         )
         SELECT (SELECT count(*) FROM added), (SELECT count(*) FROM changed), (SELECT count(*) FROM vanished)",
    )
    .bind(source.key())
    .bind(&refs)
    .bind(&names)
    .bind(limit(0))
    .bind(limit(1))
    .bind(limit(2))
    .bind(limit(3))
    .bind(&enabled)
    .bind(&deleted)
    .fetch_one(db)
    .await?;
    Ok(synced(added, changed, vanished))
}

/// [`sync_users`] for providers, breaker settings included (read by the breaker at the next
/// outcome).
pub async fn sync_providers(
    db: &PgPool,
    source: Source,
    providers: &[MirroredProvider],
) -> Result<Synced, sqlx::Error> {
    let refs: Vec<&str> = providers.iter().map(|p| p.source_ref.as_str()).collect();
    let names: Vec<&str> = providers.iter().map(|p| p.name.as_str()).collect();
    let limit = |i: usize| providers.iter().map(|p| p.limits[i]).collect::<Vec<_>>();
    let threshold: Vec<i64> = providers.iter().map(|p| p.breaker.failure_threshold).collect();
    let open_ms: Vec<i64> = providers.iter().map(|p| p.breaker.open_duration_ms).collect();
    let successes: Vec<i64> = providers
        .iter()
        .map(|p| p.breaker.half_open_success_threshold)
        .collect();
    let enabled: Vec<bool> = providers.iter().map(|p| p.enabled).collect();
    let deleted: Vec<Option<DateTime<Utc>>> = providers.iter().map(|p| p.deleted_at).collect();
    let (added, changed, vanished): (i64, i64, i64) = sqlx::query_as(
        "WITH incoming AS (
             SELECT * FROM UNNEST($2::text[], $3::text[], $4::numeric[], $5::numeric[], $6::bigint[], $7::bigint[],
                                  $8::bigint[], $9::bool[], $10::timestamptz[])
                 AS i(source_ref, name, lweek, lmonth, threshold, open_ms, successes, enabled, deleted_at)
         ), changed AS (
             UPDATE providers p
                SET name = i.name, limit_weekly_usd = i.lweek, limit_monthly_usd = i.lmonth,
                    breaker_failure_threshold = i.threshold, breaker_open_duration_ms = i.open_ms,
                    breaker_half_open_success_threshold = i.successes, enabled = i.enabled,
                    deleted_at = i.deleted_at, synced_at = now(), updated_at = now()
               FROM incoming i
              WHERE p.source = $1 AND p.source_ref = i.source_ref
                AND (p.name, p.limit_weekly_usd, p.limit_monthly_usd, p.breaker_failure_threshold::bigint,
                     p.breaker_open_duration_ms, p.breaker_half_open_success_threshold::bigint, p.enabled,
                     p.deleted_at, p.synced_at IS NULL)
                    IS DISTINCT FROM (i.name, i.lweek, i.lmonth, i.threshold, i.open_ms, i.successes, i.enabled,
                                      i.deleted_at, false)
             RETURNING 1
         ), added AS (
             INSERT INTO providers (id, name, source, source_ref, limit_weekly_usd, limit_monthly_usd,
                                    breaker_failure_threshold, breaker_open_duration_ms,
                                    breaker_half_open_success_threshold, enabled, deleted_at, synced_at)
             SELECT nextval('source_entity_ids'), i.name, $1, i.source_ref, i.lweek, i.lmonth, i.threshold,
                    i.open_ms, i.successes, i.enabled, i.deleted_at, now()
               FROM incoming i
              WHERE NOT EXISTS (SELECT 1 FROM providers p WHERE p.source = $1 AND p.source_ref = i.source_ref)
             ON CONFLICT (source, source_ref) WHERE source_ref IS NOT NULL DO NOTHING
             RETURNING 1
         ), vanished AS (
             UPDATE providers p SET deleted_at = now(), synced_at = now(), updated_at = now()
              WHERE p.source = $1 AND p.synced_at IS NOT NULL AND p.deleted_at IS NULL
                AND NOT EXISTS (SELECT 1 FROM incoming i WHERE i.source_ref = p.source_ref)
             RETURNING 1
         )
         SELECT (SELECT count(*) FROM added), (SELECT count(*) FROM changed), (SELECT count(*) FROM vanished)",
    )
    .bind(source.key())
    .bind(&refs)
    .bind(&names)
    .bind(limit(0))
    .bind(limit(1))
    .bind(&threshold)
    .bind(&open_ms)
    .bind(&successes)
    .bind(&enabled)
    .bind(&deleted)
    .fetch_one(db)
    .await?;
    Ok(synced(added, changed, vanished))
}

/// [`sync_users`] for API keys, each under its owner as mirrored (a key whose owner is not, is
/// left out until it is).
pub async fn sync_keys(db: &PgPool, source: Source, keys: &[MirroredKey]) -> Result<Synced, sqlx::Error> {
    let refs: Vec<&str> = keys.iter().map(|k| k.source_ref.as_str()).collect();
    let owners: Vec<&str> = keys.iter().map(|k| k.owner_ref.as_str()).collect();
    let names: Vec<&str> = keys.iter().map(|k| k.name.as_str()).collect();
    let limit = |i: usize| keys.iter().map(|k| k.limits[i]).collect::<Vec<_>>();
    let enabled: Vec<bool> = keys.iter().map(|k| k.enabled).collect();
    let deleted: Vec<Option<DateTime<Utc>>> = keys.iter().map(|k| k.deleted_at).collect();
    let (added, changed, vanished): (i64, i64, i64) = sqlx::query_as(
        "WITH incoming AS (
             SELECT i.*, u.id AS user_id
               FROM UNNEST($2::text[], $3::text[], $4::text[], $5::numeric[], $6::numeric[], $7::numeric[],
                           $8::numeric[], $9::bool[], $10::timestamptz[])
                    AS i(source_ref, owner_ref, name, l5h, lday, lweek, lmonth, enabled, deleted_at)
               JOIN users u ON u.source = $1 AND u.source_ref = i.owner_ref
         ), changed AS (
             UPDATE api_keys k
                SET user_id = i.user_id, name = i.name, limit_5h_usd = i.l5h, limit_daily_usd = i.lday,
                    limit_weekly_usd = i.lweek, limit_monthly_usd = i.lmonth, enabled = i.enabled,
                    deleted_at = i.deleted_at, synced_at = now(), updated_at = now()
               FROM incoming i
              WHERE k.source = $1 AND k.source_ref = i.source_ref
                AND (k.user_id, k.name, k.limit_5h_usd, k.limit_daily_usd, k.limit_weekly_usd, k.limit_monthly_usd,
                     k.enabled, k.deleted_at)
                    IS DISTINCT FROM (i.user_id, i.name, i.l5h, i.lday, i.lweek, i.lmonth, i.enabled, i.deleted_at)
             RETURNING 1
         ), added AS (
             INSERT INTO api_keys (id, source, source_ref, user_id, name, limit_5h_usd, limit_daily_usd,
                                   limit_weekly_usd, limit_monthly_usd, enabled, deleted_at)
             SELECT nextval('source_entity_ids'), $1, i.source_ref, i.user_id, i.name, i.l5h, i.lday, i.lweek,
                    i.lmonth, i.enabled, i.deleted_at
               FROM incoming i
              WHERE NOT EXISTS (SELECT 1 FROM api_keys k WHERE k.source = $1 AND k.source_ref = i.source_ref)
             ON CONFLICT (source, source_ref) DO NOTHING
             RETURNING 1
         ), vanished AS (
             UPDATE api_keys k SET deleted_at = now(), synced_at = now(), updated_at = now()
              WHERE k.source = $1 AND k.deleted_at IS NULL
                AND NOT EXISTS (SELECT 1 FROM incoming i WHERE i.source_ref = k.source_ref)
             RETURNING 1
         )
         SELECT (SELECT count(*) FROM added), (SELECT count(*) FROM changed), (SELECT count(*) FROM vanished)",
    )
    .bind(source.key())
    .bind(&refs)
    .bind(&owners)
    .bind(&names)
    .bind(limit(0))
    .bind(limit(1))
    .bind(limit(2))
    .bind(limit(3))
    .bind(&enabled)
    .bind(&deleted)
    .fetch_one(db)
    .await?;
    Ok(synced(added, changed, vanished))
}

/// Our ids of `source`'s API keys named by their ids there (unknown ones left out).
pub async fn key_ids(db: &PgPool, source: Source, refs: &[String]) -> Result<HashMap<String, i64>, sqlx::Error> {
    if refs.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT source_ref, id FROM api_keys WHERE source = $1 AND source_ref = ANY($2)")
            .bind(source.key())
            .bind(refs)
            .fetch_all(db)
            .await?;
    Ok(rows.into_iter().collect())
}

fn synced(added: i64, changed: i64, vanished: i64) -> Synced {
    let n = |v: i64| u64::try_from(v).unwrap_or(0);
    Synced {
        added: n(added),
        changed: n(changed),
        vanished: n(vanished),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_of_zero_or_less_are_none_and_huge_ones_are_capped() {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        assert_eq!(quota(None), None);
        assert_eq!(quota(Some(d("0"))), None);
        assert_eq!(quota(Some(d("-5"))), None);
        assert_eq!(quota(Some(d("0.00001"))), None);
        assert_eq!(quota(Some(d("12.50"))), Some(d("12.50")));
        assert_eq!(quota(Some(d("1e12"))), Some(d("9999999999.9999")));
    }
}
