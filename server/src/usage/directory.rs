//! 用户 and 供应商: what each user and provider spent in each quota window — read from the
//! rollups exactly as the cost check reads them (`cost_alert`'s windows and SQL) — with their
//! quotas, breaker settings and circuit state; and saving quotas and breaker settings, validated
//! by the one validation the pages and the REST API share (`app::usage`).
use std::str::FromStr;

use app::notifications::{FieldErrors, FieldProblem};
use app::usage::{
    BreakerConfig, KeyUsage, ProviderInput, ProviderUsage, Source, UsageWindow, UserQuotaInput, UserUsage, WindowUsage,
};
use chrono::Utc;
use chrono_tz::Tz;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use sqlx::PgPool;

use crate::usage::breaker::{self, Breakers};
use crate::usage::spending::{self, AccountOf, ProviderSpending, Scope, Spending, WindowSpending, Windows};
use crate::usage::spending::{format_usd, level_of, usage_percent};

#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error("invalid input")]
    Invalid(FieldErrors),
    #[error("no {0} {1}")]
    NotFound(&'static str, i64),
    /// A gateway keeps this one's settings (`crate::usage::mirror`).
    #[error("{0} {1} is kept by {2}: change it there")]
    Mirrored(&'static str, i64, &'static str),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum ListError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("circuit state: {0}")]
    Breaker(#[from] breaker::BreakerError),
}

/// Validated amounts (by JSON path) as decimals: validation guarantees they parse.
fn decimals<const N: usize>(amounts: [(&str, &Option<String>); N]) -> Result<[Option<Decimal>; N], UpdateError> {
    let mut out = [None; N];
    let mut errors = FieldErrors::default();
    for (slot, (path, amount)) in out.iter_mut().zip(amounts) {
        if let Some(text) = amount {
            match Decimal::from_str(text) {
                Ok(value) => *slot = Some(value),
                Err(_) => errors.insert(path.into(), FieldProblem::Amount),
            }
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(UpdateError::Invalid(errors))
    }
}

/// Validates and saves a user's quotas; invalid input or an unknown id changes nothing.
pub async fn save_user_quotas(db: &PgPool, id: i64, input: &UserQuotaInput) -> Result<(), UpdateError> {
    let q = input.validate().map_err(UpdateError::Invalid)?;
    let [h5, daily, weekly, monthly] = decimals([
        ("limit5hUsd", &q.limit_5h_usd),
        ("limitDailyUsd", &q.limit_daily_usd),
        ("limitWeeklyUsd", &q.limit_weekly_usd),
        ("limitMonthlyUsd", &q.limit_monthly_usd),
    ])?;
    let updated = sqlx::query(
        "UPDATE users SET limit_5h_usd = $2, limit_daily_usd = $3, limit_weekly_usd = $4, limit_monthly_usd = $5,
                          updated_at = now()
          WHERE id = $1 AND synced_at IS NULL",
    )
    .bind(id)
    .bind(h5)
    .bind(daily)
    .bind(weekly)
    .bind(monthly)
    .execute(db)
    .await?;
    if updated.rows_affected() == 0 {
        return Err(not_updated(db, "users", "user", id).await);
    }
    tracing::info!(user_id = id, "user quotas saved");
    Ok(())
}

/// Validates and saves a provider's quotas and breaker settings (read by the breaker at the next
/// reported outcome); invalid input or an unknown id changes nothing.
pub async fn save_provider_settings(db: &PgPool, id: i64, input: &ProviderInput) -> Result<(), UpdateError> {
    let p = input.validate().map_err(UpdateError::Invalid)?;
    let [weekly, monthly] = decimals([
        ("limitWeeklyUsd", &p.limit_weekly_usd),
        ("limitMonthlyUsd", &p.limit_monthly_usd),
    ])?;
    let cb = p.circuit_breaker;
    // In range after validation (and the table's CHECKs), so the conversions cannot fail.
    let updated = sqlx::query(
        "UPDATE providers SET limit_weekly_usd = $2, limit_monthly_usd = $3, breaker_failure_threshold = $4,
                              breaker_open_duration_ms = $5, breaker_half_open_success_threshold = $6,
                              updated_at = now()
          WHERE id = $1 AND synced_at IS NULL",
    )
    .bind(id)
    .bind(weekly)
    .bind(monthly)
    .bind(i32::try_from(cb.failure_threshold).unwrap_or(i32::MAX))
    .bind(cb.open_duration_ms)
    .bind(i32::try_from(cb.half_open_success_threshold).unwrap_or(i32::MAX))
    .execute(db)
    .await?;
    if updated.rows_affected() == 0 {
        return Err(not_updated(db, "providers", "provider", id).await);
    }
    tracing::info!(provider_id = id, "provider settings saved");
    Ok(())
}

/// Why an update of `id` changed no row: it does not exist, or a gateway keeps it.
async fn not_updated(db: &PgPool, table: &str, entity: &'static str, id: i64) -> UpdateError {
    let source: Result<Option<String>, _> = sqlx::query_scalar(&format!(
        "SELECT source FROM {table} WHERE id = $1 AND synced_at IS NOT NULL"
    ))
    .bind(id)
    .fetch_optional(db)
    .await;
    match source {
        Ok(Some(source)) => UpdateError::Mirrored(
            entity,
            id,
            Source::from_key(&source).map_or("its gateway", Source::product),
        ),
        Ok(None) => UpdateError::NotFound(entity, id),
        Err(e) => UpdateError::Db(e),
    }
}

/// An amount with exactly 4 decimals, no `$`.
fn amount(value: Decimal) -> String {
    format_usd(value).replacen('$', "", 1)
}

/// A limit as an admin would type it (`2.5`, not `2.5000`).
fn typed(limit: Option<Decimal>) -> Option<String> {
    limit.map(|l| l.normalize().to_string())
}

fn window(spending: WindowSpending) -> WindowUsage {
    let (limit, spent) = (spending.limit_usd, spending.spent_usd);
    let exact = limit.and_then(|l| usage_percent(spent, l));
    WindowUsage {
        window: spending.window,
        reset: spending.reset,
        spent_usd: amount(spent),
        limit_usd: limit.map(amount),
        percent: exact.and_then(|p| p.round_dp(2).to_f64()),
        level: exact.map(level_of),
    }
}

/// The windows a list shows: `always`, and any other one an account of the list (its windows
/// given by `rows`) has a quota in (a gateway's total quota, a provider's daily one), in
/// [`UsageWindow::ALL`] order.
fn shown<'a>(always: &[UsageWindow], rows: impl Iterator<Item = &'a [WindowSpending; 5]> + Clone) -> Vec<UsageWindow> {
    UsageWindow::ALL
        .into_iter()
        .enumerate()
        .filter(|(i, w)| always.contains(w) || rows.clone().any(|r| r[*i].limit_usd.is_some()))
        .map(|(_, w)| w)
        .collect()
}

fn windows_of(spent: &[WindowSpending; 5], shown: &[UsageWindow]) -> Vec<WindowUsage> {
    spent
        .iter()
        .filter(|w| shown.contains(&w.window))
        .map(|w| window(*w))
        .collect()
}

/// A provider's breaker settings and its circuit as the gateway sees it.
#[derive(Clone, Debug)]
pub struct Circuit {
    pub settings: BreakerConfig,
    pub status: breaker::CircuitStatus,
}

impl Circuit {
    /// While open: when requests may be tried again, in `timezone` (RFC 3339), as the alerts
    /// write times.
    pub fn open_until(&self, timezone: Tz) -> Option<String> {
        self.status.open_until.map(|t| t.with_timezone(&timezone).to_rfc3339())
    }
}

#[derive(Clone)]
pub struct UsageDirectoryService {
    db: PgPool,
    breakers: Breakers,
    timezone: Tz,
}

impl UsageDirectoryService {
    pub fn new(db: PgPool, breakers: Breakers, timezone: Tz) -> Self {
        UsageDirectoryService { db, breakers, timezone }
    }

    pub fn db(&self) -> &PgPool {
        &self.db
    }

    pub fn timezone(&self) -> Tz {
        self.timezone
    }

    /// Every account of a kind (or only `only`), by id, with its spending in every window now,
    /// as the cost check reads it.
    pub async fn spending<X: AccountOf>(&self, only: Option<i64>) -> Result<Vec<Spending<X>>, sqlx::Error> {
        let windows = Windows::at(Utc::now(), self.timezone);
        spending::read(&self.db, &windows, only.map_or(Scope::All, Scope::One)).await
    }

    /// Providers' spending, each with its breaker settings and circuit.
    pub async fn provider_circuits(&self, only: Option<i64>) -> Result<Vec<(ProviderSpending, Circuit)>, ListError> {
        let rows = self.spending::<()>(only).await?;
        let ids: Vec<i64> = rows.iter().map(|p| p.id).collect();
        let settings = crate::usage::providers::breaker_settings(&self.db, &ids).await?;
        let mut out = Vec::with_capacity(rows.len());
        for p in rows {
            // Left out by the settings read only if the provider vanished meanwhile.
            let Some(cb) = settings.get(&p.id) else {
                continue;
            };
            let status = self.breakers.status(p.id).await?;
            let settings = BreakerConfig {
                failure_threshold: i64::from(cb.failure_threshold),
                open_duration_ms: i64::try_from(cb.open_duration.as_millis()).unwrap_or(i64::MAX),
                half_open_success_threshold: i64::from(cb.half_open_success_threshold),
            };
            out.push((p, Circuit { settings, status }));
        }
        Ok(out)
    }

    /// Every user (or only `only`), by id, as 用户 and the dashboard show them.
    pub async fn users(&self, only: Option<i64>) -> Result<Vec<UserUsage>, sqlx::Error> {
        let rows = self.spending::<spending::UserOf>(only).await?;
        let shown = shown(&UsageWindow::USER, rows.iter().map(|u| &u.windows));
        Ok(rows
            .into_iter()
            .map(|u| {
                let [h5, day, week, month, _] = u.windows;
                UserUsage {
                    id: u.id,
                    name: u.name,
                    role: crate::usage::users::role_from_db(&u.of.role),
                    origin: u.origin,
                    quotas: UserQuotaInput {
                        limit_5h_usd: typed(h5.limit_usd),
                        limit_daily_usd: typed(day.limit_usd),
                        limit_weekly_usd: typed(week.limit_usd),
                        limit_monthly_usd: typed(month.limit_usd),
                    },
                    windows: windows_of(&u.windows, &shown),
                    today: u.today.into(),
                }
            })
            .collect())
    }

    /// Every API key, by id, as 用户 lists them under the users.
    pub async fn keys(&self) -> Result<Vec<KeyUsage>, sqlx::Error> {
        let rows = self.spending::<spending::KeyOf>(None).await?;
        let shown = shown(&UsageWindow::USER, rows.iter().map(|k| &k.windows));
        Ok(rows
            .into_iter()
            .map(|k| KeyUsage {
                id: k.id,
                name: k.name,
                owner_id: k.of.owner_id,
                owner_name: k.of.owner_name,
                origin: k.origin,
                windows: windows_of(&k.windows, &shown),
                today: k.today.into(),
            })
            .collect())
    }

    /// Every provider (or only `only`), by id, as 供应商 shows them.
    pub async fn providers(&self, only: Option<i64>) -> Result<Vec<ProviderUsage>, ListError> {
        let rows = self.provider_circuits(only).await?;
        let shown = shown(&UsageWindow::PROVIDER, rows.iter().map(|(p, _)| &p.windows));
        Ok(rows
            .into_iter()
            .map(|(p, circuit)| {
                let [_, _, week, month, _] = p.windows;
                ProviderUsage {
                    id: p.id,
                    name: p.name,
                    origin: p.origin,
                    settings: ProviderInput {
                        limit_weekly_usd: typed(week.limit_usd),
                        limit_monthly_usd: typed(month.limit_usd),
                        circuit_breaker: circuit.settings,
                    },
                    open_until: circuit.open_until(self.timezone),
                    circuit_state: circuit.status.state,
                    consecutive_failures: circuit.status.consecutive_failures,
                    windows: windows_of(&p.windows, &shown),
                    today: p.today.into(),
                }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::usage::UsageLevel;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn spent(window: UsageWindow, spent: &str, limit: Option<&str>) -> WindowSpending {
        WindowSpending {
            window,
            limit_usd: limit.map(d),
            spent_usd: d(spent),
            reset: app::usage::DailyReset::MIDNIGHT,
        }
    }

    #[test]
    fn windows_grade_like_the_cost_alert() {
        let w = window(spent(UsageWindow::Week, "8.5", Some("10")));
        assert_eq!(w.spent_usd, "8.5000");
        assert_eq!(w.limit_usd.as_deref(), Some("10.0000"));
        assert_eq!(w.percent, Some(85.0));
        assert_eq!(w.level, Some(UsageLevel::Yellow));
        // 89.996 % shows as 90.0 but is still yellow, as in the alert.
        let edge = window(spent(UsageWindow::Day, "8.9996", Some("10")));
        assert_eq!(edge.level, Some(UsageLevel::Yellow));
        assert_eq!(
            window(spent(UsageWindow::Day, "9", Some("10"))).level,
            Some(UsageLevel::Red)
        );
        assert_eq!(
            window(spent(UsageWindow::Day, "7.99", Some("10"))).level,
            Some(UsageLevel::Green)
        );
        let free = window(spent(UsageWindow::FiveHours, "0.01234", None));
        assert_eq!(
            (free.spent_usd.as_str(), free.limit_usd, free.percent, free.level),
            ("0.0123", None, None, None)
        );
    }

    #[test]
    fn limits_are_shown_as_typed() {
        assert_eq!(typed(Some(d("2.5000"))).as_deref(), Some("2.5"));
        assert_eq!(typed(Some(d("10.0000"))).as_deref(), Some("10"));
        assert_eq!(typed(None), None);
    }
}
