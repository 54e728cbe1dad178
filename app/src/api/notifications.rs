//! 消息推送 settings: load, save and test connection (admin only).
use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::notifications::{NotificationKind, NotificationSettings};

/// Saved settings and who saved them last.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingsView {
    pub settings: NotificationSettings,
    /// RFC 3339.
    pub updated_at: String,
    pub updated_by: Option<String>,
}

/// What 立即发送 did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunSummary {
    /// Notifications raised (they appear in 投递记录).
    pub deliveries: usize,
    /// Cost check: entities at or over the threshold (alerted now or earlier in their window).
    pub over_threshold: Option<usize>,
}

#[server]
pub async fn load_notification_settings() -> Result<SettingsView, AppError> {
    use crate::ports::{require_admin, services, with_status};
    require_admin()?;
    with_status(services()?.notifications.load().await)
}

#[server(input = Json)]
pub async fn save_notification_settings(settings: NotificationSettings) -> Result<SettingsView, AppError> {
    use crate::ports::{require_admin, services, with_status};
    let admin = require_admin()?;
    with_status(services()?.notifications.save(settings, &admin).await)
}

#[server(input = Json)]
pub async fn test_webhook(kind: NotificationKind, webhook_url: String) -> Result<(), AppError> {
    use crate::ports::{require_admin, services, with_status};
    require_admin()?;
    with_status(services()?.notifications.test(kind, webhook_url.trim()).await)
}

#[server(input = Json)]
pub async fn run_notification_now(kind: NotificationKind) -> Result<RunSummary, AppError> {
    use crate::ports::{require_admin, services, with_status};
    let admin = require_admin()?;
    with_status(services()?.notifications.run_now(kind, &admin).await)
}
