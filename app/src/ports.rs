//! The seams between server functions (declared in this crate) and the server-only
//! implementations in the `server` crate. The server provides a [`Services`] as context.
use std::net::IpAddr;
use std::sync::Arc;

use async_trait::async_trait;
use http::StatusCode;
use leptos::prelude::*;

use crate::api::notifications::{RunReport, SettingsView};
use crate::deliveries::{DeliveryFilter, DeliveryPage};
use crate::error::{AppError, SendFailure};
use crate::notifications::{NotificationKind, NotificationSettings};
use crate::session::CurrentUser;
use crate::sources::SourceStatus;
use crate::targets::{PushTargetInput, PushTargetView};
use crate::usage::{KeyUsage, ProviderInput, ProviderUsage, UserQuotaInput, UserUsage};
use crate::users::UserSummary;

/// A successful sign-in: who, and the `Set-Cookie` header value that starts the session.
pub struct SignedIn {
    pub user: CurrentUser,
    pub set_cookie: String,
}

#[async_trait]
pub trait SessionService: Send + Sync + 'static {
    /// Checks an admin token or a user's API key and starts a session.
    async fn sign_in(&self, secret: &str, client: Option<IpAddr>) -> Result<SignedIn, AppError>;
    /// Ends the session named by the request's cookie; returns the `Set-Cookie` value that clears it.
    async fn sign_out(&self, headers: &http::HeaderMap) -> Result<String, AppError>;
}

#[async_trait]
pub trait UserDirectory: Send + Sync + 'static {
    async fn list(&self) -> Result<Vec<UserSummary>, AppError>;
}

#[async_trait]
pub trait NotificationService: Send + Sync + 'static {
    async fn load(&self) -> Result<SettingsView, AppError>;
    /// Validates (fields and SSRF rules), saves, and rebuilds the schedule.
    async fn save(&self, settings: NotificationSettings, by: &CurrentUser) -> Result<SettingsView, AppError>;
    /// Sends the test message through the real sender.
    async fn test(&self, kind: NotificationKind, webhook_url: &str) -> Result<(), AppError>;
    /// 立即发送: runs the leaderboard or the cost check now, as a scheduled run would.
    async fn run_now(&self, kind: NotificationKind, by: &CurrentUser) -> Result<RunReport, AppError>;
}

#[async_trait]
pub trait DeliveryHistory: Send + Sync + 'static {
    /// Newest first; an invalid filter is a validation error naming the field.
    async fn list(&self, filter: DeliveryFilter) -> Result<DeliveryPage, AppError>;
}

/// 用户 and 供应商: consumption per quota window, quotas and breaker settings.
#[async_trait]
pub trait UsageDirectory: Send + Sync + 'static {
    async fn list_users(&self) -> Result<Vec<UserUsage>, AppError>;
    async fn list_providers(&self) -> Result<Vec<ProviderUsage>, AppError>;
    /// The API keys a gateway gave its users, by id.
    async fn list_keys(&self) -> Result<Vec<KeyUsage>, AppError>;
    /// Validates and saves a user's quotas (invalid input: a validation error, nothing changed;
    /// an unknown id: not found); answers the user as now stored.
    async fn update_user(&self, id: i64, quotas: UserQuotaInput) -> Result<UserUsage, AppError>;
    /// The same for a provider's quotas and breaker settings.
    async fn update_provider(&self, id: i64, settings: ProviderInput) -> Result<ProviderUsage, AppError>;
    /// One user's own consumption; `None` when the id is not a known user.
    async fn my_usage(&self, user_id: i64) -> Result<Option<UserUsage>, AppError>;
}

/// 数据来源: where usage comes from and what each source delivered lately.
#[async_trait]
pub trait SourceDirectory: Send + Sync + 'static {
    /// Every source (`http`, `litellm`, `cch`), in that order.
    async fn list(&self) -> Result<Vec<SourceStatus>, AppError>;
}

/// 推送目标: the targets admins manage on the pages (the REST API calls the same service).
#[async_trait]
pub trait TargetDirectory: Send + Sync + 'static {
    /// Every target, oldest first.
    async fn list(&self) -> Result<Vec<PushTargetView>, AppError>;
    /// Validates and creates; invalid input is a validation error naming each field.
    async fn create(&self, input: PushTargetInput) -> Result<PushTargetView, AppError>;
    /// Validates and replaces (write-only secrets left out are kept); an unknown id: not found.
    async fn update(&self, id: i64, input: PushTargetInput) -> Result<PushTargetView, AppError>;
    /// Deletes a target; the kinds that no longer go to it.
    async fn delete(&self, id: i64) -> Result<Vec<NotificationKind>, AppError>;
    /// Sends a realistic message of `kind` through the target's real path; the platform's
    /// latency in ms, or the failure as [`AppError::Webhook`].
    async fn test(&self, id: i64, kind: NotificationKind) -> Result<u32, AppError>;
}

#[derive(Clone)]
pub struct Services {
    pub sessions: Arc<dyn SessionService>,
    pub users: Arc<dyn UserDirectory>,
    pub notifications: Arc<dyn NotificationService>,
    pub deliveries: Arc<dyn DeliveryHistory>,
    pub usage: Arc<dyn UsageDirectory>,
    pub targets: Arc<dyn TargetDirectory>,
    pub sources: Arc<dyn SourceDirectory>,
}

pub fn services() -> Result<Services, AppError> {
    use_context::<Services>().ok_or_else(|| {
        AppError::ServerFn(leptos::server_fn::error::ServerFnErrorErr::ServerError(
            "services missing from context".into(),
        ))
    })
}

/// The identity the server's access layer attached to this request, if any.
pub fn current_user() -> Option<CurrentUser> {
    use_context::<http::request::Parts>().and_then(|parts| parts.extensions.get::<CurrentUser>().cloned())
}

/// This server's address as the browser reached it (`https://hub.example.com`): the `Host` the
/// request named (a proxy's `X-Forwarded-Host` / `X-Forwarded-Proto` first), for snippets
/// people paste into their gateway.
pub fn request_origin() -> String {
    let header = |parts: &http::request::Parts, name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    use_context::<http::request::Parts>()
        .and_then(|parts| {
            let host = header(&parts, "x-forwarded-host").or_else(|| header(&parts, "host"))?;
            let scheme = header(&parts, "x-forwarded-proto").unwrap_or_else(|| "http".into());
            Some(format!("{scheme}://{host}"))
        })
        .unwrap_or_else(|| "http://127.0.0.1:3000".into())
}

fn set_status(status: StatusCode) {
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(status);
    }
}

pub fn require_user() -> Result<CurrentUser, AppError> {
    current_user().ok_or_else(|| {
        set_status(StatusCode::UNAUTHORIZED);
        AppError::Unauthorized
    })
}

pub fn require_admin() -> Result<CurrentUser, AppError> {
    let user = require_user()?;
    if user.is_admin() {
        Ok(user)
    } else {
        set_status(StatusCode::FORBIDDEN);
        Err(AppError::Forbidden)
    }
}

/// Maps a domain error to its HTTP status for the server-function response.
pub fn with_status<T>(result: Result<T, AppError>) -> Result<T, AppError> {
    if let Err(e) = &result {
        set_status(match e {
            AppError::Unauthorized | AppError::InvalidCredentials => StatusCode::UNAUTHORIZED,
            AppError::Forbidden => StatusCode::FORBIDDEN,
            AppError::Throttled => StatusCode::TOO_MANY_REQUESTS,
            AppError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Validation(_) => StatusCode::BAD_REQUEST,
            AppError::Webhook {
                class: SendFailure::Refused,
                ..
            } => StatusCode::BAD_REQUEST,
            AppError::Webhook { .. } => StatusCode::BAD_GATEWAY,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::ServerFn(_) => StatusCode::INTERNAL_SERVER_ERROR,
        });
    }
    result
}
