//! Circuit-breaker notifications: 供应商熔断告警 on each transition into OPEN (once per
//! provider per cooldown), and a short recovery message on the return to CLOSED. Event-driven,
//! so they go out in development too; the master switch and the kind's switch are honoured.
use std::time::Duration;

use crate::channels::targets::{PushTargets, TargetRef};
use crate::delivery::engine::Deliveries;
use crate::notifications::render;
use crate::platform::redis::Keys;
use crate::usage::breaker::Transition;
use crate::usage::event::UsageEvent;
use crate::usage::ingest::TransitionObserver;
use app::notifications::NotificationKind;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use fred::prelude::*;

pub const DEFAULT_COOLDOWN: Duration = Duration::from_secs(5 * 60);
/// First pause between tries of the settings read and the raise; short, as ingest waits.
const RETRY_PAUSE: Duration = Duration::from_millis(250);

#[derive(Clone)]
pub struct BreakerAlerts {
    targets: PushTargets,
    redis: Pool,
    keys: Keys,
    deliveries: Deliveries,
    timezone: Tz,
    cooldown: Duration,
}

/// What the last failure said, for the alert: the error text, else the status code.
fn last_error(events: &[&UsageEvent]) -> Option<String> {
    events.iter().rev().find(|e| !e.success).and_then(|e| {
        e.error
            .clone()
            .filter(|m| !m.trim().is_empty())
            .or_else(|| e.status_code.map(|c| format!("HTTP {c}")))
    })
}

impl BreakerAlerts {
    pub fn new(
        targets: PushTargets,
        redis: Pool,
        keys: Keys,
        deliveries: Deliveries,
        timezone: Tz,
        cooldown: Duration,
    ) -> Self {
        BreakerAlerts {
            targets,
            redis,
            keys,
            deliveries,
            timezone,
            cooldown,
        }
    }
}

#[async_trait::async_trait]
impl TransitionObserver for BreakerAlerts {
    async fn on_transition(&self, provider_id: i64, provider_name: &str, t: &Transition, events: &[&UsageEvent]) {
        let (message, targets, dedup_key) = match t {
            Transition::HalfOpened { .. } => {
                tracing::info!(provider_id, "circuit half-open: trying requests again");
                return;
            }
            Transition::Opened {
                index,
                failures,
                open_until,
                ..
            } => {
                tracing::warn!(provider_id, failures, %open_until, "circuit opened");
                let Some(targets) = self.targets().await else { return };
                match self.claim_alert(provider_id).await {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::info!(provider_id, "circuit alert suppressed: cooldown");
                        return;
                    }
                    Err(e) => {
                        tracing::error!(provider_id, error = %e, "circuit alert cooldown unavailable; not alerting");
                        return;
                    }
                }
                // None when the transition was followed from the gateway with no failure known.
                let error = last_error(&events[..events.len().min(index + 1)]);
                let provider_ref = self.provider_ref(provider_id).await;
                let message = render::circuit_breaker_alert(&render::CircuitBreakerAlert {
                    provider_name,
                    provider_id,
                    provider_ref: provider_ref.as_deref(),
                    failure_count: *failures,
                    recovers_at: open_until.with_timezone(&self.timezone),
                    last_error: error.as_deref(),
                    now: self.now(),
                });
                let key = format!("breaker:{provider_id}:open:{}", open_until.timestamp_millis());
                (message, targets, key)
            }
            Transition::Closed { opened_at, .. } => {
                tracing::info!(provider_id, "circuit closed");
                let Some(targets) = self.targets().await else { return };
                let provider_ref = self.provider_ref(provider_id).await;
                let message = render::circuit_breaker_recovery(&render::CircuitBreakerRecovery {
                    provider_name,
                    provider_id,
                    provider_ref: provider_ref.as_deref(),
                    opened_at: opened_at.with_timezone(&self.timezone),
                    now: self.now(),
                });
                let key = format!("breaker:{provider_id}:closed:{}", opened_at.timestamp_millis());
                (message, targets, key)
            }
        };
        // The transition will not happen again: a passing fault must not swallow its alert.
        let raised = crate::platform::retry::retry(
            "raising a circuit alert",
            crate::platform::retry::Backoff::doubling(3, RETRY_PAUSE),
            |_| true,
            || {
                self.deliveries
                    .raise_to_each(NotificationKind::CircuitBreaker, &message, &dedup_key, &targets)
            },
        )
        .await;
        if let Err(e) = raised {
            tracing::error!(provider_id, error = %e, "raising a circuit alert failed");
            if matches!(t, Transition::Opened { .. }) {
                // Not alerted, so no cooldown: the next opening alerts.
                if let Err(e) = self.release_alert(provider_id).await {
                    tracing::warn!(provider_id, error = %e, "cannot release the alert cooldown");
                }
            }
        }
    }
}

impl BreakerAlerts {
    /// Claims the right to alert about `provider_id` opening; `false` while an earlier alert's
    /// cooldown runs. Atomic, so of several instances only one alerts.
    async fn claim_alert(&self, provider_id: i64) -> Result<bool, fred::error::Error> {
        let millis = i64::try_from(self.cooldown.as_millis().max(1)).unwrap_or(i64::MAX);
        let set: Option<String> = self
            .redis
            .set(
                self.alert_key(provider_id),
                "1",
                Some(Expiration::PX(millis)),
                Some(SetOptions::NX),
                false,
            )
            .await?;
        Ok(set.is_some())
    }

    /// Gives up a claim whose alert could not be raised.
    async fn release_alert(&self, provider_id: i64) -> Result<(), fred::error::Error> {
        let _: i64 = self.redis.del(self.alert_key(provider_id)).await?;
        Ok(())
    }

    fn alert_key(&self, provider_id: i64) -> String {
        self.keys.key(&["breaker", &provider_id.to_string(), "alerted"])
    }

    /// The id the provider's gateway gives it, for the message; on a database fault the alert
    /// goes out with Hub Notify's id rather than not at all.
    async fn provider_ref(&self, provider_id: i64) -> Option<String> {
        crate::usage::providers::source_ref(self.targets.db(), provider_id)
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(provider_id, error = %e, "provider's gateway id unavailable; the alert shows ours");
                None
            })
    }

    fn now(&self) -> DateTime<Tz> {
        Utc::now().with_timezone(&self.timezone)
    }

    /// The circuit-breaker targets when the kind is active; `None` (logged) otherwise.
    async fn targets(&self) -> Option<Vec<TargetRef>> {
        let kind = NotificationKind::CircuitBreaker;
        let loaded = crate::platform::retry::retry(
            "loading the settings",
            crate::platform::retry::Backoff::doubling(3, RETRY_PAUSE),
            |_| true,
            || async {
                let stored = crate::notifications::settings::load(self.targets.db(), self.targets.key()).await?;
                if !stored.settings.is_active(kind) {
                    return Ok(Vec::new());
                }
                crate::notifications::bindings::active_for(self.targets.db(), kind).await
            },
        )
        .await;
        match loaded {
            Ok(targets) if !targets.is_empty() => Some(targets),
            Ok(_) => {
                tracing::info!("circuit-breaker alerts are off; nothing sent");
                None
            }
            Err(e) => {
                tracing::error!(error = %e, "settings unavailable; circuit alert not sent");
                None
            }
        }
    }
}
