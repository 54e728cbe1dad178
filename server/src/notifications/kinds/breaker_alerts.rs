//! Circuit-breaker notifications: 供应商熔断告警 on each transition into OPEN (once per
//! provider per cooldown), and a short recovery message on the return to CLOSED. Event-driven,
//! so they go out in development too; the master switch and the kind's switch are honoured.
use std::time::Duration;

use app::notifications::NotificationKind;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use sqlx::PgPool;

use crate::delivery::engine::Deliveries;
use crate::delivery::outbox::NewDelivery;
use crate::notifications::render;
use crate::usage::breaker::{Breakers, Transition};
use crate::usage::ingest::{TransitionObserver, UsageEvent};

pub const DEFAULT_COOLDOWN: Duration = Duration::from_secs(5 * 60);
/// First pause between tries of the settings read and the raise; short, as ingest waits.
const RETRY_PAUSE: Duration = Duration::from_millis(250);

#[derive(Clone)]
pub struct BreakerAlerts {
    db: PgPool,
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
    pub fn new(db: PgPool, breakers: Breakers, deliveries: Deliveries, timezone: Tz, cooldown: Duration) -> Self {
        BreakerAlerts {
            db,
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
        let (content, webhook_url, dedup_key) = match t {
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
                let Some(url) = self.webhook_url().await else { return };
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
                let error = last_error(&events[..=(*index).min(events.len() - 1)]);
                let content = render::circuit_breaker_alert(&render::CircuitBreakerAlert {
                    provider_name,
                    provider_id,
                    failure_count: *failures,
                    recovers_at: open_until.with_timezone(&self.timezone),
                    last_error: error.as_deref(),
                    now: self.now(),
                });
                let key = format!("breaker:{provider_id}:open:{}", open_until.timestamp_millis());
                (content, url, key)
            }
            Transition::Closed { opened_at, .. } => {
                tracing::info!(provider_id, "circuit closed");
                let Some(url) = self.webhook_url().await else { return };
                let content = render::circuit_breaker_recovery(&render::CircuitBreakerRecovery {
                    provider_name,
                    provider_id,
                    opened_at: opened_at.with_timezone(&self.timezone),
                    now: self.now(),
                });
                let key = format!("breaker:{provider_id}:closed:{}", opened_at.timestamp_millis());
                (content, url, key)
            }
        };
        let notification = NewDelivery {
            kind: NotificationKind::CircuitBreaker,
            webhook_url,
            content,
            dedup_key,
        };
        // The transition will not happen again: a passing fault must not swallow its alert.
        let raised = crate::platform::retry::retry(
            "raising a circuit alert",
            crate::platform::retry::Backoff::doubling(3, RETRY_PAUSE),
            |_| true,
            || self.deliveries.raise(&notification),
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

    /// The circuit-breaker webhook when the kind is active; `None` (logged) otherwise.
    async fn webhook_url(&self) -> Option<String> {
        let loaded = crate::platform::retry::retry(
            "loading the settings",
            crate::platform::retry::Backoff::doubling(3, RETRY_PAUSE),
            |_| true,
            || crate::notifications::settings::load(&self.db),
        )
        .await;
        match loaded {
            Ok(stored) if stored.settings.is_active(NotificationKind::CircuitBreaker) => stored
                .settings
                .webhook_url(NotificationKind::CircuitBreaker)
                .map(str::to_owned),
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
