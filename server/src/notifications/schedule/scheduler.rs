//! The scheduler: rebuilt from the saved settings at startup and after every save. Only with
//! `APP_ENV=production` does it register anything (in development a rebuild logs what it would
//! schedule), as the specification requires.
//!
//! Each planned job is one tokio-cron-scheduler job that wakes at second 0 of every minute and
//! runs when [`PlannedJob::due`] says so: the leaderboard when the local time (chrono-tz, so
//! DST is right) is the configured `HH:mm`, the cost check when the minutes since the epoch are
//! a multiple of the interval — exactly every N minutes (cron's `*/N` cannot say 90), the same
//! instants on every instance, so the fire id (kind + minute) lets exactly one instance run it.
//! Not a cron expression in the zone: tokio-cron-scheduler fixes a zone's UTC offset when the
//! job is created, so a leaderboard job would drift by an hour across a DST change.
use std::sync::Arc;

use app::notifications::{NotificationKind, NotificationSettings};
use chrono::{DateTime, NaiveDate, TimeZone, Timelike, Utc};
use tokio::sync::Mutex;
use tokio_cron_scheduler::{Job, JobScheduler};

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
                let Some((hour, min)) = app::notifications::parse_time(time) else {
                    return false;
                };
                let day = minute.with_timezone(&timezone).date_naive();
                daily_fire(timezone, day, hour, min) == Some(minute)
            }
            PlannedJob::CostCheck { minutes } => {
                *minutes > 0 && (minute.timestamp() / 60).rem_euclid(i64::from(*minutes)) == 0
            }
        }
    }
}

/// When a daily `HH:mm` fires on `day` in `timezone`: once a day, whatever the clocks do. A time
/// that occurs twice (clocks going back) fires at its first occurrence; a time the clocks skip
/// (going forward) fires at the first minute after the gap.
pub fn daily_fire(timezone: chrono_tz::Tz, day: NaiveDate, hour: u32, minute: u32) -> Option<DateTime<Utc>> {
    let mut local = day.and_hms_opt(hour, minute, 0)?;
    // Gaps are at most a few hours (most are one); give up after a day's worth of minutes.
    for _ in 0..24 * 60 {
        if let Some(t) = timezone.from_local_datetime(&local).earliest() {
            return Some(t.with_timezone(&Utc));
        }
        local += chrono::Duration::minutes(1);
    }
    None
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

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    /// Every minute of `from..to` at which `job` is due.
    fn fires(job: &PlannedJob, tz: chrono_tz::Tz, from: &str, to: &str) -> Vec<DateTime<Utc>> {
        let (mut t, end) = (utc(from), utc(to));
        let mut out = Vec::new();
        while t < end {
            if job.due(t, tz) {
                out.push(t);
            }
            t += chrono::Duration::minutes(1);
        }
        out
    }

    #[test]
    fn the_leaderboard_fires_once_a_day_in_the_local_zone() {
        let job = PlannedJob::DailyLeaderboard { time: "09:00".into() };
        assert_eq!(
            fires(
                &job,
                chrono_tz::Asia::Shanghai,
                "2026-03-01T00:00:00Z",
                "2026-03-03T00:00:00Z"
            ),
            vec![utc("2026-03-01T01:00:00Z"), utc("2026-03-02T01:00:00Z")]
        );
    }

    #[test]
    fn a_time_the_clocks_skip_fires_right_after_the_gap_and_a_repeated_time_once() {
        let ny = chrono_tz::America::New_York;
        // 2026-03-08: 02:00 EST → 03:00 EDT; 02:30 does not exist that day.
        let job = PlannedJob::DailyLeaderboard { time: "02:30".into() };
        assert_eq!(
            fires(&job, ny, "2026-03-07T12:00:00Z", "2026-03-09T12:00:00Z"),
            // 03:00 EDT on the day of the gap, 02:30 EDT the day after.
            vec![utc("2026-03-08T07:00:00Z"), utc("2026-03-09T06:30:00Z")]
        );
        // 2026-11-01: 02:00 EDT → 01:00 EST; 01:30 happens twice, the leaderboard once.
        let job = PlannedJob::DailyLeaderboard { time: "01:30".into() };
        assert_eq!(
            fires(&job, ny, "2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z"),
            vec![utc("2026-11-01T05:30:00Z")]
        );
    }

    #[test]
    fn the_cost_check_fires_every_n_minutes_exactly() {
        let job = PlannedJob::CostCheck { minutes: 90 };
        let got = fires(
            &job,
            chrono_tz::Asia::Shanghai,
            "2026-03-01T00:00:00Z",
            "2026-03-01T06:00:00Z",
        );
        assert_eq!(got.len(), 4);
        for pair in got.windows(2) {
            assert_eq!(pair[1] - pair[0], chrono::Duration::minutes(90));
        }
    }
}
