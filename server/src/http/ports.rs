//! The pages' ports (`app::ports`) over the server's services, and how the services' errors
//! read as the pages' `AppError`: the one place the server speaks the UI crate's service traits.
use app::api::notifications::{RunReport, SettingsView};
use app::deliveries::{DeliveryFilter, DeliveryPage};
use app::error::AppError;
use app::notifications::{FieldErrors, NotificationKind, NotificationSettings};
use app::ports::{DeliveryHistory, NotificationService, SourceDirectory, TargetDirectory, UsageDirectory};
use app::session::CurrentUser;
use app::sources::SourceStatus;
use app::targets::{PushTargetInput, PushTargetView};
use app::usage::{KeyUsage, ProviderInput, ProviderUsage, UserQuotaInput, UserUsage};
use async_trait::async_trait;

use crate::delivery::outbox::Outbox;
use crate::notifications::settings::SaveError;
use crate::notifications::settings_service::{RunNowError, SettingsService};
use crate::notifications::targets::{TargetSaveError, TargetService, TargetTestError};
use crate::sources::Sources;
use crate::usage::directory::{save_provider_settings, save_user_quotas, UpdateError, UsageDirectoryService};

/// A failure the caller cannot mend (a database or Redis away): logged, answered as unavailable.
fn unavailable(what: &str, e: impl std::fmt::Display) -> AppError {
    tracing::error!(error = %e, "{what} unavailable");
    AppError::Unavailable
}

fn webhook_error(e: &crate::channels::error::SendError) -> AppError {
    AppError::Webhook {
        class: e.class(),
        http_status: e.http_status(),
        message: e.to_string(),
    }
}

/// 投递记录 for the pages: the outbox's history with times in APP_TIMEZONE.
pub struct History {
    pub outbox: Outbox,
    pub timezone: chrono_tz::Tz,
}

#[async_trait]
impl DeliveryHistory for History {
    async fn list(&self, filter: DeliveryFilter) -> Result<DeliveryPage, AppError> {
        let page_size = filter.page_size().map_err(|problem| {
            let mut errors = FieldErrors::default();
            errors.insert("limit".into(), problem);
            AppError::Validation(errors)
        })?;
        self.outbox
            .list(&filter, page_size, self.timezone)
            .await
            .map_err(|e| unavailable("deliveries", e))
    }
}

#[async_trait]
impl NotificationService for SettingsService {
    async fn load(&self) -> Result<SettingsView, AppError> {
        SettingsService::load(self)
            .await
            .map(|s| self.view(s))
            .map_err(|e| unavailable("notification settings", e))
    }

    async fn save(&self, settings: NotificationSettings, by: &CurrentUser) -> Result<SettingsView, AppError> {
        match SettingsService::save(self, settings, &by.name).await {
            Ok(stored) => Ok(self.view(stored)),
            Err(SaveError::Invalid(errors)) => Err(AppError::Validation(errors)),
            Err(SaveError::Targets(e)) => Err(unavailable("notification settings", e)),
        }
    }

    async fn test(&self, kind: NotificationKind, webhook_url: &str) -> Result<(), AppError> {
        SettingsService::test(self, kind, webhook_url)
            .await
            .map_err(|e| webhook_error(&e))
    }

    async fn run_now(&self, kind: NotificationKind, by: &CurrentUser) -> Result<RunReport, AppError> {
        match SettingsService::run_now(self, kind, &by.name).await {
            Ok(report) => Ok(report),
            Err(RunNowError::Failed(e)) => Err(unavailable("notification settings", e)),
            Err(e) => Err(AppError::Conflict(e.to_string())),
        }
    }
}

fn no_target(id: i64) -> AppError {
    AppError::NotFound(format!("no push target has the id {id}"))
}

impl From<TargetSaveError> for AppError {
    fn from(e: TargetSaveError) -> Self {
        match e {
            TargetSaveError::Invalid(errors) => AppError::Validation(errors),
            TargetSaveError::NotFound => AppError::NotFound("no such push target".into()),
            TargetSaveError::Targets(e) => unavailable("push targets", e),
        }
    }
}

/// The pages' port: the same service the REST API calls.
#[async_trait]
impl TargetDirectory for TargetService {
    async fn list(&self) -> Result<Vec<PushTargetView>, AppError> {
        TargetService::list(self)
            .await
            .map_err(|e| unavailable("push targets", e))
    }

    async fn create(&self, input: PushTargetInput) -> Result<PushTargetView, AppError> {
        Ok(TargetService::create(self, input).await?)
    }

    async fn update(&self, id: i64, input: PushTargetInput) -> Result<PushTargetView, AppError> {
        TargetService::update(self, id, input).await.map_err(|e| match e {
            TargetSaveError::NotFound => no_target(id),
            other => other.into(),
        })
    }

    async fn delete(&self, id: i64) -> Result<Vec<NotificationKind>, AppError> {
        TargetService::delete(self, id)
            .await
            .map_err(|e| unavailable("push targets", e))?
            .ok_or_else(|| no_target(id))
    }

    async fn test(&self, id: i64, kind: NotificationKind) -> Result<u32, AppError> {
        match TargetService::test(self, id, kind).await {
            Ok(Ok(latency_ms)) => Ok(latency_ms),
            Ok(Err(e)) => Err(webhook_error(&e)),
            Err(TargetTestError::NotFound) => Err(no_target(id)),
            Err(TargetTestError::Targets(e)) => Err(unavailable("push targets", e)),
        }
    }
}

#[async_trait]
impl SourceDirectory for Sources {
    async fn list(&self) -> Result<Vec<SourceStatus>, AppError> {
        self.statuses().await.map_err(|e| unavailable("sources", e))
    }
}

fn update_failed(e: UpdateError) -> AppError {
    match e {
        UpdateError::Invalid(errors) => AppError::Validation(errors),
        UpdateError::NotFound(..) => AppError::NotFound(e.to_string()),
        UpdateError::Mirrored(..) => AppError::Conflict(e.to_string()),
        UpdateError::Db(e) => unavailable("usage", e),
    }
}

#[async_trait]
impl UsageDirectory for UsageDirectoryService {
    async fn list_users(&self) -> Result<Vec<UserUsage>, AppError> {
        self.users(None).await.map_err(|e| unavailable("usage", e))
    }

    async fn list_providers(&self) -> Result<Vec<ProviderUsage>, AppError> {
        self.providers(None).await.map_err(|e| unavailable("usage", e))
    }

    async fn list_keys(&self) -> Result<Vec<KeyUsage>, AppError> {
        self.keys().await.map_err(|e| unavailable("usage", e))
    }

    async fn update_user(&self, id: i64, quotas: UserQuotaInput) -> Result<UserUsage, AppError> {
        save_user_quotas(self.db(), id, &quotas).await.map_err(update_failed)?;
        self.users(Some(id))
            .await
            .map_err(|e| unavailable("usage", e))?
            .pop()
            .ok_or_else(|| AppError::NotFound(format!("no user {id}")))
    }

    async fn update_provider(&self, id: i64, settings: ProviderInput) -> Result<ProviderUsage, AppError> {
        save_provider_settings(self.db(), id, &settings)
            .await
            .map_err(update_failed)?;
        self.providers(Some(id))
            .await
            .map_err(|e| unavailable("usage", e))?
            .pop()
            .ok_or_else(|| AppError::NotFound(format!("no provider {id}")))
    }

    async fn my_usage(&self, user_id: i64) -> Result<Option<UserUsage>, AppError> {
        Ok(self
            .users(Some(user_id))
            .await
            .map_err(|e| unavailable("usage", e))?
            .pop())
    }
}
