//! What each user and provider spent in each quota window — 5 小时 (rolling), 今日, 本周 (from
//! Monday), 本月 (calendar days in APP_TIMEZONE) — beside their quotas. The cost check, the 用户 /
//! 供应商 pages and the dashboard all read it here, so they always agree.
//!
//! One grouped pass per rollup table answers every window for every entity: the daily rollups
//! since the earliest window start (≤ 31 rows per entity), and the 15-minute buckets of the last
//! 5 hours plus the raw rows of the partial first quarter-hour. Per-entity lookups (one index
//! scan per user and window) cost 4 × 10,000 scans for 10,000 users; this is 2 range scans.
use app::usage::{EntityState, Origin, Source, UsageLevel, UsageWindow};
use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use rust_decimal::{Decimal, RoundingStrategy};
use sqlx::postgres::PgArguments;
use sqlx::query::QueryAs;
use sqlx::{PgPool, Postgres};

/// Money as `$` + exactly 4 decimals, rounded half away from zero (`$12.3456`, `$10.0000`), as
/// messages and pages show it. Negative amounts are not expected; they render as `-$1.0000`,
/// and a value rounding to zero never shows a minus sign.
pub fn format_usd(amount: Decimal) -> String {
    let mut rounded = amount.round_dp_with_strategy(4, RoundingStrategy::MidpointAwayFromZero);
    if rounded.is_zero() {
        // `-0.00001` rounds to a negative zero, which would print as `-0.0000`.
        rounded = Decimal::ZERO;
    }
    let sign = if rounded.is_sign_negative() { "-" } else { "" };
    let mut abs = rounded.abs();
    abs.rescale(4); // scale is at most 4 after rounding: this only pads zeros.
    format!("{sign}${abs}")
}

/// `current / limit × 100`, exact; `None` when the limit is not positive (or on overflow).
pub fn usage_percent(current_usd: Decimal, limit_usd: Decimal) -> Option<Decimal> {
    if limit_usd <= Decimal::ZERO {
        return None;
    }
    current_usd.checked_div(limit_usd)?.checked_mul(Decimal::ONE_HUNDRED)
}

/// 🟢 below 80 %, 🟡 from 80 %, 🔴 from 90 %, of the exact (unrounded) ratio: the cost alert,
/// its re-alerting and the pages all grade with this.
pub fn level_of(ratio_percent: Decimal) -> UsageLevel {
    if ratio_percent >= Decimal::from(90) {
        UsageLevel::Red
    } else if ratio_percent >= Decimal::from(80) {
        UsageLevel::Yellow
    } else {
        UsageLevel::Green
    }
}

/// Width of a `usage_user_buckets` bucket.
const BUCKET_SECS: i64 = 15 * 60;

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

/// Where every quota window containing one instant starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Windows {
    /// Start of the rolling 5 hours.
    pub rolling_start: DateTime<Utc>,
    /// The first 15-minute boundary at or after `rolling_start`: whole buckets from here on,
    /// raw rows before it.
    pub rolling_aligned: DateTime<Utc>,
    pub today: NaiveDate,
    pub monday: NaiveDate,
    pub first_of_month: NaiveDate,
}

impl Windows {
    pub fn at(now: DateTime<Utc>, tz: Tz) -> Windows {
        let rolling_start = now - Duration::hours(5);
        let aligned_secs = (rolling_start.timestamp() + BUCKET_SECS - 1).div_euclid(BUCKET_SECS) * BUCKET_SECS;
        let today = now.with_timezone(&tz).date_naive();
        Windows {
            rolling_start,
            rolling_aligned: Utc.timestamp_opt(aligned_secs, 0).single().unwrap_or(rolling_start),
            today,
            monday: today - Duration::days(i64::from(today.weekday().num_days_from_monday())),
            first_of_month: today.with_day(1).expect("day 1 exists"),
        }
    }

    /// The first day of each calendar window; names its instance (alerts once per instance).
    pub fn first_day(&self, window: UsageWindow) -> Option<NaiveDate> {
        match window {
            UsageWindow::FiveHours => None,
            UsageWindow::Day => Some(self.today),
            UsageWindow::Week => Some(self.monday),
            UsageWindow::Month => Some(self.first_of_month),
        }
    }
}

/// Which entities to read.
#[derive(Clone, Copy, Debug)]
pub enum Scope {
    /// Everyone, by id.
    All,
    /// One entity (the dashboard, a page after a save).
    One(i64),
    /// Only those at or over `percent` % of at least one of their quotas (the cost check).
    AtOrOver(i32),
}

/// A quota window's limit (`None`: no quota) and what was spent in it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WindowSpending {
    pub window: UsageWindow,
    pub limit_usd: Option<Decimal>,
    pub spent_usd: Decimal,
}

impl WindowSpending {
    /// Spent at or over `percent` % of a quota. A zero quota counts as exceeded.
    pub fn at_or_over(&self, percent: i32) -> bool {
        self.limit_usd
            .is_some_and(|limit| self.spent_usd * Decimal::ONE_HUNDRED >= limit * Decimal::from(percent))
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct UserSpending {
    pub id: i64,
    pub name: String,
    /// As stored (`admin` / `user`).
    pub role: String,
    pub origin: Origin,
    /// 5 小时, 今日, 本周, 本月.
    pub windows: [WindowSpending; 4],
    pub today: Activity,
}

/// Requests and tokens of a day.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Activity {
    pub requests: i64,
    pub tokens: i64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ProviderSpending {
    pub id: i64,
    pub name: String,
    pub origin: Origin,
    /// 本周, 本月.
    pub windows: [WindowSpending; 2],
    pub today: Activity,
}

type UserRow = (
    i64,
    String,
    String,
    OriginColumns,
    Option<Decimal>,
    Option<Decimal>,
    Option<Decimal>,
    Option<Decimal>,
    Decimal,
    Decimal,
    Decimal,
    Decimal,
    i64,
    i64,
);

type ProviderRow = (
    i64,
    String,
    OriginColumns,
    Option<Decimal>,
    Option<Decimal>,
    Decimal,
    Decimal,
    i64,
    i64,
);

/// `source`, `source_ref`, whether it is mirrored, enabled, deleted: one record ([`origin_sql`]).
type OriginColumns = (String, Option<String>, bool, bool, bool);

/// The origin columns of `users` or `providers` as one record (`{entity}` is the table's alias).
fn origin_sql(entity: &str) -> String {
    format!(
        "({entity}.source, {entity}.source_ref, {entity}.synced_at IS NOT NULL, {entity}.enabled, \
         {entity}.deleted_at IS NOT NULL)"
    )
}

fn origin((source, source_ref, mirrored, enabled, deleted): OriginColumns) -> Origin {
    let source = Source::from_key(&source).unwrap_or(Source::Http);
    Origin {
        source,
        source_id: source_ref.filter(|_| source != Source::Http),
        read_only: mirrored,
        state: if deleted {
            EntityState::Deleted
        } else if !enabled {
            EntityState::Disabled
        } else {
            EntityState::Active
        },
    }
}

impl Scope {
    /// Binds the scope's parameter, the last one of the query (see [`scope_sql`]).
    fn bind<'q, O>(self, query: QueryAs<'q, Postgres, O, PgArguments>) -> QueryAs<'q, Postgres, O, PgArguments> {
        match self {
            Scope::All => query,
            Scope::One(id) => query.bind(id),
            Scope::AtOrOver(percent) => query.bind(Decimal::from(percent)),
        }
    }
}

/// `WHERE` of the outer query and the filter pushed into the grouped passes, for a scope whose
/// parameter is `$n`. `over` lists (limit column, spent expression) pairs.
fn scope_sql(scope: Scope, n: usize, entity: &str, id_column: &str, over: &[(&str, &str)]) -> (String, String) {
    match scope {
        Scope::All => ("true".into(), String::new()),
        Scope::One(_) => (format!("{entity}.id = ${n}"), format!(" AND {id_column} = ${n}")),
        Scope::AtOrOver(_) => {
            let any = over
                .iter()
                .map(|(limit, spent)| format!("({spent}) * 100 >= {entity}.{limit} * ${n}"))
                .collect::<Vec<_>>()
                .join(" OR ");
            // Disabled and deleted ones are not checked: the gateway no longer serves them.
            (
                format!("{entity}.enabled AND {entity}.deleted_at IS NULL AND ({any})"),
                String::new(),
            )
        }
    }
}

/// Users (per `scope`) with their quotas and spending in each window, by id.
pub async fn users(db: &PgPool, w: &Windows, scope: Scope) -> Result<Vec<UserSpending>, sqlx::Error> {
    let over = [
        ("limit_5h_usd", "coalesce(r.cost, 0)"),
        ("limit_daily_usd", "coalesce(d.today, 0)"),
        ("limit_weekly_usd", "coalesce(d.week, 0)"),
        ("limit_monthly_usd", "coalesce(d.month, 0)"),
    ];
    let (filter, pushed) = scope_sql(scope, 6, "u", "user_id", &over);
    let sql = format!(
        "WITH daily AS (
             SELECT user_id,
                    sum(cost_usd) FILTER (WHERE day >= $3) AS today,
                    sum(requests) FILTER (WHERE day >= $3) AS today_requests,
                    sum(tokens) FILTER (WHERE day >= $3) AS today_tokens,
                    sum(cost_usd) FILTER (WHERE day >= $4) AS week,
                    sum(cost_usd) FILTER (WHERE day >= $5) AS month
               FROM usage_user_daily
              WHERE day >= least($4::date, $5::date){pushed}
              GROUP BY user_id
         ), rolling AS (
             SELECT user_id, sum(cost_usd) AS cost FROM (
                 SELECT user_id, cost_usd FROM usage_user_buckets WHERE bucket >= $2{pushed}
                 UNION ALL
                 SELECT user_id, cost_usd FROM usage_records
                  WHERE created_at >= $1 AND created_at < $2{pushed}
             ) t
              GROUP BY user_id
         )
         SELECT u.id, u.name, u.role, {origin}, u.limit_5h_usd, u.limit_daily_usd, u.limit_weekly_usd, u.limit_monthly_usd,
                coalesce(r.cost, 0), coalesce(d.today, 0), coalesce(d.week, 0), coalesce(d.month, 0),
                coalesce(d.today_requests, 0)::bigint, coalesce(d.today_tokens, 0)::bigint
           FROM users u
           LEFT JOIN rolling r ON r.user_id = u.id
           LEFT JOIN daily d ON d.user_id = u.id
          WHERE {filter}
          ORDER BY u.id",
        origin = origin_sql("u"),
    );
    let query = sqlx::query_as::<_, UserRow>(&sql)
        .bind(w.rolling_start)
        .bind(w.rolling_aligned)
        .bind(w.today)
        .bind(w.monday)
        .bind(w.first_of_month);
    let query = scope.bind(query);
    let rows = query.fetch_all(db).await?;
    Ok(rows
        .into_iter()
        .map(
            |(id, name, role, from, h5, daily, weekly, monthly, s5h, sday, sweek, smonth, requests, tokens)| {
                let ws = |window, limit_usd, spent_usd| WindowSpending {
                    window,
                    limit_usd,
                    spent_usd,
                };
                UserSpending {
                    id,
                    name,
                    role,
                    origin: origin(from),
                    windows: [
                        ws(UsageWindow::FiveHours, h5, s5h),
                        ws(UsageWindow::Day, daily, sday),
                        ws(UsageWindow::Week, weekly, sweek),
                        ws(UsageWindow::Month, monthly, smonth),
                    ],
                    today: Activity { requests, tokens },
                }
            },
        )
        .collect())
}

/// Providers (per `scope`) with their quotas and spending this week and month, by id.
pub async fn providers(db: &PgPool, w: &Windows, scope: Scope) -> Result<Vec<ProviderSpending>, sqlx::Error> {
    let over = [
        ("limit_weekly_usd", "coalesce(d.week, 0)"),
        ("limit_monthly_usd", "coalesce(d.month, 0)"),
    ];
    let (filter, pushed) = scope_sql(scope, 4, "p", "provider_id", &over);
    let sql = format!(
        "WITH daily AS (
             SELECT provider_id,
                    sum(cost_usd) FILTER (WHERE day >= $1) AS week,
                    sum(cost_usd) FILTER (WHERE day >= $2) AS month,
                    sum(requests) FILTER (WHERE day >= $3) AS today_requests,
                    sum(tokens) FILTER (WHERE day >= $3) AS today_tokens
               FROM usage_provider_daily
              WHERE day >= least($1::date, $2::date, $3::date){pushed}
              GROUP BY provider_id
         )
         SELECT p.id, p.name, {origin}, p.limit_weekly_usd, p.limit_monthly_usd, coalesce(d.week, 0), coalesce(d.month, 0),
                coalesce(d.today_requests, 0)::bigint, coalesce(d.today_tokens, 0)::bigint
           FROM providers p
           LEFT JOIN daily d ON d.provider_id = p.id
          WHERE {filter}
          ORDER BY p.id",
        origin = origin_sql("p"),
    );
    let query = sqlx::query_as::<_, ProviderRow>(&sql)
        .bind(w.monday)
        .bind(w.first_of_month)
        .bind(w.today);
    let query = scope.bind(query);
    let rows = query.fetch_all(db).await?;
    Ok(rows
        .into_iter()
        .map(
            |(id, name, from, weekly, monthly, sweek, smonth, requests, tokens)| ProviderSpending {
                id,
                name,
                origin: origin(from),
                windows: [
                    WindowSpending {
                        window: UsageWindow::Week,
                        limit_usd: weekly,
                        spent_usd: sweek,
                    },
                    WindowSpending {
                        window: UsageWindow::Month,
                        limit_usd: monthly,
                        spent_usd: smonth,
                    },
                ],
                today: Activity { requests, tokens },
            },
        )
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usd_has_four_decimals_rounded_half_away_from_zero() {
        let dec = |s: &str| <Decimal as std::str::FromStr>::from_str(s).unwrap();
        assert_eq!(format_usd(dec("0")), "$0.0000");
        assert_eq!(format_usd(dec("10")), "$10.0000");
        assert_eq!(format_usd(dec("12.3456")), "$12.3456");
        assert_eq!(format_usd(dec("0.00005")), "$0.0001");
        assert_eq!(format_usd(dec("0.00004999")), "$0.0000");
        // Banker's rounding would give 1.2344.
        assert_eq!(format_usd(dec("1.23445")), "$1.2345");
        assert_eq!(format_usd(dec("9.99995")), "$10.0000");
        assert_eq!(format_usd(dec("-0.00005")), "-$0.0001");
        assert_eq!(format_usd(dec("-0.00001")), "$0.0000");
        assert_eq!(format_usd(dec("-3.5")), "-$3.5000");
    }

    #[test]
    fn levels_grade_the_exact_ratio() {
        let dec = |s: &str| <Decimal as std::str::FromStr>::from_str(s).unwrap();
        assert_eq!(level_of(dec("79.999")), UsageLevel::Green);
        assert_eq!(level_of(dec("80")), UsageLevel::Yellow);
        assert_eq!(level_of(dec("89.999")), UsageLevel::Yellow);
        assert_eq!(level_of(dec("90")), UsageLevel::Red);
        assert!(UsageLevel::Green < UsageLevel::Yellow && UsageLevel::Yellow < UsageLevel::Red);
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn windows_follow_the_local_calendar() {
        // 2026-03-01 01:30 in Shanghai is still February in UTC; that week began on Monday 23 Feb.
        let w = Windows::at(utc("2026-02-28T17:30:00Z"), chrono_tz::Asia::Shanghai);
        assert_eq!(
            (w.today, w.monday, w.first_of_month),
            (day("2026-03-01"), day("2026-02-23"), day("2026-03-01"))
        );
        assert_eq!(w.rolling_start, utc("2026-02-28T12:30:00Z"));
        assert_eq!(w.rolling_aligned, utc("2026-02-28T12:30:00Z"));
        let w = Windows::at(utc("2026-02-28T17:31:05Z"), chrono_tz::Asia::Shanghai);
        assert_eq!(w.rolling_aligned, utc("2026-02-28T12:45:00Z"));
        assert_eq!(w.first_day(UsageWindow::Week), Some(day("2026-02-23")));
        assert_eq!(w.first_day(UsageWindow::FiveHours), None);
    }

    #[test]
    fn a_zone_without_midnight_starts_its_day_at_one() {
        // Santiago skipped 2022-09-11 00:00 → 01:00 (UTC−4 → UTC−3).
        assert_eq!(
            local_midnight(chrono_tz::America::Santiago, day("2022-09-11")),
            utc("2022-09-11T04:00:00Z")
        );
    }

    #[test]
    fn at_or_over_compares_exactly() {
        let ws = |limit: Option<&str>, spent: &str| WindowSpending {
            window: UsageWindow::Day,
            limit_usd: limit.map(|l| l.parse().unwrap()),
            spent_usd: spent.parse().unwrap(),
        };
        assert!(ws(Some("10"), "8").at_or_over(80));
        assert!(!ws(Some("10"), "7.9999").at_or_over(80));
        assert!(!ws(None, "1000").at_or_over(80));
        assert!(ws(Some("0"), "0").at_or_over(80));
    }
}
