//! What each user, API key and provider spent in each quota window — 5 小时 (rolling), 今日
//! (from midnight, from a fixed local time, or the last 24 hours), 本周 (from Monday), 本月
//! (calendar days in APP_TIMEZONE), 累计 — beside their quotas. The cost check, the 用户 / 供应商
//! pages, the API and the dashboard all read it here, so they always agree.
//!
//! One grouped pass per rollup table answers every window for every account ([`read`]):
//! per-account lookups (one index scan per user and window) cost 4 × 10,000 scans for 10,000
//! users; this is a few range scans.
use app::usage::{DailyReset, EntityState, Origin, Source, UsageLevel, UsageWindow};
use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use rust_decimal::{Decimal, RoundingStrategy};
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};

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
    pub now: DateTime<Utc>,
    pub timezone: Tz,
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
            now,
            timezone: tz,
            rolling_start,
            rolling_aligned: Utc.timestamp_opt(aligned_secs, 0).single().unwrap_or(rolling_start),
            today,
            monday: today - Duration::days(i64::from(today.weekday().num_days_from_monday())),
            first_of_month: today.with_day(1).expect("day 1 exists"),
        }
    }

    /// The local time the occurrence of `window` containing now began at, which names it (alerts
    /// once per occurrence); `None` for a rolling window, which has no occurrences.
    pub fn began(&self, window: UsageWindow, reset: DailyReset) -> Option<NaiveDateTime> {
        let midnight = |day: NaiveDate| day.and_hms_opt(0, 0, 0).expect("midnight exists");
        match (window, reset) {
            (UsageWindow::FiveHours | UsageWindow::Total, _) | (UsageWindow::Day, DailyReset::Rolling) => None,
            (UsageWindow::Day, DailyReset::Fixed { minute }) => {
                let local = self.now.with_timezone(&self.timezone).naive_local();
                let at = midnight(self.today) + Duration::minutes(i64::from(minute));
                Some(if at > local { at - Duration::days(1) } else { at })
            }
            (UsageWindow::Week, _) => Some(midnight(self.monday)),
            (UsageWindow::Month, _) => Some(midnight(self.first_of_month)),
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
    /// How the day is cut ([`UsageWindow::Day`]; midnight for the others).
    pub reset: DailyReset,
}

impl WindowSpending {
    /// Spent at or over `percent` % of a quota. A zero quota counts as exceeded.
    pub fn at_or_over(&self, percent: i32) -> bool {
        self.limit_usd
            .is_some_and(|limit| self.spent_usd * Decimal::ONE_HUNDRED >= limit * Decimal::from(percent))
    }
}

/// Requests and tokens of a day.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Activity {
    pub requests: i64,
    pub tokens: i64,
}

impl From<Activity> for app::usage::DayActivity {
    fn from(a: Activity) -> Self {
        app::usage::DayActivity {
            requests: a.requests,
            tokens: a.tokens,
        }
    }
}

/// Whose quotas: users, the API keys a gateway gives them, and providers all have the same five
/// windows, rolled up alike (migration 0015).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Account {
    User,
    Key,
    Provider,
}

impl Account {
    /// The table, the id column naming it in the rollups and raw rows, the quarter-hour and
    /// daily rollups.
    fn tables(self) -> (&'static str, &'static str, &'static str, &'static str) {
        match self {
            Account::User => ("users", "user_id", "usage_user_buckets", "usage_user_daily"),
            Account::Key => ("api_keys", "key_id", "usage_key_buckets", "usage_key_daily"),
            Account::Provider => (
                "providers",
                "provider_id",
                "usage_provider_buckets",
                "usage_provider_daily",
            ),
        }
    }

    /// `user`, `key`, `provider`: in Redis keys and messages' data.
    pub fn key(self) -> &'static str {
        match self {
            Account::User => "user",
            Account::Key => "key",
            Account::Provider => "provider",
        }
    }
}

/// One user, key or provider: its quotas and spending in every window, and what only its kind
/// has (`of`).
#[derive(Clone, Debug, PartialEq)]
pub struct Spending<X> {
    pub id: i64,
    pub name: String,
    pub origin: Origin,
    /// In [`UsageWindow::ALL`] order.
    pub windows: [WindowSpending; 5],
    pub today: Activity,
    pub of: X,
}

/// A user's role, as stored (`admin` / `user`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserOf {
    pub role: String,
}

/// An API key's owner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyOf {
    pub owner_id: i64,
    pub owner_name: String,
}

pub type UserSpending = Spending<UserOf>;
pub type KeySpending = Spending<KeyOf>;
pub type ProviderSpending = Spending<()>;

/// What only one kind of account has, read beside its spending.
pub trait AccountOf: Sized + Send + Unpin {
    const ACCOUNT: Account;
    /// Columns added to the select list (the account is `e`; a key's owner `o`).
    const COLUMNS: &'static str;
    const JOIN: &'static str = "";
    fn from_row(row: &PgRow) -> Result<Self, sqlx::Error>;
}

impl AccountOf for UserOf {
    const ACCOUNT: Account = Account::User;
    const COLUMNS: &'static str = ", e.role";
    fn from_row(row: &PgRow) -> Result<Self, sqlx::Error> {
        Ok(UserOf {
            role: row.try_get("role")?,
        })
    }
}

impl AccountOf for KeyOf {
    const ACCOUNT: Account = Account::Key;
    const COLUMNS: &'static str = ", o.id AS owner_id, o.name AS owner_name";
    const JOIN: &'static str = " JOIN users o ON o.id = e.user_id";
    fn from_row(row: &PgRow) -> Result<Self, sqlx::Error> {
        Ok(KeyOf {
            owner_id: row.try_get("owner_id")?,
            owner_name: row.try_get("owner_name")?,
        })
    }
}

impl AccountOf for () {
    const ACCOUNT: Account = Account::Provider;
    const COLUMNS: &'static str = "";
    fn from_row(_: &PgRow) -> Result<Self, sqlx::Error> {
        Ok(())
    }
}

/// `source`, `source_ref`, whether it is mirrored, enabled, deleted, as read from `e`.
fn origin(row: &PgRow) -> Result<Origin, sqlx::Error> {
    let source: String = row.try_get("source")?;
    let source = Source::from_key(&source).unwrap_or(Source::Http);
    let source_ref: Option<String> = row.try_get("source_ref")?;
    let (mirrored, enabled, deleted): (bool, bool, bool) = (
        row.try_get("mirrored")?,
        row.try_get("enabled")?,
        row.try_get("deleted")?,
    );
    Ok(Origin {
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
    })
}

fn daily_reset(row: &PgRow) -> Result<DailyReset, sqlx::Error> {
    let mode: String = row.try_get("daily_reset_mode")?;
    let minute: i32 = row.try_get("reset_minute")?;
    Ok(match mode.as_str() {
        "rolling" => DailyReset::Rolling,
        _ => DailyReset::Fixed {
            minute: u16::try_from(minute).unwrap_or(0),
        },
    })
}

/// The first quarter-hour boundary at or after the instant `t` (SQL).
fn ceil_quarter(t: &str) -> String {
    format!("to_timestamp(ceil(extract(epoch FROM {t}) / {BUCKET_SECS}) * {BUCKET_SECS})")
}

/// The accounts of one kind (per `scope`) with their quotas and spending in every window, by id.
///
/// One statement: the daily rollups since the earliest calendar window (≤ 31 rows an account)
/// answer 今日 (from midnight), 本周 and 本月; the quarter-hours of the last 5 hours plus the raw
/// rows of the partial first quarter-hour answer 5 小时; a day that does not start at midnight
/// is summed the same way from its own start, per account that has one; 累计 sums the daily
/// rollups (in the cost check, of the accounts with a total quota only).
pub async fn read<X: AccountOf>(db: &PgPool, w: &Windows, scope: Scope) -> Result<Vec<Spending<X>>, sqlx::Error> {
    let (table, id, buckets, daily) = X::ACCOUNT.tables();
    let spent = [
        ("limit_5h_usd", "coalesce(r.cost, 0)"),
        (
            "limit_daily_usd",
            "CASE WHEN s.midnight THEN coalesce(d.today, 0) ELSE coalesce(sh.cost, 0) END",
        ),
        ("limit_weekly_usd", "coalesce(d.week, 0)"),
        ("limit_monthly_usd", "coalesce(d.month, 0)"),
        ("limit_total_usd", "coalesce(t.cost, 0)"),
    ];
    // `filter`: the outer WHERE; `pushed`: the same pushed into the passes over the rollups and
    // raw rows; `started`: the accounts whose day start is computed. 累计 reads every day an
    // account ever had: the cost check sums it only for the accounts with a total quota; the
    // pages and the API show it for all.
    let (filter, pushed, started, totalled) = match scope {
        Scope::All => ("true".to_owned(), String::new(), "true", "true".to_owned()),
        Scope::One(_) => (
            "e.id = $7".to_owned(),
            format!(" AND {id} = $7"),
            "e.id = $7",
            "true".to_owned(),
        ),
        Scope::AtOrOver(_) => {
            let any = spent
                .iter()
                .map(|(limit, spent)| format!("({spent}) * 100 >= e.{limit} * $7"))
                .collect::<Vec<_>>()
                .join(" OR ");
            // Disabled and deleted ones are not checked: the gateway no longer serves them.
            (
                format!("e.enabled AND e.deleted_at IS NULL AND ({any})"),
                String::new(),
                "true",
                format!("{id} IN (SELECT id FROM {table} WHERE limit_total_usd IS NOT NULL)"),
            )
        }
    };
    let day_start = ceil_quarter("s.day_start");
    let sql = format!(
        "WITH starts AS (
             SELECT e.id,
                    e.daily_reset_mode = 'fixed' AND e.daily_reset_time = '00:00' AS midnight,
                    CASE WHEN e.daily_reset_mode = 'rolling' THEN $1 - interval '24 hours'
                         ELSE ((($1 AT TIME ZONE $2)::date + e.daily_reset_time)
                               - CASE WHEN ($1 AT TIME ZONE $2)::date + e.daily_reset_time > $1 AT TIME ZONE $2
                                      THEN interval '1 day' ELSE interval '0' END) AT TIME ZONE $2
                    END AS day_start
               FROM {table} e
              WHERE {started}
         ), daily AS (
             SELECT {id} AS id,
                    sum(cost_usd) FILTER (WHERE day >= $4) AS today,
                    sum(requests) FILTER (WHERE day >= $4) AS today_requests,
                    sum(tokens) FILTER (WHERE day >= $4) AS today_tokens,
                    sum(cost_usd) FILTER (WHERE day >= $5) AS week,
                    sum(cost_usd) FILTER (WHERE day >= $6) AS month
               FROM {daily}
              WHERE day >= least($4::date, $5::date, $6::date){pushed}
              GROUP BY {id}
         ), rolling AS (
             SELECT id, sum(cost_usd) AS cost FROM (
                 SELECT {id} AS id, cost_usd FROM {buckets} WHERE bucket >= $3{pushed}
                 UNION ALL
                 SELECT {id}, cost_usd FROM usage_records
                  WHERE created_at >= $1 - interval '5 hours' AND created_at < $3 AND {id} IS NOT NULL{pushed}
             ) x
              GROUP BY id
         ), shifted AS (
             SELECT s.id, sum(x.cost_usd) AS cost
               FROM starts s
              CROSS JOIN LATERAL (
                  SELECT b.cost_usd FROM {buckets} b WHERE b.{id} = s.id AND b.bucket >= {day_start}
                  UNION ALL
                  SELECT r.cost_usd FROM usage_records r
                   WHERE r.{id} = s.id AND r.created_at >= s.day_start AND r.created_at < {day_start}
              ) x
              WHERE NOT s.midnight
              GROUP BY s.id
         ), total AS (
             SELECT {id} AS id, sum(cost_usd) AS cost
               FROM {daily}
              WHERE {totalled}{pushed}
              GROUP BY {id}
         )
         SELECT e.id, e.name, e.source, e.source_ref, e.synced_at IS NOT NULL AS mirrored, e.enabled,
                e.deleted_at IS NOT NULL AS deleted, e.daily_reset_mode,
                (extract(hour FROM e.daily_reset_time) * 60 + extract(minute FROM e.daily_reset_time))::int
                    AS reset_minute,
                e.limit_5h_usd, e.limit_daily_usd, e.limit_weekly_usd, e.limit_monthly_usd, e.limit_total_usd,
                {spent_columns},
                coalesce(d.today_requests, 0)::bigint AS today_requests,
                coalesce(d.today_tokens, 0)::bigint AS today_tokens{columns}
           FROM {table} e{join}
           JOIN starts s ON s.id = e.id
           LEFT JOIN rolling r ON r.id = e.id
           LEFT JOIN daily d ON d.id = e.id
           LEFT JOIN shifted sh ON sh.id = e.id
           LEFT JOIN total t ON t.id = e.id
          WHERE {filter}
          ORDER BY e.id",
        spent_columns = spent
            .iter()
            .enumerate()
            .map(|(i, (_, spent))| format!("{spent} AS spent_{i}"))
            .collect::<Vec<_>>()
            .join(", "),
        columns = X::COLUMNS,
        join = X::JOIN,
    );
    let query = sqlx::query(&sql)
        .bind(w.now)
        .bind(w.timezone.name())
        .bind(w.rolling_aligned)
        .bind(w.today)
        .bind(w.monday)
        .bind(w.first_of_month);
    let query = match scope {
        Scope::All => query,
        Scope::One(id) => query.bind(id),
        Scope::AtOrOver(percent) => query.bind(Decimal::from(percent)),
    };
    let rows = query.fetch_all(db).await?;
    rows.iter()
        .map(|row| {
            let reset = daily_reset(row)?;
            let mut windows = [WindowSpending {
                window: UsageWindow::FiveHours,
                limit_usd: None,
                spent_usd: Decimal::ZERO,
                reset: DailyReset::MIDNIGHT,
            }; 5];
            for (i, (window, (limit, _))) in UsageWindow::ALL.into_iter().zip(spent).enumerate() {
                windows[i] = WindowSpending {
                    window,
                    limit_usd: row.try_get(limit)?,
                    spent_usd: row.try_get(format!("spent_{i}").as_str())?,
                    reset: if window == UsageWindow::Day {
                        reset
                    } else {
                        DailyReset::MIDNIGHT
                    },
                };
            }
            Ok(Spending {
                id: row.try_get("id")?,
                name: row.try_get("name")?,
                origin: origin(row)?,
                windows,
                today: Activity {
                    requests: row.try_get("today_requests")?,
                    tokens: row.try_get("today_tokens")?,
                },
                of: X::from_row(row)?,
            })
        })
        .collect()
}

/// Users (per `scope`) with their quotas and spending in every window, by id.
pub async fn users(db: &PgPool, w: &Windows, scope: Scope) -> Result<Vec<UserSpending>, sqlx::Error> {
    read(db, w, scope).await
}

/// API keys (per `scope`) with their owners, quotas and spending in every window, by id.
pub async fn keys(db: &PgPool, w: &Windows, scope: Scope) -> Result<Vec<KeySpending>, sqlx::Error> {
    read(db, w, scope).await
}

/// Providers (per `scope`) with their quotas and spending in every window, by id.
pub async fn providers(db: &PgPool, w: &Windows, scope: Scope) -> Result<Vec<ProviderSpending>, sqlx::Error> {
    read(db, w, scope).await
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
        let at = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
        let midnight = DailyReset::MIDNIGHT;
        assert_eq!(w.began(UsageWindow::Week, midnight), Some(at("2026-02-23 00:00")));
        assert_eq!(w.began(UsageWindow::FiveHours, midnight), None);
        assert_eq!(w.began(UsageWindow::Total, midnight), None);
        // 01:31 local: a day cut at 01:30 began a minute ago, one cut at 18:00 yesterday.
        assert_eq!(w.began(UsageWindow::Day, midnight), Some(at("2026-03-01 00:00")));
        let fixed = |minute| DailyReset::Fixed { minute };
        assert_eq!(w.began(UsageWindow::Day, fixed(90)), Some(at("2026-03-01 01:30")));
        assert_eq!(w.began(UsageWindow::Day, fixed(18 * 60)), Some(at("2026-02-28 18:00")));
        assert_eq!(w.began(UsageWindow::Day, DailyReset::Rolling), None);
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
            reset: DailyReset::MIDNIGHT,
        };
        assert!(ws(Some("10"), "8").at_or_over(80));
        assert!(!ws(Some("10"), "7.9999").at_or_over(80));
        assert!(!ws(None, "1000").at_or_over(80));
        assert!(ws(Some("0"), "0").at_or_over(80));
    }
}
