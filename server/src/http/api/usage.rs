//! The gateway's side: `POST /api/v1/usage` (report requests) and
//! `GET /api/v1/providers/{id}/circuit` (route around an open provider).
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::{ApiError, ErrorBody, PathId};
use crate::http::auth::Identity;
use crate::http::state::AppState;
use crate::usage::breaker::CircuitStatus;
use crate::usage::ingest::{IngestReport, UsageBatch, MAX_BATCH};

/// The gateway, authenticated by `INGEST_TOKEN`.
pub struct Gateway;

impl<S: Send + Sync> FromRequestParts<S> for Gateway {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        match parts.extensions.get::<Identity>() {
            Some(Identity::Ingest) => Ok(Gateway),
            Some(Identity::User(_)) => Err(ApiError::new(StatusCode::FORBIDDEN, "the ingest token is required")),
            _ => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "authentication required: Authorization: Bearer <INGEST_TOKEN>",
            )),
        }
    }
}

/// The gateway or an admin.
pub struct GatewayOrAdmin;

impl<S: Send + Sync> FromRequestParts<S> for GatewayOrAdmin {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        match parts.extensions.get::<Identity>() {
            Some(Identity::Ingest) => Ok(GatewayOrAdmin),
            Some(Identity::User(u)) if u.is_admin() => Ok(GatewayOrAdmin),
            Some(Identity::User(_)) => Err(ApiError::new(StatusCode::FORBIDDEN, "ingest token or admin required")),
            _ => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "authentication required: Authorization: Bearer <INGEST_TOKEN or ADMIN_TOKEN>",
            )),
        }
    }
}

/// Reports requests. Idempotent by `requestId`; users and providers are created or renamed by
/// id. Each invalid event is rejected with its index and reason while the valid ones are kept.
#[utoipa::path(post, path = "/api/v1/usage", tag = "usage",
    request_body = UsageBatch,
    responses(
        (status = 200, description = "what was stored, ignored as a repeat, or rejected", body = IngestReport),
        (status = 400, description = "not a batch (or more than 5,000 events)", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 503, description = "PostgreSQL or Redis is unavailable", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn ingest(
    _: Gateway,
    State(state): State<AppState>,
    body: Result<Json<UsageBatch>, JsonRejection>,
) -> Response {
    let batch = match body {
        Ok(Json(batch)) => batch,
        Err(rejection) => {
            return ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("invalid JSON body: {}", rejection.body_text()),
            )
            .into_response()
        }
    };
    if batch.events.len() > MAX_BATCH {
        return ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("at most {MAX_BATCH} events per request, got {}", batch.events.len()),
        )
        .into_response();
    }
    match state.sources.ingest_http(batch.events).await {
        Ok(report) => Json(report).into_response(),
        Err(e) => ApiError::unavailable(e).into_response(),
    }
}

/// A provider's circuit: CLOSED, OPEN (with `openUntil`) or HALF_OPEN.
#[utoipa::path(get, path = "/api/v1/providers/{id}/circuit", tag = "usage",
    params(("id" = i64, Path, description = "the gateway's provider id")),
    responses(
        (status = 200, body = CircuitStatus),
        (status = 400, description = "the id is not a positive integer", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 503, description = "PostgreSQL or Redis is unavailable", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn circuit(
    _: GatewayOrAdmin,
    State(state): State<AppState>,
    PathId(id): PathId,
) -> Result<Json<CircuitStatus>, ApiError> {
    state.breakers.status(id).await.map(Json).map_err(ApiError::unavailable)
}
