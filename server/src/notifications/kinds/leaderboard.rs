//! 每日排行榜: the previous calendar day in APP_TIMEZONE, its users ranked by cost
//! ([`crate::usage::leaderboard`]).
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use sqlx::PgPool;

use crate::notifications::render::{DailyLeaderboard, LeaderboardEntry};
use crate::usage::leaderboard;

/// The day a leaderboard sent at `now` is about: yesterday, in `timezone`.
pub fn report_day(now: DateTime<Utc>, timezone: Tz) -> NaiveDate {
    now.with_timezone(&timezone).date_naive() - chrono::Duration::days(1)
}

/// The leaderboard of `day`: its `top_n` users with the totals over everyone.
pub async fn compute(
    db: &PgPool,
    day: NaiveDate,
    top_n: i64,
    now: DateTime<Tz>,
) -> Result<DailyLeaderboard, sqlx::Error> {
    let ranking = leaderboard::rank_day(db, day, top_n).await?;
    Ok(DailyLeaderboard {
        date: day,
        entries: ranking
            .top
            .into_iter()
            .map(|u| LeaderboardEntry {
                user_id: u.user_id,
                user_ref: u.user_ref,
                user_name: u.user_name,
                cost_usd: u.cost_usd,
                requests: u.requests,
                tokens: u.tokens,
            })
            .collect(),
        total_requests: ranking.total_requests,
        total_cost_usd: ranking.total_cost_usd,
        now,
    })
}
