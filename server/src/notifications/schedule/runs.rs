//! One run of a scheduled notification — the daily leaderboard or the cost check — whether the
//! scheduler fired it or an admin pressed 立即发送: the same path, with the switches checked
//! again at run time. A scheduled fire is claimed in Redis under an id made of the kind and the
//! fire minute ([`crate::notifications::schedule::fire_claims`]), so of several instances exactly one runs it, and one
//! whose run did not finish is taken over by a later tick.
use std::time::Duration;

use app::api::notifications::{RunReport, Skipped};
use app::notifications::{NotificationKind, NotificationSettings};
use app::usage::UsageLevel;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use fred::prelude::*;
use sqlx::PgPool;

use crate::channels::targets::{PushTargets, TargetError, TargetRef};
use crate::delivery::engine::{Deliveries, Raised};
use crate::notifications::kinds::cost_alert::{CostChecker, Overrun, Spender, WindowInstance};
use crate::notifications::render;
use crate::notifications::schedule::fire_claims::{Claim, FireClaims};
use crate::platform::redis::Keys;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// The scheduler's fire at this minute.
    Scheduled(DateTime<Utc>),
    /// A past fire that was claimed but whose run did not finish (its instance died, or every
    /// retry failed): taken over, never started late.
    Overdue(DateTime<Utc>),
    /// 立即发送.
    Manual,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("Redis: {0}")]
    Redis(#[from] fred::error::Error),
    #[error("cost check: {0}")]
    Cost(#[from] crate::notifications::kinds::cost_alert::CostCheckError),
    #[error("raising a notification: {0}")]
    Raise(#[from] crate::delivery::engine::RaiseError),
    #[error("push targets: {0}")]
    Targets(#[from] TargetError),
}

#[derive(Clone)]
pub struct Runs {
    db: PgPool,
    targets: PushTargets,
    deliveries: Deliveries,
    costs: CostChecker,
    claims: FireClaims,
    timezone: Tz,
}

impl Runs {
    pub fn new(targets: PushTargets, redis: Pool, keys: Keys, deliveries: Deliveries, timezone: Tz) -> Self {
        let db = targets.db().clone();
        let costs = CostChecker::new(db.clone(), redis.clone(), keys.clone());
        Runs {
            db,
            targets,
            deliveries,
            costs,
            claims: FireClaims::new(redis, keys),
            timezone,
        }
    }

    pub fn claims(&self) -> &FireClaims {
        &self.claims
    }

    pub fn timezone(&self) -> Tz {
        self.timezone
    }

    /// The saved settings.
    pub async fn settings(&self) -> Result<NotificationSettings, TargetError> {
        Ok(crate::notifications::settings::load(&self.db, self.targets.key())
            .await?
            .settings)
    }

    /// Runs `kind` (the daily leaderboard or the cost check) as of `now`. A scheduled run
    /// checks its fire against the saved settings (another instance may have changed them since
    /// this one built its schedule), claims the fire, and rides out passing faults by retrying
    /// with the spec's backoff: the claim makes it the only instance that will run this fire.
    pub async fn run(
        &self,
        kind: NotificationKind,
        trigger: Trigger,
        now: DateTime<Utc>,
    ) -> Result<RunReport, RunError> {
        let settings = self.settings().await?;
        if !settings.is_active(kind) {
            return Ok(skipped(Skipped::Disabled));
        }
        let targets = crate::notifications::bindings::active_for(self.targets.db(), kind).await?;
        if targets.is_empty() {
            return Ok(skipped(Skipped::Disabled));
        }
        let (fire, fresh) = match trigger {
            Trigger::Manual => return self.execute(kind, &settings, &targets, trigger, now).await,
            Trigger::Scheduled(fire) => (fire, true),
            Trigger::Overdue(fire) => (fire, false),
        };
        let due = crate::notifications::schedule::plan::plan(&settings)
            .iter()
            .any(|job| job.kind() == kind && job.due(fire, self.timezone));
        if !due {
            return Ok(skipped(Skipped::NotDue));
        }
        let (claim, lease) = self.claims.claim(kind, fire, fresh).await?;
        let Some(lease) = lease else {
            return Ok(skipped(Skipped::ClaimedElsewhere));
        };
        if claim == Claim::TakenOver {
            tracing::warn!(kind = kind.key(), %fire, "taking over a scheduled run that did not finish");
        }
        let result = crate::platform::retry::retry(
            "scheduled run",
            crate::platform::retry::Backoff::doubling(4, Duration::from_secs(1)),
            |_| true,
            || self.execute(kind, &settings, &targets, trigger, now),
        )
        .await;
        // If ending the claim fails, its lease lapses: a later tick runs the fire again, which
        // the notifications' idempotency keys make harmless.
        let ended = match result {
            Ok(_) => self.claims.finish(lease).await,
            Err(_) => self.claims.release(lease).await,
        };
        if let Err(e) = ended {
            tracing::warn!(kind = kind.key(), %fire, error = %e, "cannot record the end of a scheduled run");
        }
        result
    }

    async fn execute(
        &self,
        kind: NotificationKind,
        settings: &NotificationSettings,
        targets: &[TargetRef],
        trigger: Trigger,
        now: DateTime<Utc>,
    ) -> Result<RunReport, RunError> {
        let local_now = now.with_timezone(&self.timezone);
        match kind {
            NotificationKind::DailyLeaderboard => {
                // A fire reports the day before its own minute, even when taken over later.
                let as_of = match trigger {
                    Trigger::Scheduled(fire) | Trigger::Overdue(fire) => fire,
                    Trigger::Manual => now,
                };
                let day = crate::notifications::kinds::leaderboard::report_day(as_of, self.timezone);
                let board = crate::notifications::kinds::leaderboard::compute(
                    &self.db,
                    day,
                    i64::from(settings.daily_leaderboard.top_n),
                    local_now,
                )
                .await?;
                let dedup_key = match trigger {
                    Trigger::Scheduled(fire) | Trigger::Overdue(fire) => format!("leaderboard:{}", fire.timestamp()),
                    Trigger::Manual => format!("leaderboard:manual:{}", uuid::Uuid::new_v4().simple()),
                };
                let raised = self
                    .deliveries
                    .raise_to_each(kind, &render::daily_leaderboard(&board), &dedup_key, targets)
                    .await?;
                Ok(RunReport {
                    deliveries: raised.into_iter().map(raised_id).collect(),
                    ..RunReport::default()
                })
            }
            NotificationKind::CostAlert => {
                let overruns = self
                    .costs
                    .overruns(now, self.timezone, settings.cost_alert.threshold_percent)
                    .await?;
                let mut report = RunReport {
                    over_threshold: Some(overruns.len()),
                    ..RunReport::default()
                };
                let fresh = self.costs.newly_alerted(overruns).await?;
                let alerts: Vec<render::CostAlert> = fresh.iter().map(|o| self.cost_alert(o, now)).collect();
                let texts: Vec<String> = alerts.iter().map(render::cost_alert_text).collect();
                let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
                let mut unsent = Vec::new();
                let mut first_error = None;
                // WeCom's limit, the smallest in bytes: every channel takes such a message whole.
                for group in render::group_messages(&texts, crate::channels::wecom::MAX_CONTENT_BYTES) {
                    let members = &fresh[group.clone()];
                    let message = render::cost_alerts(&alerts[group]);
                    let raised = self
                        .deliveries
                        .raise_to_each(kind, &message, &cost_dedup_key(members, now), targets)
                        .await;
                    match raised {
                        Ok(raised) => report.deliveries.extend(raised.into_iter().map(raised_id)),
                        Err(e) => {
                            first_error.get_or_insert(e);
                            unsent.extend_from_slice(members);
                        }
                    }
                }
                let Some(e) = first_error else { return Ok(report) };
                // Remembered as alerted but never raised: forgotten, so the next check (or the
                // retry of this one) alerts them — none is dropped.
                tracing::error!(unsent = unsent.len(), raised = report.deliveries.len(), error = %e, "cost alerts not raised");
                if let Err(forget) = self.costs.forget(&unsent).await {
                    tracing::error!(error = %forget, "cannot forget the unraised cost alerts; they wait for a new window or level");
                }
                Err(e.into())
            }
            NotificationKind::CircuitBreaker => Ok(skipped(Skipped::EventDriven)),
        }
    }

    fn cost_alert<'a>(&self, o: &'a Overrun, now: DateTime<Utc>) -> render::CostAlert<'a> {
        let entity = match &o.spender {
            Spender::User => render::CostEntity::User { name: &o.name },
            Spender::Key { owner } => render::CostEntity::Key { name: &o.name, owner },
            Spender::Provider => render::CostEntity::Provider { name: &o.name },
        };
        render::CostAlert {
            entity,
            window: o.window,
            reset: o.reset,
            current_usd: o.current_usd,
            limit_usd: o.limit_usd,
            now: now.with_timezone(&self.timezone),
        }
    }
}

/// The idempotency key of one alert: entity, window instance and level.
fn cost_alert_key(o: &Overrun, now: DateTime<Utc>) -> String {
    let who = o.spender.account().key();
    // Capitalised, as keys have always spelled it: a key that changed would send again.
    let level = match o.level {
        UsageLevel::Green => "Green",
        UsageLevel::Yellow => "Yellow",
        UsageLevel::Red => "Red",
    };
    // The rolling window has no instance of its own: each episode is new.
    let episode = match o.instance {
        WindowInstance::Rolling => now.timestamp_millis(),
        WindowInstance::From(_) | WindowInstance::Ever => 0,
    };
    format!(
        "cost:{who}:{}:{}:{}:{level}:{episode}",
        o.id,
        o.window.key(),
        o.instance.key(),
    )
}

/// The key of a message carrying `members`: the alert's own for one, a digest of theirs for many.
fn cost_dedup_key(members: &[Overrun], now: DateTime<Utc>) -> String {
    use sha2::{Digest, Sha256};
    match members {
        [one] => cost_alert_key(one, now),
        many => {
            let mut digest = Sha256::new();
            for o in many {
                digest.update(cost_alert_key(o, now));
                digest.update(b"\n");
            }
            format!("cost:group:{}:{}", many.len(), hex::encode(&digest.finalize()[..16]))
        }
    }
}

fn skipped(why: Skipped) -> RunReport {
    RunReport {
        skipped: Some(why),
        ..RunReport::default()
    }
}

fn raised_id(raised: Raised) -> i64 {
    match raised {
        Raised::Queued(id) | Raised::Deferred(id) | Raised::Duplicate(id) => id,
    }
}
