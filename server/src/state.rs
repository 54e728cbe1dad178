//! Everything a request handler may need, built once at startup.
use std::sync::Arc;

use app::error::AppError;
use app::ports::{Services, UserDirectory};
use app::users::UserSummary;
use async_trait::async_trait;
use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use sqlx::PgPool;

use crate::auth::Authenticator;
use crate::config::Config;
use crate::redis::Keys;
use crate::scheduler::Scheduler;
use crate::sender::WebhookSender;
use crate::sessions::SessionStore;
use crate::settings::SettingsService;
use crate::ssrf::SsrfGuard;

#[derive(Clone)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub config: Arc<Config>,
    pub db: PgPool,
    pub redis: fred::clients::Pool,
    pub keys: Keys,
    pub auth: Authenticator,
    pub settings: SettingsService,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

impl AppState {
    pub fn new(
        config: Config,
        leptos_options: LeptosOptions,
        db: PgPool,
        redis: fred::clients::Pool,
    ) -> Result<Self, reqwest::Error> {
        let keys = Keys::new(config.redis.key_prefix.clone());
        let sessions = SessionStore::new(redis.clone(), keys.clone(), config.session_ttl, config.cookie_secure);
        let auth = Authenticator::new(
            config.admin_token.clone(),
            db.clone(),
            redis.clone(),
            keys.clone(),
            sessions,
        );
        let sender = WebhookSender::new(SsrfGuard::new(config.webhook_allowlist.clone()), config.webhook_timeout)?;
        let scheduler = Scheduler::new(config.app_env, config.timezone);
        let settings = SettingsService::new(db.clone(), sender, scheduler, config.timezone);
        Ok(AppState {
            leptos_options,
            config: Arc::new(config),
            db,
            redis,
            keys,
            auth,
            settings,
        })
    }

    /// The ports server functions use, put in their context.
    pub fn services(&self) -> Services {
        Services {
            sessions: Arc::new(self.auth.clone()),
            users: Arc::new(PgUserDirectory(self.db.clone())),
            notifications: Arc::new(self.settings.clone()),
        }
    }
}

struct PgUserDirectory(PgPool);

#[async_trait]
impl UserDirectory for PgUserDirectory {
    async fn list(&self) -> Result<Vec<UserSummary>, AppError> {
        crate::users::list(&self.0).await.map_err(|e| {
            tracing::error!(error = %e, "listing users failed");
            AppError::Unavailable
        })
    }
}
