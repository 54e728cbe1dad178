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

/// Why a run raised nothing; the API answers the text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum Skipped {
    /// The master switch or the kind is off, or it has no webhook.
    #[serde(rename = "disabled")]
    Disabled,
    /// A scheduled fire the saved settings no longer hold (changed on another instance).
    #[serde(rename = "not due under the saved settings")]
    NotDue,
    /// Another instance runs this fire.
    #[serde(rename = "claimed elsewhere")]
    ClaimedElsewhere,
    #[serde(rename = "circuit-breaker alerts are event-driven")]
    EventDriven,
}

/// What a run did (立即发送, a scheduled fire): the page, the REST API and the scheduler's
/// logs read the same report.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RunReport {
    /// Outbox ids of the notifications raised (see 投递记录).
    pub deliveries: Vec<i64>,
    /// Why nothing ran, when nothing did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<Skipped>,
    /// Cost check: entities at or over the threshold, alerted now or earlier in their window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
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
pub async fn run_notification_now(kind: NotificationKind) -> Result<RunReport, AppError> {
    use crate::ports::{require_admin, services, with_status};
    let admin = require_admin()?;
    with_status(services()?.notifications.run_now(kind, &admin).await)
}
