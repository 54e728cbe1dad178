//! One run of a scheduled notification — the daily leaderboard or the cost check — whether the
//! scheduler fired it or an admin pressed 立即发送: the same path, with the switches checked
//! again at run time. A scheduled fire is claimed in Redis under an id made of the kind and the
//! fire minute, so of several instances exactly one runs it.
use app::notifications::NotificationKind;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use fred::prelude::*;
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;

use crate::cost_alert::{window_key, CostChecker};
use crate::delivery::{Deliveries, Raised};
use crate::outbox::NewDelivery;
use crate::redis::Keys;
use crate::templates;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// The scheduler's fire at this minute.
    Scheduled(DateTime<Utc>),
    /// 立即发送.
    Manual,
}

/// What a run did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunReport {
    /// Outbox ids of the notifications raised (see 投递记录).
    pub deliveries: Vec<i64>,
    /// Why nothing ran, when nothing did: `disabled`, `claimed elsewhere`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// Cost check: entities over the threshold, alerted now or before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub over_threshold: Option<usize>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("Redis: {0}")]
    Redis(#[from] fred::error::Error),
    #[error("cost check: {0}")]
    Cost(#[from] crate::cost_alert::CostCheckError),
    #[error("raising a notification: {0}")]
    Raise(#[from] crate::delivery::RaiseError),
}

#[derive(Clone)]
pub struct Runs {
    db: PgPool,
    redis: Pool,
    keys: Keys,
    deliveries: Deliveries,
    costs: CostChecker,
    timezone: Tz,
}

impl Runs {
    pub fn new(db: PgPool, redis: Pool, keys: Keys, deliveries: Deliveries, timezone: Tz) -> Self {
        let costs = CostChecker::new(db.clone(), redis.clone(), keys.clone());
        Runs {
            db,
            redis,
            keys,
            deliveries,
            costs,
            timezone,
        }
    }

    pub fn timezone(&self) -> Tz {
        self.timezone
    }

    /// Runs `kind` (the daily leaderboard or the cost check) as of `now`.
    pub async fn run(
        &self,
        kind: NotificationKind,
        trigger: Trigger,
        now: DateTime<Utc>,
    ) -> Result<RunReport, RunError> {
        let settings = crate::settings::load(&self.db).await?.settings;
        let Some(url) = settings.is_active(kind).then(|| settings.webhook_url(kind)).flatten() else {
            return Ok(RunReport {
                skipped: Some("disabled".into()),
                ..RunReport::default()
            });
        };
        let url = url.to_owned();
        if let Trigger::Scheduled(fire) = trigger {
            let claim = self.keys.key(&["fire", kind.key(), &fire.timestamp().to_string()]);
            let claimed: Option<String> = self
                .redis
                .set(
                    claim,
                    "1",
                    Some(Expiration::EX(2 * 86_400)),
                    Some(SetOptions::NX),
                    false,
                )
                .await?;
            if claimed.is_none() {
                return Ok(RunReport {
                    skipped: Some("claimed elsewhere".into()),
                    ..RunReport::default()
                });
            }
        }
        let local_now = now.with_timezone(&self.timezone);
        match kind {
            NotificationKind::DailyLeaderboard => {
                let day = crate::leaderboard::report_day(now, self.timezone);
                let board =
                    crate::leaderboard::compute(&self.db, day, i64::from(settings.daily_leaderboard.top_n), local_now)
                        .await?;
                let dedup_key = match trigger {
                    Trigger::Scheduled(fire) => format!("leaderboard:{}", fire.timestamp()),
                    Trigger::Manual => format!("leaderboard:manual:{}", uuid::Uuid::new_v4().simple()),
                };
                let raised = self
                    .deliveries
                    .raise(&NewDelivery {
                        kind,
                        webhook_url: url,
                        content: templates::daily_leaderboard(&board),
                        dedup_key,
                    })
                    .await?;
                Ok(RunReport {
                    deliveries: vec![raised_id(raised)],
                    ..RunReport::default()
                })
            }
            NotificationKind::CostAlert => {
                let overruns = self
                    .costs
                    .overruns(now, self.timezone, settings.cost_alert.threshold_percent)
                    .await?;
                let over = overruns.len();
                let mut report = RunReport {
                    over_threshold: Some(over),
                    ..RunReport::default()
                };
                for o in self.costs.newly_alerted(overruns).await? {
                    let entity = if o.provider {
                        templates::CostEntity::Provider { name: &o.name }
                    } else {
                        templates::CostEntity::User { name: &o.name }
                    };
                    let content = templates::cost_alert(&templates::CostAlert {
                        entity,
                        window: o.window,
                        current_usd: o.current_usd,
                        limit_usd: o.limit_usd,
                        now: local_now,
                    });
                    let who = if o.provider { "provider" } else { "user" };
                    let dedup_key = format!(
                        "cost:{who}:{}:{}:{}:{:?}:{}",
                        o.id,
                        window_key(o.window),
                        o.instance,
                        o.level,
                        // The rolling window has no instance of its own: each episode is new.
                        if o.instance == "rolling" {
                            now.timestamp_millis()
                        } else {
                            0
                        }
                    );
                    let raised = self
                        .deliveries
                        .raise(&NewDelivery {
                            kind,
                            webhook_url: url.clone(),
                            content,
                            dedup_key,
                        })
                        .await?;
                    report.deliveries.push(raised_id(raised));
                }
                Ok(report)
            }
            NotificationKind::CircuitBreaker => Ok(RunReport {
                skipped: Some("circuit-breaker alerts are event-driven".into()),
                ..RunReport::default()
            }),
        }
    }
}

fn raised_id(raised: Raised) -> i64 {
    match raised {
        Raised::Queued(id) | Raised::Deferred(id) | Raised::Duplicate(id) => id,
    }
}
