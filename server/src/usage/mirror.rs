//! Users, API keys and providers a gateway keeps itself (Claude Code Hub's): their
//! names, quotas, breaker settings, disabled flags and soft deletes are copied here as the
//! gateway has them, at every poll of its source, and are read-only here (`synced_at` marks
//! them): the cost check and the breakers then use the gateway's own quotas and thresholds.
//! Each gets an id of ours once (from `source_entity_ids`, as the sources give them), kept beside the
//! gateway's own (`source`, `source_ref`).
use std::collections::HashMap;

use app::usage::{BreakerConfig, DailyReset, Source};
use chrono::{DateTime, NaiveTime, Utc};
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

/// An account's quotas as the gateway has them, and how its day is cut.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Quotas {
    /// In [`app::usage::UsageWindow::ALL`] order: 5 小时, 今日, 本周, 本月, 累计 (already
    /// through [`quota`]).
    pub limits: [Option<Decimal>; 5],
    pub daily_reset: DailyReset,
}

/// A user, API key or provider as the gateway has it.
#[derive(Clone, Debug, PartialEq)]
pub struct Mirrored {
    /// The gateway's id.
    pub source_ref: String,
    pub name: String,
    pub quotas: Quotas,
    pub enabled: bool,
    pub deleted_at: Option<DateTime<Utc>>,
}

/// A user as the gateway has it.
pub type MirroredUser = Mirrored;

/// An API key as the gateway has it, with its owner (the user's id in the gateway).
#[derive(Clone, Debug, PartialEq)]
pub struct MirroredKey {
    pub key: Mirrored,
    pub owner_ref: String,
}

/// A provider as the gateway has it.
#[derive(Clone, Debug, PartialEq)]
pub struct MirroredProvider {
    pub provider: Mirrored,
    /// Within our ranges ([`BreakerConfig::clamped`]).
    pub breaker: BreakerConfig,
}

/// What a sync changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Synced {
    pub added: u64,
    pub changed: u64,
    /// Gone from the gateway altogether (not even soft-deleted): marked deleted here.
    pub vanished: u64,
}

/// What one kind of account has beside the common columns: inputs (name, SQL array type) added
/// to the incoming rows, the columns they set (column, value from the incoming row `i`), and
/// what the incoming rows are joined with and take from the join.
#[derive(Default)]
struct Own {
    inputs: &'static [(&'static str, &'static str)],
    columns: &'static [(&'static str, &'static str)],
    join: &'static str,
    joined: &'static str,
}

type Bound<'q> = sqlx::query::QueryAs<'q, sqlx::Postgres, (i64, i64, i64), sqlx::postgres::PgArguments>;

/// Makes `source`'s rows of `table` what `accounts` says: new ones added (with an id of ours),
/// changed ones updated, those no longer in the list marked deleted. Rows that did not change
/// are not written. `bind_own` binds `own.inputs`, in order.
async fn sync(
    db: &PgPool,
    source: Source,
    table: &str,
    accounts: &[&Mirrored],
    own: Own,
    bind_own: impl for<'q> FnOnce(Bound<'q>) -> Bound<'q>,
) -> Result<Synced, sqlx::Error> {
    const COMMON: [(&str, &str, &str); 10] = [
        ("name", "text", "name"),
        ("l5h", "numeric", "limit_5h_usd"),
        ("lday", "numeric", "limit_daily_usd"),
        ("lweek", "numeric", "limit_weekly_usd"),
        ("lmonth", "numeric", "limit_monthly_usd"),
        ("ltotal", "numeric", "limit_total_usd"),
        ("reset_mode", "text", "daily_reset_mode"),
        ("reset_time", "time", "daily_reset_time"),
        ("enabled", "bool", "enabled"),
        ("deleted_at", "timestamptz", "deleted_at"),
    ];
    let inputs: Vec<(&str, &str)> = std::iter::once(("source_ref", "text"))
        .chain(COMMON.iter().map(|(input, ty, _)| (*input, *ty)))
        .chain(own.inputs.iter().copied())
        .collect();
    let unnest = inputs
        .iter()
        .enumerate()
        .map(|(n, (_, ty))| format!("${}::{ty}[]", n + 2))
        .collect::<Vec<_>>()
        .join(", ");
    let names = inputs.iter().map(|(input, _)| *input).collect::<Vec<_>>().join(", ");
    let set: Vec<(String, String)> = COMMON
        .iter()
        .map(|(input, _, column)| (column.to_string(), format!("i.{input}")))
        .chain(own.columns.iter().map(|(c, v)| (c.to_string(), v.to_string())))
        .collect();
    let columns = set.iter().map(|(c, _)| c.as_str()).collect::<Vec<_>>().join(", ");
    let values = set.iter().map(|(_, v)| v.as_str()).collect::<Vec<_>>().join(", ");
    let current = set.iter().map(|(c, _)| format!("e.{c}")).collect::<Vec<_>>().join(", ");
    let sql = format!(
        "WITH incoming AS (
             SELECT i.*{joined} FROM UNNEST({unnest}) AS i({names}){join}
         ), changed AS (
             UPDATE {table} e SET ({columns}, synced_at, updated_at) = ({values}, now(), now())
               FROM incoming i
              WHERE e.source = $1 AND e.source_ref = i.source_ref
                AND ({current}, e.synced_at IS NULL) IS DISTINCT FROM ({values}, false)
             RETURNING 1
         ), added AS (
             INSERT INTO {table} (id, source, source_ref, {columns}, synced_at)
             SELECT nextval('source_entity_ids'), $1, i.source_ref, {values}, now()
               FROM incoming i
              WHERE NOT EXISTS (SELECT 1 FROM {table} e WHERE e.source = $1 AND e.source_ref = i.source_ref)
             ON CONFLICT (source, source_ref) WHERE source_ref IS NOT NULL DO NOTHING
             RETURNING 1
         ), vanished AS (
             UPDATE {table} e SET deleted_at = now(), synced_at = now(), updated_at = now()
              WHERE e.source = $1 AND e.synced_at IS NOT NULL AND e.deleted_at IS NULL
                AND NOT EXISTS (SELECT 1 FROM incoming i WHERE i.source_ref = e.source_ref)
             RETURNING 1
         )
         SELECT (SELECT count(*) FROM added), (SELECT count(*) FROM changed), (SELECT count(*) FROM vanished)",
        join = own.join,
        joined = own.joined,
    );
    let column = |f: &dyn Fn(&Mirrored) -> Option<Decimal>| accounts.iter().map(|a| f(a)).collect::<Vec<_>>();
    let (modes, times): (Vec<&str>, Vec<NaiveTime>) = accounts
        .iter()
        .map(|a| match a.quotas.daily_reset {
            DailyReset::Rolling => ("rolling", NaiveTime::MIN),
            DailyReset::Fixed { minute } => (
                "fixed",
                NaiveTime::from_num_seconds_from_midnight_opt(u32::from(minute) * 60, 0).unwrap_or(NaiveTime::MIN),
            ),
        })
        .unzip();
    let query = sqlx::query_as(&sql)
        .bind(source.key())
        .bind(accounts.iter().map(|a| a.source_ref.clone()).collect::<Vec<_>>())
        .bind(accounts.iter().map(|a| a.name.clone()).collect::<Vec<_>>())
        .bind(column(&|a| a.quotas.limits[0]))
        .bind(column(&|a| a.quotas.limits[1]))
        .bind(column(&|a| a.quotas.limits[2]))
        .bind(column(&|a| a.quotas.limits[3]))
        .bind(column(&|a| a.quotas.limits[4]))
        .bind(modes)
        .bind(times)
        .bind(accounts.iter().map(|a| a.enabled).collect::<Vec<_>>())
        .bind(accounts.iter().map(|a| a.deleted_at).collect::<Vec<_>>());
    let (added, changed, vanished): (i64, i64, i64) = bind_own(query).fetch_one(db).await?;
    let n = |v: i64| u64::try_from(v).unwrap_or(0);
    Ok(Synced {
        added: n(added),
        changed: n(changed),
        vanished: n(vanished),
    })
}

/// Makes `source`'s users what `users` says ([`sync`]).
pub async fn sync_users(db: &PgPool, source: Source, users: &[MirroredUser]) -> Result<Synced, sqlx::Error> {
    let accounts: Vec<&Mirrored> = users.iter().collect();
    sync(db, source, "users", &accounts, Own::default(), |q| q).await
}

/// [`sync_users`] for providers, breaker settings included (read by the breaker at the next
/// outcome).
pub async fn sync_providers(
    db: &PgPool,
    source: Source,
    providers: &[MirroredProvider],
) -> Result<Synced, sqlx::Error> {
    let accounts: Vec<&Mirrored> = providers.iter().map(|p| &p.provider).collect();
    let own = Own {
        inputs: &[("threshold", "int"), ("open_ms", "bigint"), ("successes", "int")],
        columns: &[
            ("breaker_failure_threshold", "i.threshold"),
            ("breaker_open_duration_ms", "i.open_ms"),
            ("breaker_half_open_success_threshold", "i.successes"),
        ],
        ..Own::default()
    };
    let int = |v: i64| i32::try_from(v).unwrap_or(i32::MAX);
    let threshold: Vec<i32> = providers.iter().map(|p| int(p.breaker.failure_threshold)).collect();
    let open_ms: Vec<i64> = providers.iter().map(|p| p.breaker.open_duration_ms).collect();
    let successes: Vec<i32> = providers
        .iter()
        .map(|p| int(p.breaker.half_open_success_threshold))
        .collect();
    sync(db, source, "providers", &accounts, own, |q| {
        q.bind(threshold).bind(open_ms).bind(successes)
    })
    .await
}

/// [`sync_users`] for API keys, each under its owner as mirrored (a key whose owner is not, is
/// left out until it is).
pub async fn sync_keys(db: &PgPool, source: Source, keys: &[MirroredKey]) -> Result<Synced, sqlx::Error> {
    let accounts: Vec<&Mirrored> = keys.iter().map(|k| &k.key).collect();
    let own = Own {
        inputs: &[("owner_ref", "text")],
        columns: &[("user_id", "i.user_id")],
        join: " JOIN users u ON u.source = $1 AND u.source_ref = i.owner_ref",
        joined: ", u.id AS user_id",
    };
    let owners: Vec<String> = keys.iter().map(|k| k.owner_ref.clone()).collect();
    sync(db, source, "api_keys", &accounts, own, |q| q.bind(owners)).await
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
