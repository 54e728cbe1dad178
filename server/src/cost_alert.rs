//! 成本预警: for every user and provider with a quota, each quota window — 5 小时 (rolling),
//! 今日, 本周 (from Monday), 本月 (calendar, in APP_TIMEZONE) — usage at or over the threshold
//! is reported, once per (entity, window instance, level): the level reached is remembered in
//! Redis, so a check that finds usage still high stays quiet, while a new window or a higher
//! level alerts again. Reads the rollups, never the raw usage (except the partial first 15
//! minutes of the rolling window).
use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use fred::prelude::*;
use rust_decimal::Decimal;
use sqlx::PgPool;

use crate::redis::{Keys, LuaScript};
use crate::templates::{usage_percent, CostLevel, QuotaWindow};

const BUCKET_SECS: i64 = 15 * 60;

/// Who is over the threshold in which window.
#[derive(Clone, Debug, PartialEq)]
pub struct Overrun {
    pub provider: bool,
    pub id: i64,
    pub name: String,
    pub window: QuotaWindow,
    /// Identifies the window: the day, week or month it starts; `rolling` for 5 hours.
    pub instance: String,
    pub current_usd: Decimal,
    pub limit_usd: Decimal,
    pub level: CostLevel,
}

fn level_rank(level: CostLevel) -> u8 {
    match level {
        CostLevel::Green => 1,
        CostLevel::Yellow => 2,
        CostLevel::Red => 3,
    }
}

/// When `day` begins in `tz`. A zone whose clocks jump at midnight has no 00:00 that day: the
/// day starts when the clocks say 01:00.
pub fn local_midnight(tz: Tz, day: NaiveDate) -> DateTime<Utc> {
    let naive = day.and_hms_opt(0, 0, 0).expect("midnight exists");
    tz.from_local_datetime(&naive)
        .earliest()
        .or_else(|| tz.from_local_datetime(&(naive + Duration::hours(1))).earliest())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| Utc.from_utc_datetime(&naive))
}

/// The rolling 5-hour window ending at `now`: its start, and the first 15-minute boundary at or
/// after the start — whole buckets of `usage_user_buckets` from there on, raw rows before it.
pub fn rolling_window(now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let start = now - Duration::hours(5);
    let aligned_secs = (start.timestamp() + BUCKET_SECS - 1).div_euclid(BUCKET_SECS) * BUCKET_SECS;
    let aligned = Utc.timestamp_opt(aligned_secs, 0).single().unwrap_or(start);
    (start, aligned)
}

/// SQL answering one row `cost`: what the user `u` spent in the rolling window. `start` and
/// `aligned` name the placeholders bound to the instants of [`rolling_window`].
pub fn user_rolling_cost_sql(start: &str, aligned: &str) -> String {
    format!(
        "SELECT coalesce(sum(c), 0) AS cost FROM (
             SELECT r.cost_usd AS c FROM usage_user_buckets r WHERE r.user_id = u.id AND r.bucket >= {aligned}
             UNION ALL
             SELECT x.cost_usd FROM usage_records x
              WHERE x.user_id = u.id AND x.created_at >= {start} AND x.created_at < {aligned}
         ) t"
    )
}

/// SQL answering one row `cost`: what the user `u` (or the provider `p`) spent from the day bound
/// to the placeholder `since` on, read from the daily rollups (≤ 31 rows per entity).
pub fn daily_cost_sql(provider: bool, since: &str) -> String {
    let (table, column, alias) = if provider {
        ("usage_provider_daily", "provider_id", "p")
    } else {
        ("usage_user_daily", "user_id", "u")
    };
    format!(
        "SELECT coalesce(sum(d.cost_usd), 0) AS cost FROM {table} d WHERE d.{column} = {alias}.id AND d.day >= {since}"
    )
}

/// The first day of each calendar window containing `now`, in `tz`.
pub fn calendar_starts(now: DateTime<Utc>, tz: Tz) -> [(QuotaWindow, NaiveDate); 3] {
    let today = now.with_timezone(&tz).date_naive();
    let monday = today - Duration::days(i64::from(today.weekday().num_days_from_monday()));
    let first = today.with_day(1).expect("day 1 exists");
    [
        (QuotaWindow::Day, today),
        (QuotaWindow::Week, monday),
        (QuotaWindow::Month, first),
    ]
}

/// KEYS: level key. ARGV: level, ttl_secs. → 1 when `level` is above the remembered one (now
/// remembered), 0 otherwise (the memory is kept alive).
const RAISE_LEVEL: &str = r#"
local seen = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > seen then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
  return 1
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 0
"#;

#[derive(Clone)]
pub struct CostChecker {
    db: PgPool,
    redis: Pool,
    keys: Keys,
    script: std::sync::Arc<LuaScript>,
}

#[derive(Debug, thiserror::Error)]
pub enum CostCheckError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("Redis: {0}")]
    Redis(#[from] fred::error::Error),
}

type QuotaRow = (i64, String, Decimal, Decimal);

impl CostChecker {
    pub fn new(db: PgPool, redis: Pool, keys: Keys) -> Self {
        CostChecker {
            db,
            redis,
            keys,
            script: std::sync::Arc::new(LuaScript::new("cost_level", "", RAISE_LEVEL)),
        }
    }

    /// Every entity and window at or over `threshold_percent` at `now`.
    pub async fn overruns(
        &self,
        now: DateTime<Utc>,
        tz: Tz,
        threshold_percent: i32,
    ) -> Result<Vec<Overrun>, CostCheckError> {
        let threshold = Decimal::from(threshold_percent);
        let mut out = Vec::new();
        // Rolling 5 hours: whole buckets from the first boundary after the start, raw rows before it.
        let (start, aligned) = rolling_window(now);
        let rows: Vec<QuotaRow> = sqlx::query_as(&format!(
            "SELECT u.id, u.name, u.limit_5h_usd, s.cost FROM users u
               JOIN LATERAL ({}) s ON true
              WHERE u.limit_5h_usd IS NOT NULL AND s.cost * 100 >= u.limit_5h_usd * $3",
            user_rolling_cost_sql("$1", "$2")
        ))
        .bind(start)
        .bind(aligned)
        .bind(threshold)
        .fetch_all(&self.db)
        .await?;
        out.extend(collect(rows, false, QuotaWindow::FiveHours, "rolling".into()));

        for (window, first_day) in calendar_starts(now, tz) {
            let instance = first_day.to_string();
            let user_column = match window {
                QuotaWindow::Day => "limit_daily_usd",
                QuotaWindow::Week => "limit_weekly_usd",
                _ => "limit_monthly_usd",
            };
            let rows: Vec<QuotaRow> = sqlx::query_as(&format!(
                "SELECT u.id, u.name, u.{user_column}, s.cost FROM users u
                   JOIN LATERAL ({}) s ON true
                  WHERE u.{user_column} IS NOT NULL AND s.cost * 100 >= u.{user_column} * $2",
                daily_cost_sql(false, "$1")
            ))
            .bind(first_day)
            .bind(threshold)
            .fetch_all(&self.db)
            .await?;
            out.extend(collect(rows, false, window, instance.clone()));
            let provider_column = match window {
                QuotaWindow::Week => "limit_weekly_usd",
                QuotaWindow::Month => "limit_monthly_usd",
                _ => continue,
            };
            let rows: Vec<QuotaRow> = sqlx::query_as(&format!(
                "SELECT p.id, p.name, p.{provider_column}, s.cost FROM providers p
                   JOIN LATERAL ({}) s ON true
                  WHERE p.{provider_column} IS NOT NULL AND s.cost * 100 >= p.{provider_column} * $2",
                daily_cost_sql(true, "$1")
            ))
            .bind(first_day)
            .bind(threshold)
            .fetch_all(&self.db)
            .await?;
            out.extend(collect(rows, true, window, instance));
        }
        Ok(out)
    }

    /// Keeps the overruns that reached a level not yet alerted in their window instance, and
    /// remembers it (atomically, so concurrent checks alert once).
    pub async fn newly_alerted(&self, overruns: Vec<Overrun>) -> Result<Vec<Overrun>, CostCheckError> {
        let mut fresh = Vec::new();
        for o in overruns {
            let entity = if o.provider { "provider" } else { "user" };
            let key = self.keys.key(&[
                "cost-level",
                entity,
                &o.id.to_string(),
                window_key(o.window),
                &o.instance,
            ]);
            // Calendar windows are forgotten after they end (a month at most); the rolling
            // window's memory lives 5 hours after usage was last seen high.
            let ttl = match o.window {
                QuotaWindow::FiveHours => 5 * 3600,
                _ => 32 * 86_400,
            };
            let raised: i64 = self
                .script
                .call(
                    &self.redis,
                    vec![key],
                    vec![level_rank(o.level).to_string(), ttl.to_string()],
                )
                .await?;
            if raised == 1 {
                fresh.push(o);
            }
        }
        Ok(fresh)
    }
}

pub fn window_key(window: QuotaWindow) -> &'static str {
    match window {
        QuotaWindow::FiveHours => "5h",
        QuotaWindow::Day => "day",
        QuotaWindow::Week => "week",
        QuotaWindow::Month => "month",
    }
}

fn collect(rows: Vec<QuotaRow>, provider: bool, window: QuotaWindow, instance: String) -> Vec<Overrun> {
    rows.into_iter()
        .map(|(id, name, limit_usd, current_usd)| Overrun {
            provider,
            id,
            name,
            window,
            instance: instance.clone(),
            current_usd,
            limit_usd,
            level: CostLevel::of(usage_percent(current_usd, limit_usd).unwrap_or(Decimal::ONE_HUNDRED)),
        })
        .collect()
}
