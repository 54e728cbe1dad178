//! `/api/v1/notifications`: the 消息推送 settings and 测试连接 for scripts.
use app::notifications::{NotificationKind, NotificationSettings};
use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

use super::{AdminCaller, ApiError, ErrorBody};
use crate::http::state::AppState;
use crate::notifications::settings::SaveError;
use crate::notifications::settings_service::RunNowError;

/// A 400 for invalid settings: one message per field, keyed by JSON path.
#[derive(Serialize, ToSchema)]
pub struct ValidationErrorBody {
    pub error: String,
    #[schema(example = json!({"costAlert.thresholdPercent": "must be between 50 and 100"}))]
    pub fields: BTreeMap<String, String>,
}

pub(super) fn validation_error(error: impl Into<String>, fields: BTreeMap<String, String>) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(ValidationErrorBody {
            error: error.into(),
            fields,
        }),
    )
        .into_response()
}

/// The saved settings (created with the defaults on first read).
#[utoipa::path(get, path = "/api/v1/notifications/settings", tag = "notifications",
    responses((status = 200, body = NotificationSettings), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 503, description = "PostgreSQL or Redis is unavailable", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_settings(
    _: AdminCaller,
    State(state): State<AppState>,
) -> Result<Json<NotificationSettings>, ApiError> {
    state
        .settings
        .load()
        .await
        .map(|s| Json(s.settings))
        .map_err(ApiError::unavailable)
}

/// Replaces the settings. Invalid input is rejected whole and nothing is saved; a save
/// rebuilds the schedule.
#[utoipa::path(put, path = "/api/v1/notifications/settings", tag = "notifications",
    request_body = NotificationSettings,
    responses(
        (status = 200, body = NotificationSettings),
        (status = 400, body = ValidationErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 503, description = "PostgreSQL or Redis is unavailable", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn put_settings(
    AdminCaller(admin): AdminCaller,
    State(state): State<AppState>,
    body: Result<Json<NotificationSettings>, JsonRejection>,
) -> Response {
    let settings = match body {
        Ok(Json(settings)) => settings,
        Err(rejection) => {
            return validation_error(format!("invalid JSON body: {}", rejection.body_text()), BTreeMap::new())
        }
    };
    match state.settings.save(settings, &admin.name).await {
        Ok(stored) => Json(stored.settings).into_response(),
        Err(SaveError::Invalid(errors)) => validation_error(
            "invalid settings",
            errors
                .0
                .into_iter()
                .map(|(path, problem)| (path, problem.to_string()))
                .collect(),
        ),
        Err(SaveError::Targets(e)) => ApiError::unavailable(e).into_response(),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TestRequest {
    #[serde(rename = "type")]
    pub kind: NotificationKind,
    pub webhook_url: String,
}

#[derive(Serialize, ToSchema)]
pub struct TestResult {
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The failure class: refused, timeout, connect, redirect, http_status, errcode, request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

fn test_failure(status: StatusCode, reason: &str, error: String) -> Response {
    (
        status,
        Json(TestResult {
            ok: false,
            error: Some(error),
            reason: Some(reason.to_owned()),
        }),
    )
        .into_response()
}

/// Sends the spec's test message (`**测试消息**`) to a webhook URL, as 测试连接 does.
#[utoipa::path(post, path = "/api/v1/notifications/test", tag = "notifications",
    request_body = TestRequest,
    responses(
        (status = 200, description = "the receiver accepted the message", body = TestResult),
        (status = 400, description = "the request or the URL was refused", body = TestResult),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 502, description = "the receiver failed: timeout, HTTP status, errcode or connection", body = TestResult)),
    security(("bearer" = [])))]
pub async fn test_webhook(
    _: AdminCaller,
    State(state): State<AppState>,
    body: Result<Json<TestRequest>, JsonRejection>,
) -> Response {
    let request = match body {
        Ok(Json(request)) => request,
        Err(rejection) => {
            return test_failure(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                format!("invalid JSON body: {}", rejection.body_text()),
            )
        }
    };
    let url = request.webhook_url.trim();
    if url.is_empty() {
        return test_failure(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "webhookUrl is required".into(),
        );
    }
    match state.settings.test(request.kind, url).await {
        Ok(()) => Json(TestResult {
            ok: true,
            error: None,
            reason: None,
        })
        .into_response(),
        Err(e @ crate::channels::error::SendError::Refused(_)) => {
            test_failure(StatusCode::BAD_REQUEST, e.class().as_str(), e.to_string())
        }
        Err(e) => test_failure(StatusCode::BAD_GATEWAY, e.class().as_str(), e.to_string()),
    }
}

/// 立即发送: runs the daily leaderboard (`dailyLeaderboard`) or the cost check (`costAlert`) now,
/// through the same path as a scheduled run (the switches are honoured). The leaderboard is
/// always sent; the cost check sends only what was not alerted yet in its window.
#[utoipa::path(post, path = "/api/v1/notifications/run/{type}", tag = "notifications",
    params(("type" = String, Path, description = "dailyLeaderboard or costAlert")),
    responses(
        (status = 200, description = "what the run raised (see 投递记录)", body = app::api::notifications::RunReport),
        (status = 400, description = "unknown type", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 409, description = "the kind is off (master switch, its switch, or no webhook URL)", body = ErrorBody),
        (status = 503, description = "PostgreSQL or Redis is unavailable", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn run_now(
    AdminCaller(admin): AdminCaller,
    State(state): State<AppState>,
    axum::extract::Path(kind): axum::extract::Path<String>,
) -> Result<Json<app::api::notifications::RunReport>, ApiError> {
    let kind = match NotificationKind::from_key(&kind) {
        Some(k @ (NotificationKind::DailyLeaderboard | NotificationKind::CostAlert)) => k,
        _ => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "type must be dailyLeaderboard or costAlert",
            ))
        }
    };
    match state.settings.run_now(kind, &admin.name).await {
        Ok(report) => Ok(Json(report)),
        Err(RunNowError::Failed(e)) => Err(ApiError::unavailable(e)),
        Err(e) => Err(ApiError::new(StatusCode::CONFLICT, e.to_string())),
    }
}
