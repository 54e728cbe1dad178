//! `/api/v1/notifications/targets`: 推送目标 for scripts — list, create, read, replace, delete,
//! and test with a realistic message of a kind.
use app::notifications::{FieldErrors, NotificationKind};
use app::targets::{PushTargetInput, PushTargetView};
use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::notifications::{validation_error, ValidationErrorBody};
use super::{AdminCaller, ApiError, ErrorBody, PathId};
use crate::http::state::AppState;
use crate::notifications::targets::{TargetSaveError, TargetTestError};

fn not_found(id: i64) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, format!("no push target has the id {id}"))
}

fn invalid(errors: FieldErrors) -> Response {
    validation_error(
        "invalid push target",
        errors
            .0
            .into_iter()
            .map(|(path, problem)| (path, problem.to_string()))
            .collect(),
    )
}

fn saved(id: Option<i64>, result: Result<PushTargetView, TargetSaveError>, created: bool) -> Response {
    match result {
        Ok(view) if created => (StatusCode::CREATED, Json(view)).into_response(),
        Ok(view) => Json(view).into_response(),
        Err(TargetSaveError::Invalid(errors)) => invalid(errors),
        Err(TargetSaveError::NotFound) => not_found(id.unwrap_or_default()).into_response(),
        Err(TargetSaveError::Targets(e)) => ApiError::unavailable(e).into_response(),
    }
}

fn rejected(rejection: &JsonRejection) -> Response {
    validation_error(
        format!("invalid JSON body: {}", rejection.body_text()),
        Default::default(),
    )
}

/// Every push target, oldest first.
#[utoipa::path(get, path = "/api/v1/notifications/targets", tag = "targets",
    responses((status = 200, body = Vec<PushTargetView>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 503, description = "PostgreSQL is unavailable", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_targets(
    _: AdminCaller,
    State(state): State<AppState>,
) -> Result<Json<Vec<PushTargetView>>, ApiError> {
    state
        .target_service
        .list()
        .await
        .map(Json)
        .map_err(ApiError::unavailable)
}

/// Creates a push target. Left out, `channel` is the one the URL's host names.
#[utoipa::path(post, path = "/api/v1/notifications/targets", tag = "targets",
    request_body = PushTargetInput,
    responses((status = 201, body = PushTargetView), (status = 400, body = ValidationErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 503, description = "PostgreSQL is unavailable", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_target(
    _: AdminCaller,
    State(state): State<AppState>,
    body: Result<Json<PushTargetInput>, JsonRejection>,
) -> Response {
    match body {
        Ok(Json(input)) => saved(None, state.target_service.create(input).await, true),
        Err(rejection) => rejected(&rejection),
    }
}

/// One push target.
#[utoipa::path(get, path = "/api/v1/notifications/targets/{id}", tag = "targets",
    params(("id" = i64, Path)),
    responses((status = 200, body = PushTargetView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 503, description = "PostgreSQL is unavailable", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_target(
    _: AdminCaller,
    State(state): State<AppState>,
    PathId(id): PathId,
) -> Result<Json<PushTargetView>, ApiError> {
    match state.target_service.get(id).await {
        Ok(Some(view)) => Ok(Json(view)),
        Ok(None) => Err(not_found(id)),
        Err(e) => Err(ApiError::unavailable(e)),
    }
}

/// Replaces a push target's name, switch and settings. Secrets left out are kept; the channel
/// stays what it is.
#[utoipa::path(put, path = "/api/v1/notifications/targets/{id}", tag = "targets",
    params(("id" = i64, Path)),
    request_body = PushTargetInput,
    responses((status = 200, body = PushTargetView), (status = 400, body = ValidationErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 503, description = "PostgreSQL is unavailable", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn put_target(
    _: AdminCaller,
    State(state): State<AppState>,
    PathId(id): PathId,
    body: Result<Json<PushTargetInput>, JsonRejection>,
) -> Response {
    match body {
        Ok(Json(input)) => saved(Some(id), state.target_service.update(id, input).await, false),
        Err(rejection) => rejected(&rejection),
    }
}

/// What a delete took away.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Deleted {
    pub id: i64,
    /// The kinds that no longer go to it.
    pub unbound_kinds: Vec<NotificationKind>,
}

/// Deletes a push target and its bindings. Its history stays; its waiting deliveries fail.
#[utoipa::path(delete, path = "/api/v1/notifications/targets/{id}", tag = "targets",
    params(("id" = i64, Path)),
    responses((status = 200, body = Deleted), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 503, description = "PostgreSQL is unavailable", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete_target(
    _: AdminCaller,
    State(state): State<AppState>,
    PathId(id): PathId,
) -> Result<Json<Deleted>, ApiError> {
    match state.target_service.delete(id).await {
        Ok(Some(unbound_kinds)) => Ok(Json(Deleted { id, unbound_kinds })),
        Ok(None) => Err(not_found(id)),
        Err(e) => Err(ApiError::unavailable(e)),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetTestRequest {
    #[serde(rename = "type")]
    pub kind: NotificationKind,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TargetTestResult {
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The failure class: refused, timeout, connect, redirect, http_status, errcode, request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Sends the specification's example of a kind to the target through its real path, and
/// remembers the outcome as its `lastTest`.
#[utoipa::path(post, path = "/api/v1/notifications/targets/{id}/test", tag = "targets",
    params(("id" = i64, Path)),
    request_body = TargetTestRequest,
    responses(
        (status = 200, description = "the platform accepted the message", body = TargetTestResult),
        (status = 400, description = "the request was invalid", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 502, description = "the platform refused or could not be reached", body = TargetTestResult),
        (status = 503, description = "PostgreSQL is unavailable", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn test_target(
    _: AdminCaller,
    State(state): State<AppState>,
    PathId(id): PathId,
    body: Result<Json<TargetTestRequest>, JsonRejection>,
) -> Response {
    let kind = match body {
        Ok(Json(request)) => request.kind,
        Err(rejection) => {
            return ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("invalid JSON body: {}", rejection.body_text()),
            )
            .into_response()
        }
    };
    match state.target_service.test(id, kind).await {
        Ok(Ok(latency_ms)) => Json(TargetTestResult {
            ok: true,
            latency_ms: Some(latency_ms),
            error: None,
            reason: None,
        })
        .into_response(),
        Ok(Err(e)) => (
            StatusCode::BAD_GATEWAY,
            Json(TargetTestResult {
                ok: false,
                latency_ms: None,
                error: Some(e.to_string()),
                reason: Some(e.class().as_str().to_owned()),
            }),
        )
            .into_response(),
        Err(TargetTestError::NotFound) => not_found(id).into_response(),
        Err(TargetTestError::Targets(e)) => ApiError::unavailable(e).into_response(),
    }
}
