//! 推送目标 as admins manage them (REST API, pages): validated create and edit, delete, and the
//! test that sends a realistic message of a kind through the target's real path.
use std::time::Instant;

use app::notifications::{FieldErrors, FieldProblem, NotificationKind};
use app::targets::{
    BudgetSetting, ChannelConfig, ChannelKind, LastTest, PushTargetInput, PushTargetView, Shown, TargetEdit,
};
use chrono::Utc;
use chrono_tz::Tz;

use crate::channels::error::SendError;
use crate::channels::sender::WebhookSender;
use crate::channels::targets::display_target;
use crate::channels::targets::{
    self, mask_proxy_password, Destination, NewTarget, PushTarget, PushTargets, Secret, TargetError,
};
use crate::channels::{custom, platforms, telegram, webhook, MASK};
use crate::delivery::rate_limit::effective_budget;
use crate::notifications::bindings;
use crate::notifications::settings::SAVE_DNS_TIMEOUT;
use crate::platform::config::{RateLimit, SendBudget};

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

/// A target's config as answers show it: its webhook URL masked, its other write-only values
/// only as set.
fn shown(to: &Destination) -> ChannelConfig<Shown> {
    let masked_url = platforms::masked_webhook_url(to);
    to.config.as_ref().map_with_path(|path, _| match (path, &masked_url) {
        ("webhookUrl", Some(url)) => Shown::Url(url.clone()),
        _ => Shown::Set,
    })
}

#[derive(Clone)]
pub struct TargetService {
    targets: PushTargets,
    sender: WebhookSender,
    timezone: Tz,
    /// `WEBHOOK_RATE_LIMIT`: what a target without a budget of its own keeps.
    configured_budget: SendBudget,
}

fn budget_setting(limit: RateLimit) -> BudgetSetting {
    BudgetSetting {
        sends: limit.sends,
        per_seconds: u32::try_from(limit.window.as_secs()).unwrap_or(u32::MAX),
    }
}

impl TargetService {
    pub fn new(targets: PushTargets, sender: WebhookSender, timezone: Tz, configured_budget: SendBudget) -> Self {
        TargetService {
            targets,
            sender,
            timezone,
            configured_budget,
        }
    }

    fn view(&self, t: PushTarget, kinds: Vec<NotificationKind>) -> PushTargetView {
        let to = &t.destination;
        let kind = t.channel();
        PushTargetView {
            id: t.id,
            name: t.name.clone(),
            enabled: t.enabled,
            config: shown(to),
            proxy_url: to.proxy().map(mask_proxy_password),
            proxy_fallback_direct: to.proxy_fallback_direct,
            rate_limit: to.rate_limit,
            default_rate_limit: effective_budget(None, self.configured_budget, platforms::channel_of(kind))
                .map(budget_setting),
            endpoint: t.endpoint_host,
            kinds,
            last_test: t.last_test.map(|l| LastTest {
                at: l.at.with_timezone(&self.timezone).to_rfc3339(),
                ok: l.ok,
                error: l.error,
                latency_ms: l.latency_ms,
            }),
            generated_secret: None,
        }
    }

    /// Every target, oldest first.
    pub async fn list(&self) -> Result<Vec<PushTargetView>, TargetError> {
        let mut conn = self.targets.db().acquire().await?;
        let mut kinds = bindings::kinds_by_target(&mut conn, None).await?;
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
        let kinds = bindings::kinds_of(&mut conn, id).await?;
        Ok(Some(self.view(target, kinds)))
    }

    /// Field rules, then what only the server can judge: the SSRF guard on the URLs and the
    /// proxy, the template's placeholders, the signing secret's key. An edit keeps its channel.
    async fn validate(
        &self,
        input: &PushTargetInput,
        stored: Option<&PushTarget>,
    ) -> Result<TargetEdit, TargetSaveError> {
        let checked = input.validate(stored.map(|t| shown(&t.destination)).as_ref());
        let mut errors = checked.clone().err().unwrap_or_default();
        if let (Ok(edit), Some(stored)) = (&checked, stored) {
            if stored.channel() != edit.config.kind() {
                errors.insert(
                    "channel".into(),
                    FieldProblem::ChannelChanged(stored.channel().key().into()),
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
        if input.webhook_url.as_deref().is_some_and(|u| u.contains(MASK)) {
            errors.insert("webhookUrl".into(), FieldProblem::UrlMasked);
        }
        if let (None, Some(proxy)) = (errors.get("proxyUrl"), input.proxy_url.as_deref()) {
            if !(proxy_keeps_password(proxy) && stored.is_some_and(|t| t.destination.proxy().is_some())) {
                if let Err(refusal) = self.sender.guard().check_proxy(proxy, Some(SAVE_DNS_TIMEOUT)).await {
                    errors.insert("proxyUrl".into(), FieldProblem::UrlRefused(refusal.to_string()));
                }
            }
        }
        // The channel the input means, even when other fields are wrong: every field is judged.
        let channel = input.channel(stored.map(PushTarget::channel));
        if let (Some(ChannelKind::Custom), None, Some(template)) = (channel, errors.get("template"), &input.template) {
            if let Err(e) = custom::Template::from_value(template.clone()) {
                errors.insert("template".into(), FieldProblem::Template(e.to_string()));
            }
        }
        if let (Some(ChannelKind::Webhook), None, Some(secret)) =
            (channel, errors.get("secret"), input.secret.as_deref())
        {
            if webhook::SigningSecret::parse(secret).is_err() {
                errors.insert("secret".into(), FieldProblem::WebhookSecret);
            }
        }
        match checked {
            Ok(edit) if errors.is_empty() => Ok(edit),
            _ => Err(TargetSaveError::Invalid(errors)),
        }
    }

    /// What pages and logs show of where `to` sends.
    fn endpoint(to: &Destination) -> String {
        match &to.config {
            ChannelConfig::Telegram(chat) => {
                display_target(chat.api_base_url.as_deref().unwrap_or(telegram::DEFAULT_API_BASE))
            }
            _ => display_target(to.webhook_url().unwrap_or_default()),
        }
    }

    pub async fn create(&self, input: PushTargetInput) -> Result<PushTargetView, TargetSaveError> {
        let input = input.normalized();
        let edit = self.validate(&input, None).await?;
        let (destination, generated) = apply(edit.clone(), None).map_err(TargetSaveError::Invalid)?;
        let channel = destination.config.kind();
        let new = NewTarget {
            name: edit.name,
            enabled: edit.enabled,
            endpoint_host: Self::endpoint(&destination),
            destination,
        };
        let mut conn = self.targets.db().acquire().await?;
        let id = targets::create(&mut conn, self.targets.key(), &new).await?;
        drop(conn);
        tracing::info!(target_id = id, channel = channel.key(), endpoint = %new.endpoint_host, "push target created");
        let mut view = self.get(id).await?.ok_or(TargetSaveError::NotFound)?;
        view.generated_secret = generated;
        Ok(view)
    }

    /// Replaces a target's name, switch and settings; secrets left out are kept.
    pub async fn update(&self, id: i64, input: PushTargetInput) -> Result<PushTargetView, TargetSaveError> {
        let mut input = input.normalized();
        let stored = self.targets.get(id).await?.ok_or(TargetSaveError::NotFound)?;
        // The URL as answers show it (its key masked) means the stored one.
        let shown = platforms::masked_webhook_url(&stored.destination);
        if input.webhook_url.is_some() && input.webhook_url == shown {
            input.webhook_url = None;
        }
        let edit = self.validate(&input, Some(&stored)).await?;
        let (destination, _) = apply(edit, Some(&stored.destination)).map_err(TargetSaveError::Invalid)?;
        let endpoint = Self::endpoint(&destination);
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
        let mut tx = self.targets.db().begin().await?;
        let kinds = bindings::kinds_of(&mut tx, id).await?;
        let deleted = targets::delete(&mut tx, id).await?;
        tx.commit().await?;
        if deleted {
            tracing::info!(target_id = id, "push target deleted");
        }
        Ok(deleted.then_some(kinds))
    }

    /// Sends the specification's example of `kind` to the target, as a delivery would, and
    /// remembers the outcome as the target's last test.
    pub async fn test(&self, id: i64, kind: NotificationKind) -> Result<TestOutcome, TargetTestError> {
        let target = self.targets.get(id).await?.ok_or(TargetTestError::NotFound)?;
        let message = crate::notifications::samples::sample(kind, Utc::now().with_timezone(&self.timezone));
        let started = Instant::now();
        let channel = platforms::channel_of(target.channel());
        let result = self
            .sender
            .send(channel, &target.destination, &message, None)
            .await
            .map(drop);
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

/// Whether a proxy URL carries the masked password answers show (`user:***@`): the stored
/// password is meant.
fn proxy_keeps_password(proxy: &str) -> bool {
    url::Url::parse(proxy).is_ok_and(|u| u.password() == Some(MASK))
}

/// The destination an edit makes of `stored` (or of nothing), and the signing secret generated
/// for a new `webhook` target without one of the admin's (shown once). A value to keep that
/// is not there is a problem of its field.
fn apply(edit: TargetEdit, stored: Option<&Destination>) -> Result<(Destination, Option<String>), FieldErrors> {
    let kind = edit.config.kind();
    let mut errors = FieldErrors::default();
    let mut generated = None;
    let config = edit.config.resolve(stored.map(|d| &d.config), Secret::new, |path| {
        if kind == ChannelKind::Webhook && path == "secret" {
            // A signed webhook always signs: without a secret of the admin's, one is made.
            let made = webhook::SigningSecret::generate();
            generated = Some(made.clone());
            Secret::new(made)
        } else {
            errors.insert(path.into(), FieldProblem::Required);
            Secret::new(String::new())
        }
    });
    let proxy_url = match edit.proxy_url.as_deref() {
        Some(proxy) if proxy_keeps_password(proxy) => {
            let old = stored
                .and_then(Destination::proxy)
                .and_then(|u| url::Url::parse(u).ok());
            let mut new = url::Url::parse(proxy).ok();
            if let (Some(new), Some(old)) = (new.as_mut(), old) {
                let _ = new.set_password(old.password());
            }
            new.map(|u| Secret::new(u.to_string().trim_end_matches('/')))
        }
        other => other.map(Secret::new),
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    let destination = Destination {
        config,
        proxy_url,
        proxy_fallback_direct: edit.proxy_fallback_direct,
        rate_limit: edit.rate_limit,
    };
    Ok((destination, generated))
}
