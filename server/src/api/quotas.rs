//! Quotas and circuit-breaker settings of the gateway's users and providers (admin):
//! `PUT /api/v1/users/{id}` and `PUT /api/v1/providers/{id}`. Out-of-range values are a 400 with
//! one message per field, and nothing is changed.
use std::collections::BTreeMap;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::notifications::{validation_error, ValidationErrorBody};
use super::{AdminCaller, ApiError, ErrorBody};
use crate::state::AppState;

/// USD quotas of a user; `null` = no quota.
#[derive(Debug, Deserialize, Serialize, ToSchema, sqlx::FromRow)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserQuotas {
    #[schema(value_type = Option<f64>)]
    pub limit5h_usd: Option<Decimal>,
    #[schema(value_type = Option<f64>)]
    pub limit_daily_usd: Option<Decimal>,
    #[schema(value_type = Option<f64>)]
    pub limit_weekly_usd: Option<Decimal>,
    #[schema(value_type = Option<f64>)]
    pub limit_monthly_usd: Option<Decimal>,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CircuitBreakerConfig {
    /// 1–100 consecutive failures.
    pub failure_threshold: i64,
    /// 1 s – 24 h.
    pub open_duration_ms: i64,
    /// 1–10 successes.
    pub half_open_success_threshold: i64,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProviderSettings {
    #[schema(value_type = Option<f64>)]
    pub limit_weekly_usd: Option<Decimal>,
    #[schema(value_type = Option<f64>)]
    pub limit_monthly_usd: Option<Decimal>,
    pub circuit_breaker: CircuitBreakerConfig,
}

const MAX_QUOTA: i64 = 10_000_000_000;

fn check_quota(errors: &mut BTreeMap<String, String>, field: &str, value: Option<Decimal>) {
    if let Some(v) = value {
        if v <= Decimal::ZERO || v >= Decimal::from(MAX_QUOTA) || v.scale() > 4 {
            errors.insert(
                field.into(),
                "must be null or a positive amount below 1e10 with at most 4 decimals".into(),
            );
        }
    }
}

fn check_range(errors: &mut BTreeMap<String, String>, field: &str, value: i64, min: i64, max: i64) {
    if !(min..=max).contains(&value) {
        errors.insert(field.into(), format!("must be between {min} and {max}"));
    }
}

fn body_or_400<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, Response> {
    body.map(|Json(b)| b)
        .map_err(|r| validation_error(format!("invalid JSON body: {}", r.body_text()), BTreeMap::new()))
}

/// Sets a user's quotas (the user must exist: users come from ingest or create-user).
#[utoipa::path(put, path = "/api/v1/users/{id}", tag = "users",
    params(("id" = i64, Path, description = "the gateway's user id")),
    request_body = UserQuotas,
    responses(
        (status = 200, body = UserQuotas),
        (status = 400, body = ValidationErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn put_user(
    _: AdminCaller,
    State(state): State<AppState>,
    Path(id): Path<i64>,
    body: Result<Json<UserQuotas>, JsonRejection>,
) -> Response {
    let q = match body_or_400(body) {
        Ok(q) => q,
        Err(r) => return r,
    };
    let mut errors = BTreeMap::new();
    check_quota(&mut errors, "limit5hUsd", q.limit5h_usd);
    check_quota(&mut errors, "limitDailyUsd", q.limit_daily_usd);
    check_quota(&mut errors, "limitWeeklyUsd", q.limit_weekly_usd);
    check_quota(&mut errors, "limitMonthlyUsd", q.limit_monthly_usd);
    if !errors.is_empty() {
        return validation_error("invalid quotas", errors);
    }
    let updated: Result<Option<UserQuotas>, _> = sqlx::query_as(
        "UPDATE users SET limit_5h_usd = $2, limit_daily_usd = $3, limit_weekly_usd = $4, limit_monthly_usd = $5,
                          updated_at = now()
          WHERE id = $1
      RETURNING limit_5h_usd AS limit5h_usd, limit_daily_usd, limit_weekly_usd, limit_monthly_usd",
    )
    .bind(id)
    .bind(q.limit5h_usd)
    .bind(q.limit_daily_usd)
    .bind(q.limit_weekly_usd)
    .bind(q.limit_monthly_usd)
    .fetch_optional(&state.db)
    .await;
    match updated {
        Ok(Some(saved)) => Json(saved).into_response(),
        Ok(None) => ApiError::new(StatusCode::NOT_FOUND, format!("no user {id}")).into_response(),
        Err(e) => ApiError::unavailable(e).into_response(),
    }
}

/// Sets a provider's quotas and circuit-breaker settings (the provider must exist: providers
/// come from ingest).
#[utoipa::path(put, path = "/api/v1/providers/{id}", tag = "usage",
    params(("id" = i64, Path, description = "the gateway's provider id")),
    request_body = ProviderSettings,
    responses(
        (status = 200, body = ProviderSettings),
        (status = 400, body = ValidationErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn put_provider(
    _: AdminCaller,
    State(state): State<AppState>,
    Path(id): Path<i64>,
    body: Result<Json<ProviderSettings>, JsonRejection>,
) -> Response {
    let p = match body_or_400(body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let mut errors = BTreeMap::new();
    check_quota(&mut errors, "limitWeeklyUsd", p.limit_weekly_usd);
    check_quota(&mut errors, "limitMonthlyUsd", p.limit_monthly_usd);
    let cb = &p.circuit_breaker;
    check_range(
        &mut errors,
        "circuitBreaker.failureThreshold",
        cb.failure_threshold,
        1,
        100,
    );
    check_range(
        &mut errors,
        "circuitBreaker.openDurationMs",
        cb.open_duration_ms,
        1000,
        86_400_000,
    );
    check_range(
        &mut errors,
        "circuitBreaker.halfOpenSuccessThreshold",
        cb.half_open_success_threshold,
        1,
        10,
    );
    if !errors.is_empty() {
        return validation_error("invalid provider settings", errors);
    }
    let updated = sqlx::query(
        "UPDATE providers SET limit_weekly_usd = $2, limit_monthly_usd = $3, breaker_failure_threshold = $4,
                              breaker_open_duration_ms = $5, breaker_half_open_success_threshold = $6,
                              updated_at = now()
          WHERE id = $1",
    )
    .bind(id)
    .bind(p.limit_weekly_usd)
    .bind(p.limit_monthly_usd)
    .bind(cb.failure_threshold as i32)
    .bind(cb.open_duration_ms)
    .bind(cb.half_open_success_threshold as i32)
    .execute(&state.db)
    .await;
    match updated {
        Ok(r) if r.rows_affected() == 1 => Json(p).into_response(),
        Ok(_) => ApiError::new(StatusCode::NOT_FOUND, format!("no provider {id}")).into_response(),
        Err(e) => ApiError::unavailable(e).into_response(),
    }
}
