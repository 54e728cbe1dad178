//! What 用户 and 供应商 show, for scripts: `GET /api/v1/usage/users`, `…/keys` and
//! `…/providers` (admin), from the spending the pages and the cost check read
//! ([`UsageDirectoryService`]), so all agree.
use app::usage::{BreakerConfig, CircuitState, DailyReset, DayActivity, EntityState, Source};
use axum::extract::State;
use axum::Json;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::Serialize;
use utoipa::ToSchema;

use super::{AdminCaller, ApiError, ErrorBody};
use crate::http::state::AppState;
use crate::usage::directory::UsageDirectoryService;
use crate::usage::spending::{KeyOf, Spending, UserOf, WindowSpending};

/// USD per window; a quota of `null` is none. Every account has every window: a gateway may set
/// any of them (Claude Code Hub's providers have daily quotas, its keys total ones).
#[derive(Debug, Default, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Amounts {
    /// The rolling 5 hours.
    #[schema(value_type = Option<f64>)]
    pub five_hours: Option<Decimal>,
    /// The day as `dailyReset` cuts it.
    #[schema(value_type = Option<f64>)]
    pub today: Option<Decimal>,
    #[schema(value_type = Option<f64>)]
    pub week: Option<Decimal>,
    #[schema(value_type = Option<f64>)]
    pub month: Option<Decimal>,
    /// All usage stored.
    #[schema(value_type = Option<f64>)]
    pub total: Option<Decimal>,
}

impl Amounts {
    /// What was spent and the quotas, per window, to 4 decimals as the pages show them.
    fn of(windows: &[WindowSpending; 5]) -> (Amounts, Amounts) {
        let usd = |d: Decimal| d.round_dp_with_strategy(4, RoundingStrategy::MidpointAwayFromZero);
        let [h5, day, week, month, total] = windows;
        let amounts = |f: &dyn Fn(&WindowSpending) -> Option<Decimal>| Amounts {
            five_hours: f(h5),
            today: f(day),
            week: f(week),
            month: f(month),
            total: f(total),
        };
        (amounts(&|w| Some(usd(w.spent_usd))), amounts(&|w| w.limit_usd.map(usd)))
    }
}

/// Where a user or provider comes from.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Provenance {
    pub source: Source,
    /// Its id in the source (Claude Code Hub's id, LiteLLM's user id or deployment hash).
    pub source_id: Option<String>,
    /// Kept by the gateway: `PUT` answers 409, change it there.
    pub read_only: bool,
    /// Only active ones are checked for cost alerts.
    pub state: EntityState,
}

/// What every row has: a user's, a key's or a provider's figures.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountRow {
    pub id: i64,
    pub name: String,
    #[serde(flatten)]
    pub origin: Provenance,
    pub spend: Amounts,
    pub quotas: Amounts,
    pub daily_reset: DailyReset,
    pub today: DayActivity,
}

impl AccountRow {
    /// The row of one account's spending, and what is particular to its kind.
    fn of<X>(s: Spending<X>) -> (AccountRow, X) {
        let (spend, quotas) = Amounts::of(&s.windows);
        let row = AccountRow {
            id: s.id,
            name: s.name,
            origin: provenance(s.origin),
            spend,
            quotas,
            daily_reset: s.windows[1].reset,
            today: s.today.into(),
        };
        (row, s.of)
    }
}

/// An API key's owner.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Owner {
    pub id: i64,
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyRow {
    #[serde(flatten)]
    pub account: AccountRow,
    pub owner: Owner,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Circuit {
    pub state: CircuitState,
    pub consecutive_failures: u32,
    /// While open: when requests may be tried again (RFC 3339).
    pub open_until: Option<String>,
    #[schema(inline)]
    pub settings: BreakerSettings,
}

/// The breaker's settings.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BreakerSettings {
    pub failure_threshold: i64,
    pub open_duration_ms: i64,
    pub half_open_success_threshold: i64,
}

impl From<BreakerConfig> for BreakerSettings {
    fn from(c: BreakerConfig) -> Self {
        BreakerSettings {
            failure_threshold: c.failure_threshold,
            open_duration_ms: c.open_duration_ms,
            half_open_success_threshold: c.half_open_success_threshold,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProviderRow {
    #[serde(flatten)]
    pub account: AccountRow,
    pub circuit: Circuit,
}

fn provenance(origin: app::usage::Origin) -> Provenance {
    Provenance {
        source: origin.source,
        source_id: origin.source_id,
        read_only: origin.read_only,
        state: origin.state,
    }
}

fn directory(state: &AppState) -> UsageDirectoryService {
    UsageDirectoryService::new(state.db.clone(), state.breakers.clone(), state.config.timezone)
}

/// Every user with its spending per window (5 hours rolling; the day as its `dailyReset` cuts
/// it, this week from Monday and this month in `APP_TIMEZONE`; all stored), quotas, today's
/// requests and tokens, and where it comes from.
#[utoipa::path(get, path = "/api/v1/usage/users", tag = "usage",
    responses((status = 200, body = Vec<AccountRow>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 503, description = "PostgreSQL is unavailable", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_users(_: AdminCaller, State(state): State<AppState>) -> Result<Json<Vec<AccountRow>>, ApiError> {
    let users = directory(&state)
        .spending::<UserOf>(None)
        .await
        .map_err(ApiError::unavailable)?;
    Ok(Json(users.into_iter().map(|u| AccountRow::of(u).0).collect()))
}

/// Every API key a gateway gave its users (Claude Code Hub's), with its owner, spending per
/// window, quotas and today's requests and tokens.
#[utoipa::path(get, path = "/api/v1/usage/keys", tag = "usage",
    responses((status = 200, body = Vec<KeyRow>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 503, description = "PostgreSQL is unavailable", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_keys(_: AdminCaller, State(state): State<AppState>) -> Result<Json<Vec<KeyRow>>, ApiError> {
    let keys = directory(&state)
        .spending::<KeyOf>(None)
        .await
        .map_err(ApiError::unavailable)?;
    Ok(Json(
        keys.into_iter()
            .map(|k| {
                let (account, key) = AccountRow::of(k);
                KeyRow {
                    account,
                    owner: Owner {
                        id: key.owner_id,
                        name: key.owner_name,
                    },
                }
            })
            .collect(),
    ))
}

/// Every provider with its spending per window, quotas, today's requests and tokens, its
/// circuit as the gateway sees it and where it comes from.
#[utoipa::path(get, path = "/api/v1/usage/providers", tag = "usage",
    responses((status = 200, body = Vec<ProviderRow>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 503, description = "PostgreSQL or Redis is unavailable", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_providers(_: AdminCaller, State(state): State<AppState>) -> Result<Json<Vec<ProviderRow>>, ApiError> {
    let directory = directory(&state);
    let providers = directory.provider_circuits(None).await.map_err(ApiError::unavailable)?;
    Ok(Json(
        providers
            .into_iter()
            .map(|(p, circuit)| ProviderRow {
                account: AccountRow::of(p).0,
                circuit: Circuit {
                    open_until: circuit.open_until(directory.timezone()),
                    state: circuit.status.state,
                    consecutive_failures: circuit.status.consecutive_failures,
                    settings: circuit.settings.into(),
                },
            })
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::usage::UsageWindow;

    #[test]
    fn windows_become_named_amounts() {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        let w = |window, spent: &str, limit: Option<&str>| WindowSpending {
            window,
            limit_usd: limit.map(d),
            spent_usd: d(spent),
            reset: DailyReset::MIDNIGHT,
        };
        let windows = [
            w(UsageWindow::FiveHours, "0", None),
            w(UsageWindow::Day, "0.00005", None),
            w(UsageWindow::Week, "8.5", Some("10")),
            w(UsageWindow::Month, "12.34564", None),
            w(UsageWindow::Total, "100", Some("250.5")),
        ];
        assert_eq!(
            serde_json::to_value(Amounts::of(&windows)).unwrap(),
            serde_json::json!([
                {"fiveHours": 0.0, "today": 0.0001, "week": 8.5, "month": 12.3456, "total": 100.0},
                {"fiveHours": null, "today": null, "week": 10.0, "month": null, "total": 250.5}
            ])
        );
    }
}
