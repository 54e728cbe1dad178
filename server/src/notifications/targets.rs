//! 推送目标 as admins manage them (REST API, pages): validated create and edit, delete, and the
//! test that sends a realistic message of a kind through the target's real path.
use std::time::Instant;

use app::notifications::{FieldErrors, FieldProblem, NotificationKind};
use app::targets::{LastTest, PushTargetInput, PushTargetView, Stored};
use chrono::Utc;
use chrono_tz::Tz;

use crate::channels::sender::{display_target, SendError, WebhookSender};
use crate::channels::targets::{self, Destination, NewTarget, PushTarget, PushTargets, TargetError};
use crate::channels::telegram;
use crate::notifications::settings::SAVE_DNS_TIMEOUT;

#[derive(Debug, thiserror::Error)]
pub enum TargetSaveError {
    #[error("invalid push target")]
    Invalid(FieldErrors),
    #[error("no such push target")]
    NotFound,
    #[error(transparent)]
    Targets(#[from] TargetError),
}

impl From<sqlx::Error> for TargetSaveError {
    fn from(e: sqlx::Error) -> Self {
        TargetSaveError::Targets(TargetError::Db(e))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TargetTestError {
    #[error("no such push target")]
    NotFound,
    #[error(transparent)]
    Targets(#[from] TargetError),
}

/// A test's outcome: how long the platform took to accept, or why it did not.
pub type TestOutcome = Result<u32, SendError>;

#[derive(Clone)]
pub struct TargetService {
    targets: PushTargets,
    sender: WebhookSender,
    timezone: Tz,
}

impl TargetService {
    pub fn new(targets: PushTargets, sender: WebhookSender, timezone: Tz) -> Self {
        TargetService {
            targets,
            sender,
            timezone,
        }
    }

    fn view(&self, t: PushTarget, kinds: Vec<NotificationKind>) -> PushTargetView {
        let to = &t.destination;
        PushTargetView {
            id: t.id,
            name: t.name.clone(),
            channel: t.channel,
            enabled: t.enabled,
            has_secret: to.secrets.secret.is_some(),
            has_bot_token: to.secrets.bot_token.is_some(),
            chat_id: to.setting(telegram::CHAT_ID).map(str::to_owned),
            message_thread_id: to
                .settings
                .get(telegram::MESSAGE_THREAD_ID)
                .and_then(serde_json::Value::as_i64),
            api_base_url: to.setting(telegram::API_BASE_URL).map(str::to_owned),
            webhook_url: to.secrets.webhook_url.clone(),
            endpoint: t.endpoint_host,
            kinds,
            last_test: t.last_test.map(|l| LastTest {
                at: l.at.with_timezone(&self.timezone).to_rfc3339(),
                ok: l.ok,
                error: l.error,
                latency_ms: l.latency_ms,
            }),
        }
    }

    /// Every target, oldest first.
    pub async fn list(&self) -> Result<Vec<PushTargetView>, TargetError> {
        let mut conn = self.targets.db().acquire().await?;
        let mut kinds = targets::kinds_by_target(&mut conn, None).await?;
        let all = targets::list(&mut conn, self.targets.key()).await?;
        Ok(all
            .into_iter()
            .map(|t| {
                let k = kinds.remove(&t.id).unwrap_or_default();
                self.view(t, k)
            })
            .collect())
    }

    pub async fn get(&self, id: i64) -> Result<Option<PushTargetView>, TargetError> {
        let Some(target) = self.targets.get(id).await? else {
            return Ok(None);
        };
        let mut conn = self.targets.db().acquire().await?;
        let kinds = targets::kinds_of(&mut conn, id).await?;
        Ok(Some(self.view(target, kinds)))
    }

    /// Field rules, then the SSRF guard on the URLs; an edit keeps its channel.
    async fn validate(
        &self,
        input: &PushTargetInput,
        stored: Option<&PushTarget>,
    ) -> Result<app::targets::ChannelKind, TargetSaveError> {
        let checked = input.validate(stored.map(|t| Stored {
            channel: t.channel,
            webhook_url: t.destination.secrets.webhook_url.is_some(),
            bot_token: t.destination.secrets.bot_token.is_some(),
        }));
        let mut errors = checked.clone().err().unwrap_or_default();
        if let (Ok(channel), Some(stored)) = (&checked, stored) {
            if stored.channel != *channel {
                errors.insert(
                    "channel".into(),
                    FieldProblem::ChannelChanged(stored.channel.key().into()),
                );
            }
        }
        for (field, url) in [
            ("webhookUrl", input.webhook_url.as_deref()),
            ("apiBaseUrl", input.api_base_url.as_deref()),
        ] {
            if let (None, Some(url)) = (errors.get(field), url) {
                if let Err(refusal) = self.sender.guard().check_before_saving(url, SAVE_DNS_TIMEOUT).await {
                    errors.insert(field.into(), FieldProblem::UrlRefused(refusal.to_string()));
                }
            }
        }
        match checked {
            Ok(channel) if errors.is_empty() => Ok(channel),
            _ => Err(TargetSaveError::Invalid(errors)),
        }
    }

    /// `stored` (or nothing) with what `input` says; what it leaves out is kept.
    fn destination(input: &PushTargetInput, stored: Option<&Destination>) -> Destination {
        let mut to = stored.cloned().unwrap_or_default();
        if let Some(url) = &input.webhook_url {
            to.secrets.webhook_url = Some(url.clone());
        }
        if let Some(secret) = &input.secret {
            to.secrets.secret = Some(secret.clone()).filter(|s| !s.is_empty());
        }
        if let Some(token) = &input.bot_token {
            to.secrets.bot_token = Some(token.clone());
        }
        let mut set = |name: &str, value: Option<serde_json::Value>| match value {
            Some(value) => {
                to.settings.insert(name.to_owned(), value);
            }
            None => {
                to.settings.remove(name);
            }
        };
        if input.chat_id.is_some() || stored.is_none() {
            set(telegram::CHAT_ID, input.chat_id.clone().map(Into::into));
        }
        set(telegram::MESSAGE_THREAD_ID, input.message_thread_id.map(Into::into));
        set(telegram::API_BASE_URL, input.api_base_url.clone().map(Into::into));
        to
    }

    /// What pages and logs show of where `to` sends.
    fn endpoint(channel: app::targets::ChannelKind, to: &Destination) -> String {
        match channel {
            app::targets::ChannelKind::Telegram => {
                display_target(to.setting(telegram::API_BASE_URL).unwrap_or(telegram::DEFAULT_API_BASE))
            }
            _ => display_target(to.secrets.webhook_url.as_deref().unwrap_or_default()),
        }
    }

    pub async fn create(&self, input: PushTargetInput) -> Result<PushTargetView, TargetSaveError> {
        let input = input.normalized();
        let channel = self.validate(&input, None).await?;
        let destination = Self::destination(&input, None);
        let new = NewTarget {
            name: input.name.clone(),
            channel,
            enabled: input.enabled,
            endpoint_host: Self::endpoint(channel, &destination),
            destination,
        };
        let mut conn = self.targets.db().acquire().await?;
        let id = targets::create(&mut conn, self.targets.key(), &new).await?;
        drop(conn);
        tracing::info!(target_id = id, channel = channel.key(), endpoint = %new.endpoint_host, "push target created");
        self.get(id).await?.ok_or(TargetSaveError::NotFound)
    }

    /// Replaces a target's name, switch and settings; secrets left out are kept.
    pub async fn update(&self, id: i64, input: PushTargetInput) -> Result<PushTargetView, TargetSaveError> {
        let input = input.normalized();
        let stored = self.targets.get(id).await?.ok_or(TargetSaveError::NotFound)?;
        self.validate(&input, Some(&stored)).await?;
        let destination = Self::destination(&input, Some(&stored.destination));
        let endpoint = Self::endpoint(stored.channel, &destination);
        let mut conn = self.targets.db().acquire().await?;
        if !targets::update(
            &mut conn,
            self.targets.key(),
            id,
            &input.name,
            input.enabled,
            &destination,
            &endpoint,
        )
        .await?
        {
            return Err(TargetSaveError::NotFound);
        }
        drop(conn);
        tracing::info!(target_id = id, %endpoint, "push target saved");
        self.get(id).await?.ok_or(TargetSaveError::NotFound)
    }

    /// The kinds the deleted target served, or `None` when there was none.
    pub async fn delete(&self, id: i64) -> Result<Option<Vec<NotificationKind>>, TargetError> {
        let deleted = self.targets.delete(id).await?;
        if deleted.is_some() {
            tracing::info!(target_id = id, "push target deleted");
        }
        Ok(deleted)
    }

    /// Sends the specification's example of `kind` to the target, as a delivery would, and
    /// remembers the outcome as the target's last test.
    pub async fn test(&self, id: i64, kind: NotificationKind) -> Result<TestOutcome, TargetTestError> {
        let target = self.targets.get(id).await?.ok_or(TargetTestError::NotFound)?;
        let content = crate::notifications::samples::sample(kind, Utc::now().with_timezone(&self.timezone));
        let started = Instant::now();
        let result = match crate::channels::channel_of(target.channel) {
            Some(channel) => self.sender.send(channel, &target.destination, &content, None).await,
            None => Err(SendError::Request(format!(
                "the {} channel does not deliver in this release",
                target.channel.key()
            ))),
        };
        let latency_ms = u32::try_from(started.elapsed().as_millis()).unwrap_or(u32::MAX);
        let recorded = result.as_ref().map(|_| ()).map_err(ToString::to_string);
        self.targets
            .record_test(id, &recorded, i32::try_from(latency_ms).unwrap_or(i32::MAX))
            .await?;
        match &result {
            Ok(()) => tracing::info!(
                target_id = id,
                kind = kind.key(),
                latency_ms,
                "push target test delivered"
            ),
            Err(e) => tracing::info!(target_id = id, kind = kind.key(), error = %e, "push target test failed"),
        }
        Ok(result.map(|()| latency_ms))
    }
}
