//! Circuit-breaker notifications: 供应商熔断告警 on each transition into OPEN (once per
//! provider per cooldown), and a short recovery message on the return to CLOSED. Event-driven,
//! so they go out in development too; the master switch and the kind's switch are honoured.
use std::time::Duration;

use crate::channels::targets::{PushTargets, TargetRef};
use crate::delivery::engine::Deliveries;
use crate::notifications::render;
use crate::usage::breaker::{Breakers, Transition};
use crate::usage::ingest::{TransitionObserver, UsageEvent};
use app::notifications::NotificationKind;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;

pub const DEFAULT_COOLDOWN: Duration = Duration::from_secs(5 * 60);
/// First pause between tries of the settings read and the raise; short, as ingest waits.
const RETRY_PAUSE: Duration = Duration::from_millis(250);

#[derive(Clone)]
pub struct BreakerAlerts {
    targets: PushTargets,
    breakers: Breakers,
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
        breakers: Breakers,
        deliveries: Deliveries,
        timezone: Tz,
        cooldown: Duration,
    ) -> Self {
        BreakerAlerts {
            targets,
            breakers,
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
                match self.breakers.claim_alert(provider_id, self.cooldown).await {
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
                let message = render::circuit_breaker_alert(&render::CircuitBreakerAlert {
                    provider_name,
                    provider_id,
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
                let message = render::circuit_breaker_recovery(&render::CircuitBreakerRecovery {
                    provider_name,
                    provider_id,
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
                if let Err(e) = self.breakers.release_alert(provider_id).await {
                    tracing::warn!(provider_id, error = %e, "cannot release the alert cooldown");
                }
            }
        }
    }
}

impl BreakerAlerts {
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
                self.targets.active_for(kind).await
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
