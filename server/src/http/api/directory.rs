//! What 用户 and 供应商 show, for scripts: `GET /api/v1/usage/users` and
//! `GET /api/v1/usage/providers` (admin), from the service the pages read
//! ([`UsageDirectoryService`]), so both always agree.
use std::str::FromStr;

use app::usage::{BreakerConfig, CircuitState, DayActivity, EntityState, Source, UsageWindow, WindowUsage};
use axum::extract::State;
use axum::Json;
use rust_decimal::Decimal;
use serde::Serialize;
use utoipa::ToSchema;

use super::{AdminCaller, ApiError, ErrorBody};
use crate::http::state::AppState;
use crate::usage::directory::UsageDirectoryService;

/// USD per window of a user; a quota of `null` is none.
#[derive(Debug, Default, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserAmounts {
    /// The rolling 5 hours.
    #[schema(value_type = Option<f64>)]
    pub five_hours: Option<Decimal>,
    #[schema(value_type = Option<f64>)]
    pub today: Option<Decimal>,
    #[schema(value_type = Option<f64>)]
    pub week: Option<Decimal>,
    #[schema(value_type = Option<f64>)]
    pub month: Option<Decimal>,
}

/// USD per window of a provider; a quota of `null` is none.
#[derive(Debug, Default, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProviderAmounts {
    #[schema(value_type = Option<f64>)]
    pub week: Option<Decimal>,
    #[schema(value_type = Option<f64>)]
    pub month: Option<Decimal>,
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

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserRow {
    pub id: i64,
    pub name: String,
    #[serde(flatten)]
    pub origin: Provenance,
    pub spend: UserAmounts,
    pub quotas: UserAmounts,
    pub today: DayActivity,
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
    pub id: i64,
    pub name: String,
    #[serde(flatten)]
    pub origin: Provenance,
    pub spend: ProviderAmounts,
    pub quotas: ProviderAmounts,
    pub today: DayActivity,
    pub circuit: Circuit,
}

/// A window's spending and quota as amounts (the pages' 4-decimal figures).
fn amounts(windows: &[WindowUsage], window: UsageWindow) -> (Option<Decimal>, Option<Decimal>) {
    let amount = |text: &str| Decimal::from_str(text).ok();
    windows.iter().find(|w| w.window == window).map_or((None, None), |w| {
        (amount(&w.spent_usd), w.limit_usd.as_deref().and_then(amount))
    })
}

fn user_amounts(windows: &[WindowUsage]) -> (UserAmounts, UserAmounts) {
    let [h5, day, week, month] = UsageWindow::USER.map(|w| amounts(windows, w));
    (
        UserAmounts {
            five_hours: h5.0,
            today: day.0,
            week: week.0,
            month: month.0,
        },
        UserAmounts {
            five_hours: h5.1,
            today: day.1,
            week: week.1,
            month: month.1,
        },
    )
}

fn provider_amounts(windows: &[WindowUsage]) -> (ProviderAmounts, ProviderAmounts) {
    let [week, month] = UsageWindow::PROVIDER.map(|w| amounts(windows, w));
    (
        ProviderAmounts {
            week: week.0,
            month: month.0,
        },
        ProviderAmounts {
            week: week.1,
            month: month.1,
        },
    )
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

/// Every user with its spending per window (5 hours rolling; today, this week from Monday and
/// this month in `APP_TIMEZONE`), quotas, today's requests and tokens, and where it comes from.
#[utoipa::path(get, path = "/api/v1/usage/users", tag = "usage",
    responses((status = 200, body = Vec<UserRow>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 503, description = "PostgreSQL is unavailable", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_users(_: AdminCaller, State(state): State<AppState>) -> Result<Json<Vec<UserRow>>, ApiError> {
    let users = directory(&state).users(None).await.map_err(ApiError::unavailable)?;
    Ok(Json(
        users
            .into_iter()
            .map(|u| {
                let (spend, quotas) = user_amounts(&u.windows);
                UserRow {
                    id: u.id,
                    name: u.name,
                    origin: provenance(u.origin),
                    spend,
                    quotas,
                    today: u.today,
                }
            })
            .collect(),
    ))
}

/// Every provider with its spending this week and month, quotas, today's requests and tokens,
/// its circuit as the gateway sees it and where it comes from.
#[utoipa::path(get, path = "/api/v1/usage/providers", tag = "usage",
    responses((status = 200, body = Vec<ProviderRow>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 503, description = "PostgreSQL or Redis is unavailable", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_providers(_: AdminCaller, State(state): State<AppState>) -> Result<Json<Vec<ProviderRow>>, ApiError> {
    let providers = directory(&state).providers(None).await.map_err(ApiError::unavailable)?;
    Ok(Json(
        providers
            .into_iter()
            .map(|p| {
                let (spend, quotas) = provider_amounts(&p.windows);
                ProviderRow {
                    id: p.id,
                    name: p.name,
                    origin: provenance(p.origin),
                    spend,
                    quotas,
                    today: p.today,
                    circuit: Circuit {
                        state: p.circuit_state,
                        consecutive_failures: p.consecutive_failures,
                        open_until: p.open_until,
                        settings: p.settings.circuit_breaker.into(),
                    },
                }
            })
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_become_named_amounts() {
        let w = |window, spent: &str, limit: Option<&str>| WindowUsage {
            window,
            spent_usd: spent.into(),
            limit_usd: limit.map(Into::into),
            percent: None,
            level: None,
        };
        let (spend, quotas) = provider_amounts(&[
            w(UsageWindow::Week, "8.5000", Some("10.0000")),
            w(UsageWindow::Month, "12.3456", None),
        ]);
        assert_eq!(
            serde_json::to_value((spend, quotas)).unwrap(),
            serde_json::json!([{"week": 8.5, "month": 12.3456}, {"week": 10.0, "month": null}])
        );
        let (_, quotas) = user_amounts(&[w(UsageWindow::FiveHours, "1.0000", None)]);
        assert_eq!(
            serde_json::to_value(quotas).unwrap(),
            serde_json::json!({"fiveHours": null, "today": null, "week": null, "month": null})
        );
    }
}
