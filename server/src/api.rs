//! The REST API for scripts (`/api/v1`): JSON in and out, `Authorization: Bearer <token>`
//! (a browser session works too).
use app::session::CurrentUser;
use app::users::UserSummary;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::auth::Identity;
use crate::state::AppState;

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
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "a backing service is unavailable",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(json!({ "error": self.message }))).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

fn identity(parts: &Parts) -> Result<CurrentUser, ApiError> {
    match parts.extensions.get::<Identity>() {
        Some(Identity::User(user)) => Ok(user.clone()),
        Some(Identity::InvalidToken) => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid bearer token",
        )),
        _ => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "authentication required: Authorization: Bearer <token>",
        )),
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

/// `GET /api/v1/session`: who the credentials belong to.
pub async fn session(Caller(user): Caller) -> Json<CurrentUser> {
    Json(user)
}

/// `GET /api/v1/users` (admin).
pub async fn users(
    _: AdminCaller,
    State(state): State<AppState>,
) -> Result<Json<Vec<UserSummary>>, ApiError> {
    crate::users::list(&state.db)
        .await
        .map(Json)
        .map_err(ApiError::unavailable)
}
