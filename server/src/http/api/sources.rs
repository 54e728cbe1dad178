//! Where usage comes from: `POST /api/v1/ingest/litellm` (LiteLLM's `generic_api` callback) and
//! `GET /api/v1/sources` (what each source delivered lately).
use app::sources::SourceStatus;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::usage::Gateway;
use super::{AdminCaller, ApiError, ErrorBody};
use crate::http::state::AppState;
use crate::sources::litellm::{IngestError, LiteLlmReport};

/// The largest body the LiteLLM route reads: a batch of 512 payloads carries the requests'
/// messages and responses unless LiteLLM's `turn_off_message_logging` is on.
pub const LITELLM_MAX_BODY: usize = 128 * 1024 * 1024;

/// Takes what LiteLLM's proxy logs, as its `generic_api` callback sends it: a JSON array of
/// `StandardLoggingPayload`s (`log_format: json_array`), JSON lines (`ndjson`) or one payload
/// (`single`). Idempotent by `litellm_call_id`. Invalid events are rejected one by one, with
/// their index and reason, while the valid ones are stored (LiteLLM drops a whole batch on any
/// 4xx). Events with tokens but `response_cost` 0 are stored and counted as unpriced.
#[utoipa::path(post, path = "/api/v1/ingest/litellm", tag = "usage",
    request_body(content = Vec<Object>, description = "LiteLLM's StandardLoggingPayload, as a JSON array, JSON lines or one object",
        content_type = "application/json"),
    responses(
        (status = 200, description = "what was stored, ignored as a repeat, unpriced or rejected", body = LiteLlmReport),
        (status = 400, description = "not LiteLLM's payloads (nothing is stored)", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 413, description = "over 128 MiB: turn LiteLLM's message logging off", body = ErrorBody),
        (status = 503, description = "PostgreSQL or Redis is unavailable", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn ingest_litellm(_: Gateway, State(state): State<AppState>, body: Body) -> Response {
    let bytes = match axum::body::to_bytes(body, LITELLM_MAX_BODY).await {
        Ok(bytes) => bytes,
        Err(e) => {
            return ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "the body could not be read within {} MiB ({e}); set litellm_settings.turn_off_message_logging: true in LiteLLM's config",
                    LITELLM_MAX_BODY >> 20
                ),
            )
            .into_response()
        }
    };
    match state.sources.ingest_litellm(&bytes).await {
        Ok(report) => Json(report).into_response(),
        Err(IngestError::Body(e)) => ApiError::new(StatusCode::BAD_REQUEST, e.to_string()).into_response(),
        Err(IngestError::Db(e)) => ApiError::unavailable(e).into_response(),
    }
}

/// Every source: whether it is on, when it last delivered, its counts over the last hour
/// (stored, repeats, revised, rejected, unpriced), the latest reasons for rejections and
/// unpriced events, and for Claude Code Hub the tail's instance, lag and last error.
#[utoipa::path(get, path = "/api/v1/sources", tag = "usage",
    responses((status = 200, body = Vec<SourceStatus>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 503, description = "PostgreSQL or Redis is unavailable", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_sources(_: AdminCaller, State(state): State<AppState>) -> Result<Json<Vec<SourceStatus>>, ApiError> {
    state.sources.statuses().await.map(Json).map_err(ApiError::unavailable)
}
