//! What the settings schedule and when each job fires: pure functions of the settings, the
//! time and the zone, which the scheduler and the runs both ask.
use app::notifications::{NotificationKind, NotificationSettings};
use chrono::{DateTime, NaiveDate, TimeZone, Timelike, Utc};

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
