//! The scheduler: rebuilt from the saved settings at startup and after every save. Only with
//! `APP_ENV=production` does it register anything (in development a rebuild logs what it would
//! schedule), as the specification requires.
//!
//! Each planned job is one tokio-cron-scheduler job that wakes at second 0 of every minute and
//! runs when `PlannedJob::due` says so: the leaderboard when the local time (chrono-tz, so
//! DST is right) is the configured `HH:mm`, the cost check when the minutes since the epoch are
//! a multiple of the interval — exactly every N minutes (cron's `*/N` cannot say 90), the same
//! instants on every instance, so the fire id (kind + minute) lets exactly one instance run it.
//! Not a cron expression in the zone: tokio-cron-scheduler fixes a zone's UTC offset when the
//! job is created, so a leaderboard job would drift by an hour across a DST change.
use std::sync::Arc;

use app::notifications::{NotificationKind, NotificationSettings};
use chrono::{DateTime, Utc};
use tokio::sync::Mutex;
use tokio_cron_scheduler::{Job, JobScheduler};

use crate::notifications::schedule::plan::{minute_of, plan, PlannedJob};
use crate::notifications::schedule::runs::{Runs, Trigger};
use crate::platform::config::AppEnv;
use app::api::notifications::RunReport;

/// How often an instance compares its schedule with the saved settings. A fire is checked
/// against the saved settings anyway (`Runs::run`); this is for an instance to pick up a job
/// another instance's save added.
pub const FOLLOW_EVERY: std::time::Duration = std::time::Duration::from_secs(30);
/// How far back a tick looks for a fire that was claimed but not finished: a run that died or
/// failed is retried every minute for this long, by whichever instance ticks first.
pub const CATCH_UP_MINUTES: i64 = 15;

#[derive(Clone)]
pub struct Scheduler {
    app_env: AppEnv,
    runs: Runs,
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    cron: Option<JobScheduler>,
    /// The planned jobs with their tokio-cron-scheduler ids.
    jobs: Vec<(PlannedJob, uuid::Uuid)>,
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
        if let Err(e) = self.replace_jobs(&mut state, &planned).await {
            tracing::error!(error = %e, "the scheduler cannot start; scheduled notifications will not run");
        }
        if state.jobs.is_empty() {
            tracing::info!("scheduler rebuilt: no scheduled notifications");
        }
        for (job, _) in &state.jobs {
            tracing::info!(?job, %timezone, "scheduled");
        }
        state.jobs.iter().map(|(job, _)| job.clone()).collect()
    }

    /// Rebuilds when the saved settings call for another schedule than this instance runs:
    /// another instance saved them. Returns whether it rebuilt.
    pub async fn follow_saved_settings(&self) -> Result<bool, crate::channels::targets::TargetError> {
        if self.app_env != AppEnv::Production {
            return Ok(false);
        }
        let settings = self.runs.settings().await?;
        if plan(&settings) == self.scheduled().await {
            return Ok(false);
        }
        tracing::info!("the saved settings changed elsewhere; rebuilding the schedule");
        self.rebuild(&settings).await;
        Ok(true)
    }

    /// Follows the saved settings every [`FOLLOW_EVERY`] until `shutdown` (production only; in
    /// development nothing is scheduled to follow).
    pub async fn follow(self, mut shutdown: crate::platform::shutdown::Shutdown) {
        if self.app_env != AppEnv::Production {
            return;
        }
        while crate::platform::shutdown::pause(FOLLOW_EVERY, &mut shutdown).await {
            if let Err(e) = self.follow_saved_settings().await {
                tracing::warn!(error = %e, "cannot read the saved settings; the schedule stays as it is");
            }
        }
    }

    /// What is scheduled now.
    pub async fn scheduled(&self) -> Vec<PlannedJob> {
        self.state
            .lock()
            .await
            .jobs
            .iter()
            .map(|(job, _)| job.clone())
            .collect()
    }

    /// The tokio-cron-scheduler ids of the jobs registered now.
    pub async fn cron_job_ids(&self) -> Vec<uuid::Uuid> {
        self.state.lock().await.jobs.iter().map(|(_, id)| *id).collect()
    }

    /// Whether tokio-cron-scheduler itself still holds job `id` with a next fire time: what
    /// really runs, as opposed to what [`Scheduler::scheduled`] says.
    pub async fn cron_job_live(&self, id: uuid::Uuid) -> bool {
        let Some(mut cron) = self.state.lock().await.cron.clone() else {
            return false;
        };
        matches!(cron.next_tick_for_job(id).await, Ok(Some(_)))
    }

    /// How many of the registered jobs tokio-cron-scheduler holds live.
    pub async fn live_cron_jobs(&self) -> usize {
        let mut live = 0;
        for id in self.cron_job_ids().await {
            if self.cron_job_live(id).await {
                live += 1;
            }
        }
        live
    }

    /// Runs the jobs due at the minute containing `now`, as their cron jobs would at that minute
    /// (tests call it with the minute they want).
    pub async fn tick(&self, now: DateTime<Utc>) -> Vec<(NotificationKind, RunReport)> {
        let jobs = self.scheduled().await;
        let mut reports = Vec::new();
        for job in jobs {
            if let Some(report) = self.fire(&job, now).await {
                reports.push((job.kind(), report));
            }
        }
        reports
    }

    /// One cron wake-up of `job`: runs it if it is due at the minute containing `now`, or else
    /// takes over its latest fire of the last [`CATCH_UP_MINUTES`] if that was claimed and never
    /// finished.
    async fn fire(&self, job: &PlannedJob, now: DateTime<Utc>) -> Option<RunReport> {
        let minute = minute_of(now);
        let timezone = self.runs.timezone();
        let kind = job.kind();
        let trigger = if job.due(minute, timezone) {
            Trigger::Scheduled(minute)
        } else {
            let past = (1..=CATCH_UP_MINUTES)
                .map(|m| minute - chrono::Duration::minutes(m))
                .find(|t| job.due(*t, timezone))?;
            match self.runs.claims().unfinished(kind, past).await {
                Ok(true) => Trigger::Overdue(past),
                Ok(false) => return None,
                Err(e) => {
                    tracing::debug!(kind = kind.key(), error = %e, "cannot look for an unfinished fire");
                    return None;
                }
            }
        };
        match self.runs.run(kind, trigger, now).await {
            Ok(report) => {
                tracing::info!(kind = kind.key(), ?trigger, ?report, "scheduled run");
                Some(report)
            }
            Err(e) => {
                tracing::error!(kind = kind.key(), error = %e, "scheduled run failed");
                None
            }
        }
    }

    /// Removes every registered cron job, then registers one per planned job.
    async fn replace_jobs(
        &self,
        state: &mut State,
        planned: &[PlannedJob],
    ) -> Result<(), tokio_cron_scheduler::JobSchedulerError> {
        if let Some(cron) = state.cron.as_ref() {
            let mut registered = std::mem::take(&mut state.jobs).into_iter();
            while let Some((job, id)) = registered.next() {
                if let Err(e) = cron.remove(&id).await {
                    // Still registered: keep tracking it and the rest, so the next rebuild
                    // removes them (a stray fire meanwhile is refused by `Runs::run`).
                    state.jobs.push((job, id));
                    state.jobs.extend(registered);
                    return Err(e);
                }
            }
        }
        if planned.is_empty() {
            return Ok(());
        }
        if state.cron.is_none() {
            let cron = JobScheduler::new().await?;
            cron.start().await?;
            state.cron = Some(cron);
        }
        let cron = state.cron.as_ref().expect("started above");
        for job in planned {
            let (scheduler, planned_job) = (self.clone(), job.clone());
            let cron_job = Job::new_async("0 * * * * *", move |_id, _lock| {
                let (scheduler, job) = (scheduler.clone(), planned_job.clone());
                Box::pin(async move {
                    scheduler.fire(&job, Utc::now()).await;
                })
            })?;
            let id = cron.add(cron_job).await?;
            state.jobs.push((job.clone(), id));
        }
        Ok(())
    }
}
