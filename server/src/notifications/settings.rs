//! 消息推送 settings: the single row of `notification_settings` (PostgreSQL) and the service that
//! validates, saves (rebuilding the schedule) and tests them.
use app::api::notifications::{RunReport, SettingsView};
use app::error::AppError;
use app::notifications::{
    CircuitBreakerSettings, CostAlertSettings, DailyLeaderboardSettings, FieldErrors, FieldProblem, NotificationKind,
    NotificationSettings,
};
use app::ports::NotificationService;
use app::session::CurrentUser;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

use crate::channels::targets::{self, PushTargets, TargetError};
use crate::channels::MASK;
use crate::platform::encryption::SecretsKey;

/// Saved settings with who saved them and when.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredSettings {
    pub settings: NotificationSettings,
    pub updated_at: DateTime<Utc>,
    pub updated_by: Option<String>,
}

#[derive(sqlx::FromRow)]
struct Row {
    enabled: bool,
    circuit_breaker_enabled: bool,
    daily_leaderboard_enabled: bool,
    daily_leaderboard_time: String,
    daily_leaderboard_top_n: i32,
    cost_alert_enabled: bool,
    cost_alert_threshold_percent: i32,
    cost_alert_check_interval_minutes: i32,
    updated_at: DateTime<Utc>,
    updated_by: Option<String>,
}

/// Where each kind goes, as the settings show it.
#[derive(Default)]
struct KindTargets {
    webhook_url: Option<String>,
    target_ids: Vec<i64>,
}

fn stored(r: Row, targets: [KindTargets; 3]) -> StoredSettings {
    let [cb, dl, ca] = targets;
    StoredSettings {
        settings: NotificationSettings {
            enabled: r.enabled,
            circuit_breaker: CircuitBreakerSettings {
                enabled: r.circuit_breaker_enabled,
                webhook_url: cb.webhook_url,
                target_ids: Some(cb.target_ids),
            },
            daily_leaderboard: DailyLeaderboardSettings {
                enabled: r.daily_leaderboard_enabled,
                webhook_url: dl.webhook_url,
                target_ids: Some(dl.target_ids),
                time: r.daily_leaderboard_time,
                top_n: r.daily_leaderboard_top_n,
            },
            cost_alert: CostAlertSettings {
                enabled: r.cost_alert_enabled,
                webhook_url: ca.webhook_url,
                target_ids: Some(ca.target_ids),
                threshold_percent: r.cost_alert_threshold_percent,
                check_interval_minutes: r.cost_alert_check_interval_minutes,
            },
        },
        updated_at: r.updated_at,
        updated_by: r.updated_by,
    }
}

const COLUMNS: &str = "enabled, circuit_breaker_enabled, daily_leaderboard_enabled, daily_leaderboard_time,
    daily_leaderboard_top_n, cost_alert_enabled, cost_alert_threshold_percent, cost_alert_check_interval_minutes,
    updated_at, updated_by";

async fn kind_targets(conn: &mut PgConnection, key: &SecretsKey) -> Result<[KindTargets; 3], TargetError> {
    let mut out: [KindTargets; 3] = Default::default();
    for kind in NotificationKind::ALL {
        out[kind as usize] = KindTargets {
            webhook_url: targets::webhook_url_target_of(conn, key, kind)
                .await?
                .map(|(_, url)| url),
            target_ids: targets::bound_to(conn, kind).await?,
        };
    }
    Ok(out)
}

/// The settings; the row is created with the defaults on first read.
pub async fn load(db: &PgPool, key: &SecretsKey) -> Result<StoredSettings, TargetError> {
    let mut conn = db.acquire().await?;
    sqlx::query("INSERT INTO notification_settings (id) VALUES (1) ON CONFLICT (id) DO NOTHING")
        .execute(&mut *conn)
        .await?;
    let row: Row = sqlx::query_as(&format!("SELECT {COLUMNS} FROM notification_settings WHERE id = 1"))
        .fetch_one(&mut *conn)
        .await?;
    let targets = kind_targets(&mut conn, key).await?;
    Ok(stored(row, targets))
}

/// What `kind` is bound to after a save of `s`: `targetIds` as given (or, left out, as bound
/// now), with the target of its old `webhookUrl` replaced by the WeCom target of the new one
/// (also returned).
async fn next_bindings(
    conn: &mut PgConnection,
    key: &SecretsKey,
    s: &NotificationSettings,
    kind: NotificationKind,
) -> Result<(Vec<i64>, Option<i64>), TargetError> {
    let old = targets::webhook_url_target_of(conn, key, kind).await?.map(|(id, _)| id);
    let mut ids = match s.target_ids(kind) {
        Some(ids) => ids.to_vec(),
        None => targets::bound_to(conn, kind).await?,
    };
    ids.retain(|id| Some(*id) != old);
    let mut new = None;
    if let Some(url) = s.webhook_url(kind) {
        let id = targets::wecom_target_for(conn, key, url, || targets::wecom_name(url)).await?;
        ids.push(id);
        new = Some(id);
    }
    ids.sort_unstable();
    ids.dedup();
    Ok((ids, new))
}

/// Saves already validated settings; `Invalid` when a kind names targets that do not exist or
/// is on with nowhere to go. Nothing is saved then.
pub async fn save(
    db: &PgPool,
    key: &SecretsKey,
    s: &NotificationSettings,
    updated_by: &str,
) -> Result<StoredSettings, SaveError> {
    let mut tx = db.begin().await?;
    let mut errors = FieldErrors::default();
    let mut bindings = Vec::new();
    for kind in NotificationKind::ALL {
        let given = s.target_ids(kind).unwrap_or_default();
        let missing = targets::missing(&mut tx, given).await?;
        if !missing.is_empty() {
            errors.insert(
                format!("{}.targetIds", kind.key()),
                FieldProblem::UnknownTargets(missing),
            );
            continue;
        }
        let (ids, from_webhook_url) = next_bindings(&mut tx, key, s, kind).await?;
        if ids.is_empty() && s.kind_enabled(kind) {
            errors.insert(format!("{}.webhookUrl", kind.key()), FieldProblem::UrlRequired);
        }
        bindings.push((kind, ids, from_webhook_url));
    }
    if !errors.is_empty() {
        // Dropped, the transaction takes back any target created on the way.
        return Err(SaveError::Invalid(errors));
    }
    for (kind, ids, from_webhook_url) in &bindings {
        targets::set_bindings(&mut tx, *kind, ids, *from_webhook_url).await?;
    }
    let row: Row = sqlx::query_as(&format!(
        "INSERT INTO notification_settings AS t (id, enabled, circuit_breaker_enabled, daily_leaderboard_enabled,
            daily_leaderboard_time, daily_leaderboard_top_n, cost_alert_enabled, cost_alert_threshold_percent,
            cost_alert_check_interval_minutes, updated_at, updated_by)
         VALUES (1, $1, $2, $3, $4, $5, $6, $7, $8, now(), $9)
         ON CONFLICT (id) DO UPDATE SET
            enabled = EXCLUDED.enabled,
            circuit_breaker_enabled = EXCLUDED.circuit_breaker_enabled,
            daily_leaderboard_enabled = EXCLUDED.daily_leaderboard_enabled,
            daily_leaderboard_time = EXCLUDED.daily_leaderboard_time,
            daily_leaderboard_top_n = EXCLUDED.daily_leaderboard_top_n,
            cost_alert_enabled = EXCLUDED.cost_alert_enabled,
            cost_alert_threshold_percent = EXCLUDED.cost_alert_threshold_percent,
            cost_alert_check_interval_minutes = EXCLUDED.cost_alert_check_interval_minutes,
            updated_at = now(),
            updated_by = EXCLUDED.updated_by
         RETURNING {COLUMNS}"
    ))
    .bind(s.enabled)
    .bind(s.circuit_breaker.enabled)
    .bind(s.daily_leaderboard.enabled)
    .bind(&s.daily_leaderboard.time)
    .bind(s.daily_leaderboard.top_n)
    .bind(s.cost_alert.enabled)
    .bind(s.cost_alert.threshold_percent)
    .bind(s.cost_alert.check_interval_minutes)
    .bind(updated_by)
    .fetch_one(&mut *tx)
    .await?;
    let targets = kind_targets(&mut tx, key).await?;
    tx.commit().await?;
    Ok(stored(row, targets))
}

/// Load, validate-and-save, and test: shared by the server functions and the REST API.
#[derive(Clone)]
pub struct SettingsService {
    targets: PushTargets,
    sender: crate::channels::sender::WebhookSender,
    scheduler: crate::notifications::schedule::scheduler::Scheduler,
    timezone: chrono_tz::Tz,
}

#[derive(Debug, thiserror::Error)]
pub enum RunNowError {
    #[error("circuit-breaker alerts are event-driven")]
    EventDriven,
    #[error("{} is off: turn on the master switch and this notification, and save a webhook URL", .0.key())]
    Off(NotificationKind),
    #[error(transparent)]
    Failed(crate::notifications::schedule::runs::RunError),
}

#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    #[error("invalid settings")]
    Invalid(FieldErrors),
    #[error(transparent)]
    Targets(#[from] TargetError),
}

impl From<sqlx::Error> for SaveError {
    fn from(e: sqlx::Error) -> Self {
        SaveError::Targets(TargetError::Db(e))
    }
}

/// How long validation may wait for DNS before leaving the verdict to delivery time.
pub const SAVE_DNS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

impl SettingsService {
    pub fn new(
        targets: PushTargets,
        sender: crate::channels::sender::WebhookSender,
        scheduler: crate::notifications::schedule::scheduler::Scheduler,
        timezone: chrono_tz::Tz,
    ) -> Self {
        SettingsService {
            targets,
            sender,
            scheduler,
            timezone,
        }
    }

    /// The settings as answers show them: each kind's `webhookUrl` with its key masked.
    pub async fn load(&self) -> Result<StoredSettings, TargetError> {
        let mut stored = load(self.targets.db(), self.targets.key()).await?;
        stored.settings = masked(stored.settings);
        Ok(stored)
    }

    /// `settings` with each `webhookUrl` given back as answers showed it (masked) replaced by
    /// the stored one it stands for.
    async fn unmasked(&self, mut settings: NotificationSettings) -> Result<NotificationSettings, TargetError> {
        if NotificationKind::ALL
            .iter()
            .all(|k| !settings.webhook_url(*k).is_some_and(|u| u.contains(MASK)))
        {
            return Ok(settings);
        }
        let stored = load(self.targets.db(), self.targets.key()).await?.settings;
        for kind in NotificationKind::ALL {
            if let Some(clear) = settings
                .webhook_url(kind)
                .and_then(|given| unmask(&stored, kind, given))
            {
                *webhook_url_mut(&mut settings, kind) = Some(clear.to_owned());
            }
        }
        Ok(settings)
    }

    /// The validation of the page, the server functions and the API: field rules, then the SSRF
    /// guard. Names that resolve are checked address by address now; a name that does not
    /// resolve yet is left to delivery, which refuses it there (a DNS failure never passes).
    pub async fn validate(&self, settings: NotificationSettings) -> Result<NotificationSettings, FieldErrors> {
        let settings = settings.normalized();
        let guard = self.sender.guard();
        settings.validate(&|url| guard.check_url(url).map(|_| ()).map_err(|r| r.to_string()))?;
        let mut errors = FieldErrors::default();
        for kind in NotificationKind::ALL {
            let Some(url) = settings.webhook_url(kind) else {
                continue;
            };
            if url.contains(MASK) {
                errors.insert(format!("{}.webhookUrl", kind.key()), FieldProblem::UrlMasked);
                continue;
            }
            if let Err(refusal) = guard.check_before_saving(url, SAVE_DNS_TIMEOUT).await {
                errors.insert(
                    format!("{}.webhookUrl", kind.key()),
                    FieldProblem::UrlRefused(refusal.to_string()),
                );
            }
        }
        if errors.is_empty() {
            Ok(settings)
        } else {
            Err(errors)
        }
    }

    /// Validates and saves (nothing is saved when anything is invalid), then rebuilds the
    /// schedule; answers the settings as stored, masked.
    pub async fn save(&self, settings: NotificationSettings, by: &str) -> Result<StoredSettings, SaveError> {
        let settings = self.unmasked(settings).await?;
        let settings = self.validate(settings).await.map_err(SaveError::Invalid)?;
        let mut stored = save(self.targets.db(), self.targets.key(), &settings, by).await?;
        self.scheduler.rebuild(&stored.settings).await;
        tracing::info!(by, "notification settings saved");
        stored.settings = masked(stored.settings);
        Ok(stored)
    }

    /// Sends the spec's test message to `url` (the kind's stored URL when `url` is it as answers
    /// show it, masked) through the real sender.
    pub async fn test(&self, kind: NotificationKind, url: &str) -> Result<(), crate::channels::sender::SendError> {
        let stored;
        let url = if url.contains(MASK) {
            stored = load(self.targets.db(), self.targets.key())
                .await
                .map_err(|e| {
                    crate::channels::sender::SendError::Request(format!("the stored URL cannot be read: {e}"))
                })?
                .settings;
            unmask(&stored, kind, url).unwrap_or(url)
        } else {
            url
        };
        let result = self
            .sender
            .send(
                &crate::channels::wecom::WeCom,
                &crate::channels::targets::Destination::of_url(url),
                &crate::notifications::render::test_message(chrono::Utc::now().with_timezone(&self.timezone)),
                None,
            )
            .await
            .map(drop);
        let target = crate::channels::sender::display_target(url);
        match &result {
            Ok(()) => tracing::info!(kind = kind.key(), %target, "test message delivered"),
            Err(e) => tracing::info!(kind = kind.key(), %target, error = %e, "test message failed"),
        }
        result
    }

    /// Rebuilds the schedule from the saved settings (startup).
    pub async fn rebuild_schedule(&self) -> Result<(), TargetError> {
        let stored = self.load().await?;
        self.scheduler.rebuild(&stored.settings).await;
        Ok(())
    }

    /// 立即发送: one run of the leaderboard or the cost check now, through the scheduled path
    /// (the switches are checked as a scheduled run checks them). The page and the API both call it.
    pub async fn run_now(&self, kind: NotificationKind, by: &str) -> Result<RunReport, RunNowError> {
        if kind == NotificationKind::CircuitBreaker {
            return Err(RunNowError::EventDriven);
        }
        let report = self
            .scheduler
            .runs()
            .run(kind, crate::notifications::schedule::runs::Trigger::Manual, Utc::now())
            .await
            .map_err(RunNowError::Failed)?;
        if report.skipped.is_some() {
            return Err(RunNowError::Off(kind));
        }
        tracing::info!(by, kind = kind.key(), deliveries = report.deliveries.len(), "run now");
        Ok(report)
    }

    pub fn scheduler(&self) -> &crate::notifications::schedule::scheduler::Scheduler {
        &self.scheduler
    }

    pub fn view(&self, stored: StoredSettings) -> SettingsView {
        SettingsView {
            updated_at: stored
                .updated_at
                .with_timezone(&self.timezone)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string(),
            updated_by: stored.updated_by,
            settings: stored.settings,
        }
    }
}

fn unavailable(e: impl std::fmt::Display) -> AppError {
    tracing::error!(error = %e, "notification settings unavailable");
    AppError::Unavailable
}

#[async_trait]
impl NotificationService for SettingsService {
    async fn load(&self) -> Result<SettingsView, AppError> {
        SettingsService::load(self)
            .await
            .map(|s| self.view(s))
            .map_err(unavailable)
    }

    async fn save(&self, settings: NotificationSettings, by: &CurrentUser) -> Result<SettingsView, AppError> {
        match SettingsService::save(self, settings, &by.name).await {
            Ok(stored) => Ok(self.view(stored)),
            Err(SaveError::Invalid(errors)) => Err(AppError::Validation(errors)),
            Err(SaveError::Targets(e)) => Err(unavailable(e)),
        }
    }

    async fn test(&self, kind: NotificationKind, webhook_url: &str) -> Result<(), AppError> {
        SettingsService::test(self, kind, webhook_url)
            .await
            .map_err(|e| AppError::Webhook {
                class: e.class(),
                http_status: e.http_status(),
                message: e.to_string(),
            })
    }

    async fn run_now(&self, kind: NotificationKind, by: &CurrentUser) -> Result<RunReport, AppError> {
        match SettingsService::run_now(self, kind, &by.name).await {
            Ok(report) => Ok(report),
            Err(RunNowError::Failed(e)) => Err(unavailable(e)),
            Err(e) => Err(AppError::Conflict(e.to_string())),
        }
    }
}

/// A kind's URL as answers show it: as its WeCom target's is.
fn mask_url(url: &str) -> String {
    crate::channels::targets::Destination::of_url(url)
        .masked_webhook_url(app::targets::ChannelKind::Wecom)
        .unwrap_or_default()
}

/// The stored URL of `kind` that `given` is as answers show it.
fn unmask<'a>(stored: &'a NotificationSettings, kind: NotificationKind, given: &str) -> Option<&'a str> {
    stored.webhook_url(kind).filter(|clear| given.trim() == mask_url(clear))
}

fn masked(mut settings: NotificationSettings) -> NotificationSettings {
    for kind in NotificationKind::ALL {
        let url = webhook_url_mut(&mut settings, kind);
        *url = url.take().map(|u| mask_url(&u));
    }
    settings
}

fn webhook_url_mut(settings: &mut NotificationSettings, kind: NotificationKind) -> &mut Option<String> {
    match kind {
        NotificationKind::CircuitBreaker => &mut settings.circuit_breaker.webhook_url,
        NotificationKind::DailyLeaderboard => &mut settings.daily_leaderboard.webhook_url,
        NotificationKind::CostAlert => &mut settings.cost_alert.webhook_url,
    }
}
