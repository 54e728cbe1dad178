//! The scheduler: rebuilt from the saved settings at startup and after every save. Only with
//! `APP_ENV=production` does it register anything (in development a rebuild logs what it would
//! schedule), as the specification requires.
//!
//! One tokio-cron-scheduler job ticks every minute; [`Scheduler::tick`] decides which planned
//! jobs are due at that minute: the leaderboard when the local time (chrono-tz, so DST is
//! right) is the configured `HH:mm`, the cost check when the minutes since the epoch are a
//! multiple of the interval — exactly every N minutes, the same instants on every instance, so
//! the fire id (kind + minute) lets exactly one instance run it.
use std::sync::Arc;

use app::notifications::{NotificationKind, NotificationSettings};
use chrono::{DateTime, Timelike, Utc};
use tokio::sync::Mutex;
use tokio_cron_scheduler::{Job, JobScheduler};

use crate::config::AppEnv;
use crate::runs::{RunReport, Runs, Trigger};
/// One scheduled job of the plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlannedJob {
    /// Every day at `HH:mm` in the configured time zone.
    DailyLeaderboard { time: String },
    /// Every `minutes` minutes, exactly.
    CostCheck { minutes: i32 },
}

/// The jobs the settings call for: none while the master switch is off; none for a kind that
/// is off or has no URL. Circuit-breaker alerts are event-driven and need no job.
pub fn plan(settings: &NotificationSettings) -> Vec<PlannedJob> {
    let mut jobs = Vec::new();
    if settings.is_active(NotificationKind::DailyLeaderboard) {
        jobs.push(PlannedJob::DailyLeaderboard {
            time: settings.daily_leaderboard.time.clone(),
        });
    }
    if settings.is_active(NotificationKind::CostAlert) {
        jobs.push(PlannedJob::CostCheck {
            minutes: settings.cost_alert.check_interval_minutes,
        });
    }
    jobs
}

impl PlannedJob {
    pub fn kind(&self) -> NotificationKind {
        match self {
            PlannedJob::DailyLeaderboard { .. } => NotificationKind::DailyLeaderboard,
            PlannedJob::CostCheck { .. } => NotificationKind::CostAlert,
        }
    }

    /// Whether the job fires at the minute starting at `minute`.
    pub fn due(&self, minute: DateTime<Utc>, timezone: chrono_tz::Tz) -> bool {
        match self {
            PlannedJob::DailyLeaderboard { time } => {
                let local = minute.with_timezone(&timezone);
                app::notifications::parse_time(time) == Some((local.hour(), local.minute()))
            }
            PlannedJob::CostCheck { minutes } => {
                *minutes > 0 && (minute.timestamp() / 60).rem_euclid(i64::from(*minutes)) == 0
            }
        }
    }
}

/// The start of the minute containing `now`.
pub fn minute_of(now: DateTime<Utc>) -> DateTime<Utc> {
    now.with_second(0).and_then(|t| t.with_nanosecond(0)).unwrap_or(now)
}

#[derive(Clone)]
pub struct Scheduler {
    app_env: AppEnv,
    runs: Runs,
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    cron: Option<JobScheduler>,
    tick_job: Option<uuid::Uuid>,
    jobs: Vec<PlannedJob>,
}

impl Scheduler {
    pub fn new(app_env: AppEnv, runs: Runs) -> Self {
        Scheduler {
            app_env,
            runs,
            state: Arc::new(Mutex::new(State::default())),
        }
    }

    pub fn runs(&self) -> &Runs {
        &self.runs
    }

    /// Replaces the schedule with the one `settings` call for; returns what is now scheduled.
    pub async fn rebuild(&self, settings: &NotificationSettings) -> Vec<PlannedJob> {
        let planned = plan(settings);
        let timezone = self.runs.timezone();
        if self.app_env != AppEnv::Production {
            for job in &planned {
                tracing::info!(?job, %timezone, "development: would schedule (scheduled jobs run only in production)");
            }
            return Vec::new();
        }
        let mut state = self.state.lock().await;
        state.jobs = planned.clone();
        if let Err(e) = self.ensure_ticking(&mut state).await {
            tracing::error!(error = %e, "the scheduler cannot start; scheduled notifications will not run");
            state.jobs.clear();
        }
        if planned.is_empty() {
            tracing::info!("scheduler rebuilt: no scheduled notifications");
        }
        for job in &planned {
            tracing::info!(?job, %timezone, "scheduled");
        }
        state.jobs.clone()
    }

    /// What is scheduled now.
    pub async fn scheduled(&self) -> Vec<PlannedJob> {
        self.state.lock().await.jobs.clone()
    }

    /// Runs the jobs due at the minute containing `now` (the cron job's body; tests call it with
    /// the minute they want).
    pub async fn tick(&self, now: DateTime<Utc>) -> Vec<(NotificationKind, RunReport)> {
        let minute = minute_of(now);
        let due: Vec<PlannedJob> = {
            let state = self.state.lock().await;
            state
                .jobs
                .iter()
                .filter(|j| j.due(minute, self.runs.timezone()))
                .cloned()
                .collect()
        };
        let mut reports = Vec::new();
        for job in due {
            let kind = job.kind();
            match self.runs.run(kind, Trigger::Scheduled(minute), now).await {
                Ok(report) => {
                    tracing::info!(kind = kind.key(), ?report, "scheduled run");
                    reports.push((kind, report));
                }
                Err(e) => tracing::error!(kind = kind.key(), error = %e, "scheduled run failed"),
            }
        }
        reports
    }

    async fn ensure_ticking(&self, state: &mut State) -> Result<(), tokio_cron_scheduler::JobSchedulerError> {
        if state.tick_job.is_some() {
            return Ok(());
        }
        if state.cron.is_none() {
            let cron = JobScheduler::new().await?;
            cron.start().await?;
            state.cron = Some(cron);
        }
        let scheduler = self.clone();
        let job = Job::new_async("0 * * * * *", move |_id, _lock| {
            let scheduler = scheduler.clone();
            Box::pin(async move {
                scheduler.tick(Utc::now()).await;
            })
        })?;
        let id = state.cron.as_ref().expect("started above").add(job).await?;
        state.tick_job = Some(id);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_follows_the_switches() {
        let mut s = NotificationSettings::default();
        s.daily_leaderboard.enabled = true;
        s.daily_leaderboard.webhook_url = Some("https://example.com/a".into());
        s.cost_alert.enabled = true;
        s.cost_alert.webhook_url = Some("https://example.com/b".into());
        s.cost_alert.check_interval_minutes = 90;
        assert_eq!(plan(&s), vec![], "master off: nothing");
        s.enabled = true;
        assert_eq!(
            plan(&s),
            vec![
                PlannedJob::DailyLeaderboard { time: "09:00".into() },
                PlannedJob::CostCheck { minutes: 90 }
            ]
        );
        s.cost_alert.webhook_url = None;
        s.daily_leaderboard.enabled = false;
        assert_eq!(plan(&s), vec![], "kind off or without URL: no job");
    }
}
