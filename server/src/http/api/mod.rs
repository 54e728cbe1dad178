//! The REST API for scripts (`/api/v1`): JSON in and out, `Authorization: Bearer <token>`
//! (a browser session works too). Routes and the OpenAPI document are registered together
//! (utoipa-axum), so the document describes exactly what is served.
pub mod deliveries;
pub mod directory;
pub mod notifications;
pub mod quotas;
pub mod sources;
pub mod targets;
pub mod usage;

use app::session::CurrentUser;
use app::users::UserSummary;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Json;
use serde::Serialize;
use serde_json::json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::auth::Identity;
use crate::http::state::AppState;

/// An API error: the status and `{"error": "..."}`.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }
    pub fn unavailable(what: impl std::fmt::Display) -> Self {
        tracing::error!(error = %what, "API request failed");
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "a backing service is unavailable")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(json!({ "error": self.message }))).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
        }
        response
    }
}

fn identity(parts: &Parts) -> Result<CurrentUser, ApiError> {
    match parts.extensions.get::<Identity>() {
        Some(Identity::User(user)) => Ok(user.clone()),
        Some(Identity::InvalidToken) => Err(ApiError::new(StatusCode::UNAUTHORIZED, "invalid bearer token")),
        _ => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "authentication required: Authorization: Bearer <token>",
        )),
    }
}

/// A gateway id in the path (`/users/{id}`, `/providers/{id}`): a positive integer, as ingest
/// requires. Anything else is a 400 in the one error shape, before any lookup.
pub struct PathId(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
        match raw.parse::<i64>() {
            Ok(id) if id > 0 => Ok(PathId(id)),
            _ => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("id must be a positive integer, got {raw:?}"),
            )),
        }
    }
}

/// Any signed-in caller.
pub struct Caller(pub CurrentUser);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        identity(parts).map(Caller)
    }
}

/// An admin caller: 401 without valid credentials, 403 for a non-admin.
pub struct AdminCaller(pub CurrentUser);

impl<S: Send + Sync> FromRequestParts<S> for AdminCaller {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let user = identity(parts)?;
        if user.is_admin() {
            Ok(AdminCaller(user))
        } else {
            Err(ApiError::new(StatusCode::FORBIDDEN, "admin role required"))
        }
    }
}

/// The body of every error answer.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: String,
}

/// Who the credentials belong to.
#[utoipa::path(get, path = "/api/v1/session", tag = "access",
    responses((status = 200, body = CurrentUser), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn session(Caller(user): Caller) -> Json<CurrentUser> {
    Json(user)
}

/// The users known here (gateway ids), without key material.
#[utoipa::path(get, path = "/api/v1/users", tag = "users",
    responses((status = 200, body = Vec<UserSummary>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 503, description = "PostgreSQL or Redis is unavailable", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_users(_: AdminCaller, State(state): State<AppState>) -> Result<Json<Vec<UserSummary>>, ApiError> {
    crate::usage::users::list(&state.db)
        .await
        .map(Json)
        .map_err(ApiError::unavailable)
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "ADMIN_TOKEN, a user's API key, or INGEST_TOKEN (usage and circuits only)",
                    ))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Hub Notify API", description = "消息推送 settings and notifications of an LLM API gateway"),
    modifiers(&BearerAuth),
    tags((name = "access"), (name = "users"), (name = "notifications"), (name = "targets"), (name = "usage"))
)]
struct ApiDoc;

pub const OPENAPI_PATH: &str = "/api/v1/openapi.json";

/// The `/api/v1` routes and the OpenAPI document describing them (served at [`OPENAPI_PATH`]).
pub fn router() -> (axum::Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(session))
        .routes(routes!(list_users))
        .routes(routes!(notifications::get_settings, notifications::put_settings))
        .routes(routes!(notifications::test_webhook))
        .routes(routes!(notifications::run_now))
        .routes(routes!(targets::list_targets, targets::create_target))
        .routes(routes!(
            targets::get_target,
            targets::put_target,
            targets::delete_target
        ))
        .routes(routes!(targets::test_target))
        .routes(routes!(deliveries::list_deliveries))
        .routes(routes!(usage::ingest))
        .routes(routes!(sources::ingest_litellm))
        .routes(routes!(sources::list_sources))
        .routes(routes!(usage::circuit))
        .routes(routes!(directory::list_users))
        .routes(routes!(directory::list_keys))
        .routes(routes!(directory::list_providers))
        .routes(routes!(quotas::put_user))
        .routes(routes!(quotas::put_provider))
        .split_for_parts();
    let document = std::sync::Arc::new(openapi.clone());
    let router = router
        .route(OPENAPI_PATH, get(move || async move { Json((*document).clone()) }))
        .route("/api/v1/{*rest}", any(not_found))
        .layer(axum::middleware::map_response(method_not_allowed_as_json));
    (router, openapi)
}

/// An `/api/v1` path nothing serves: 404 in the one error shape (not the pages' 404).
async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no such API endpoint (see /api/v1/openapi.json)")
}

/// axum's own 405 (an empty body, with `Allow`) in the one error shape, `Allow` kept.
async fn method_not_allowed_as_json(response: Response) -> Response {
    if response.status() != StatusCode::METHOD_NOT_ALLOWED || response.headers().contains_key(header::CONTENT_TYPE) {
        return response;
    }
    let allow = response.headers().get(header::ALLOW).cloned();
    let allowed = allow.as_ref().and_then(|v| v.to_str().ok()).unwrap_or("");
    let mut answer = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("method not allowed here; allowed: {allowed}"),
    )
    .into_response();
    if let Some(allow) = allow {
        answer.headers_mut().insert(header::ALLOW, allow);
    }
    answer
}
