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
