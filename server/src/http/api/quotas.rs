//! Quotas and circuit-breaker settings of the gateway's users and providers (admin):
//! `PUT /api/v1/users/{id}` and `PUT /api/v1/providers/{id}`. Out-of-range values are a 400 with
//! one message per field, and nothing is changed: the validation and the saving are those of the
//! 用户 and 供应商 pages (`usage_directory`).
use std::collections::BTreeMap;

use app::notifications::FieldProblem;
use app::usage::{
    BreakerConfig, ProviderInput, UserQuotaInput, FAILURE_THRESHOLD_RANGE, HALF_OPEN_SUCCESS_RANGE,
    OPEN_DURATION_MS_RANGE,
};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::notifications::{validation_error, ValidationErrorBody};
use super::{AdminCaller, ApiError, ErrorBody, PathId};
use crate::http::state::AppState;
use crate::usage::directory::{save_provider_settings, save_user_quotas, UpdateError};

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

/// A 400 naming each invalid field (the shared validation of `app::usage`), a 404 for an unknown
/// id.
fn update_failed(error: UpdateError, what: &str) -> Response {
    match error {
        UpdateError::Invalid(errors) => validation_error(
            format!("invalid {what}"),
            errors
                .0
                .into_iter()
                .map(|(path, problem)| (path, problem.to_string()))
                .collect(),
        ),
        e @ UpdateError::NotFound(..) => ApiError::new(StatusCode::NOT_FOUND, e.to_string()).into_response(),
        e @ UpdateError::Mirrored(..) => ApiError::new(StatusCode::CONFLICT, e.to_string()).into_response(),
        UpdateError::Db(e) => ApiError::unavailable(e).into_response(),
    }
}

/// An amount as the shared validation reads it (`2.5`, `-1`, `1.23456`).
fn text(amount: Option<Decimal>) -> Option<String> {
    amount.map(|a| a.to_string())
}

/// What a field of the body must be.
#[derive(Clone, Copy)]
enum Expect {
    /// A quota: a JSON number or `null` (absent = `null`).
    AmountOrNull,
    /// A required whole number in this range.
    Integer((i32, i32)),
    /// A required object.
    Object,
}

/// One message per invalid field, and whether any is mistyped (`"5"`, `1.5`, `1e40`, missing):
/// a mistyped body cannot reach the shared validation, so its well-typed fields are checked
/// here too and every field is reported at once.
fn field_errors(body: &serde_json::Value, fields: &[(&str, Expect)]) -> (BTreeMap<String, String>, bool) {
    use serde_json::Value;
    let mut errors = BTreeMap::new();
    let mut mistyped = false;
    for (path, expect) in fields {
        let value = path.split('.').try_fold(body, |v, part| v.get(part));
        let (problem, typed) = match (expect, value) {
            (Expect::AmountOrNull, None | Some(Value::Null)) => (None, true),
            (Expect::AmountOrNull, Some(Value::Number(n))) => {
                let text = n.to_string();
                match text.parse::<Decimal>().or_else(|_| Decimal::from_scientific(&text)) {
                    Ok(amount) => (
                        app::usage::check_amount(&amount.normalize().to_string())
                            .err()
                            .map(|p| p.to_string()),
                        true,
                    ),
                    Err(_) => (Some(FieldProblem::Amount.to_string()), false),
                }
            }
            (Expect::AmountOrNull, Some(_)) => (Some("must be a number or null".to_owned()), false),
            (Expect::Integer(range), Some(Value::Number(n))) if n.is_i64() => {
                let value = n.as_i64().unwrap_or_default();
                (
                    app::usage::check_in_range(value, *range).err().map(|p| p.to_string()),
                    true,
                )
            }
            (Expect::Object, Some(Value::Object(_))) => (None, true),
            (_, None) => (Some("is required".to_owned()), false),
            (Expect::Integer(_), Some(_)) => (Some(FieldProblem::NotANumber.to_string()), false),
            (Expect::Object, Some(_)) => (Some("must be an object".to_owned()), false),
        };
        mistyped |= !typed;
        if let Some(problem) = problem {
            errors.insert((*path).to_owned(), problem);
        }
    }
    (errors, mistyped)
}

/// The typed body, or the 400 for one that is not: field errors for wrongly typed fields, a
/// message for anything else (not JSON, not an object, an unknown field).
fn parse_body<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    fields: &[(&str, Expect)],
) -> Result<T, (String, BTreeMap<String, String>)> {
    let invalid = |e: serde_json::Error| (format!("invalid JSON body: {e}"), BTreeMap::new());
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(invalid)?;
    if !value.is_object() {
        return Err(("the body must be a JSON object".into(), BTreeMap::new()));
    }
    // Well typed: the shared validation (that of the pages) reports the values.
    let (errors, mistyped) = field_errors(&value, fields);
    if mistyped {
        return Err(("invalid fields".into(), errors));
    }
    serde_json::from_value(value).map_err(invalid)
}

const USER_FIELDS: &[(&str, Expect)] = &[
    ("limit5hUsd", Expect::AmountOrNull),
    ("limitDailyUsd", Expect::AmountOrNull),
    ("limitWeeklyUsd", Expect::AmountOrNull),
    ("limitMonthlyUsd", Expect::AmountOrNull),
];

const PROVIDER_FIELDS: &[(&str, Expect)] = &[
    ("limitWeeklyUsd", Expect::AmountOrNull),
    ("limitMonthlyUsd", Expect::AmountOrNull),
    ("circuitBreaker", Expect::Object),
    (
        "circuitBreaker.failureThreshold",
        Expect::Integer(FAILURE_THRESHOLD_RANGE),
    ),
    ("circuitBreaker.openDurationMs", Expect::Integer(OPEN_DURATION_MS_RANGE)),
    (
        "circuitBreaker.halfOpenSuccessThreshold",
        Expect::Integer(HALF_OPEN_SUCCESS_RANGE),
    ),
];

/// Sets a user's quotas (the user must exist: users come from ingest or create-user).
#[utoipa::path(put, path = "/api/v1/users/{id}", tag = "users",
    params(("id" = i64, Path, description = "the gateway's user id")),
    request_body = UserQuotas,
    responses(
        (status = 200, body = UserQuotas),
        (status = 400, body = ValidationErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "kept by a gateway (a Claude Code Hub user or provider): change it there", body = ErrorBody),
        (status = 503, description = "PostgreSQL or Redis is unavailable", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn put_user(_: AdminCaller, State(state): State<AppState>, PathId(id): PathId, body: Bytes) -> Response {
    let q: UserQuotas = match parse_body(&body, USER_FIELDS) {
        Ok(q) => q,
        Err((message, fields)) => return validation_error(message, fields),
    };
    let input = UserQuotaInput {
        limit_5h_usd: text(q.limit5h_usd),
        limit_daily_usd: text(q.limit_daily_usd),
        limit_weekly_usd: text(q.limit_weekly_usd),
        limit_monthly_usd: text(q.limit_monthly_usd),
    };
    match save_user_quotas(&state.db, id, &input).await {
        Ok(()) => Json(q).into_response(),
        Err(e) => update_failed(e, "quotas"),
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
        (status = 404, body = ErrorBody),
        (status = 409, description = "kept by a gateway (a Claude Code Hub user or provider): change it there", body = ErrorBody),
        (status = 503, description = "PostgreSQL or Redis is unavailable", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn put_provider(_: AdminCaller, State(state): State<AppState>, PathId(id): PathId, body: Bytes) -> Response {
    let p: ProviderSettings = match parse_body(&body, PROVIDER_FIELDS) {
        Ok(p) => p,
        Err((message, fields)) => return validation_error(message, fields),
    };
    let cb = &p.circuit_breaker;
    let input = ProviderInput {
        limit_weekly_usd: text(p.limit_weekly_usd),
        limit_monthly_usd: text(p.limit_monthly_usd),
        circuit_breaker: BreakerConfig {
            failure_threshold: cb.failure_threshold,
            open_duration_ms: cb.open_duration_ms,
            half_open_success_threshold: cb.half_open_success_threshold,
        },
    };
    match save_provider_settings(&state.db, id, &input).await {
        Ok(()) => Json(p).into_response(),
        Err(e) => update_failed(e, "provider settings"),
    }
}
