//! The scheduler seam: rebuilt from the saved settings at startup and after every save.
//! Jobs do not run yet (a later change adds tokio-cron-scheduler); a rebuild computes the plan
//! and logs what it would schedule.
use app::notifications::{NotificationKind, NotificationSettings};

use crate::config::AppEnv;

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

#[derive(Clone, Debug)]
pub struct Scheduler {
    app_env: AppEnv,
    timezone: chrono_tz::Tz,
}

impl Scheduler {
    pub fn new(app_env: AppEnv, timezone: chrono_tz::Tz) -> Self {
        Scheduler { app_env, timezone }
    }

    /// Replaces the schedule with the one `settings` call for.
    pub fn rebuild(&self, settings: &NotificationSettings) -> Vec<PlannedJob> {
        let jobs = plan(settings);
        let production = self.app_env == AppEnv::Production;
        if jobs.is_empty() {
            tracing::info!(production, "scheduler rebuilt: no scheduled notifications");
        }
        for job in &jobs {
            match job {
                PlannedJob::DailyLeaderboard { time } => {
                    tracing::info!(production, timezone = %self.timezone, %time, "would schedule the daily leaderboard")
                }
                PlannedJob::CostCheck { minutes } => {
                    tracing::info!(production, minutes, "would schedule the cost check")
                }
            }
        }
        jobs
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
