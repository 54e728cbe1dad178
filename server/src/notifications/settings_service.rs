//! The 消息推送 settings as pages and the API use them: load with keys masked, validate and save
//! (rebuilding the schedule), test a URL, run a kind now.
use app::api::notifications::{RunReport, SettingsView};
use app::notifications::{FieldErrors, FieldProblem, NotificationKind, NotificationSettings};
use chrono::Utc;

use crate::channels::targets::{PushTargets, TargetError};
use crate::channels::MASK;
use crate::notifications::settings::{load, save, SaveError, StoredSettings, SAVE_DNS_TIMEOUT};

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
    pub async fn test(&self, kind: NotificationKind, url: &str) -> Result<(), crate::channels::error::SendError> {
        let stored;
        let url = if url.contains(MASK) {
            stored = load(self.targets.db(), self.targets.key())
                .await
                .map_err(|e| crate::channels::error::SendError::Request(format!("the stored URL cannot be read: {e}")))?
                .settings;
            unmask(&stored, kind, url).unwrap_or(url)
        } else {
            url
        };
        let result = self
            .sender
            .send(
                &crate::channels::wecom::WeCom,
                &crate::channels::targets::Destination::wecom(url),
                &crate::notifications::render::test_message(chrono::Utc::now().with_timezone(&self.timezone)),
                None,
            )
            .await
            .map(drop);
        let target = crate::channels::targets::display_target(url);
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

/// A kind's URL as answers show it: as its WeCom target's is.
fn mask_url(url: &str) -> String {
    crate::channels::platforms::masked_webhook_url(&crate::channels::targets::Destination::wecom(url))
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
