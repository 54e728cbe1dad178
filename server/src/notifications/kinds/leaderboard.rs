//! 每日排行榜: the previous calendar day in APP_TIMEZONE, users ranked by cost (ties: more
//! requests first, then the lower id), read from the daily rollups — never from raw usage.
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use sqlx::PgPool;

use crate::notifications::render::{DailyLeaderboard, LeaderboardEntry};

/// The day a leaderboard sent at `now` is about: yesterday, in `timezone`.
pub fn report_day(now: DateTime<Utc>, timezone: Tz) -> NaiveDate {
    now.with_timezone(&timezone).date_naive() - chrono::Duration::days(1)
}

/// Ranks `day`'s users; `top_n` of them with the totals over everyone.
pub async fn compute(
    db: &PgPool,
    day: NaiveDate,
    top_n: i64,
    now: DateTime<Tz>,
) -> Result<DailyLeaderboard, sqlx::Error> {
    let rows: Vec<(i64, String, Decimal, i64, i64)> = sqlx::query_as(
        // Ranked before the join, so only the top rows look up their name.
        "SELECT d.user_id, u.name, d.cost_usd, d.requests, d.tokens
           FROM (SELECT user_id, cost_usd, requests, tokens FROM usage_user_daily
                  WHERE day = $1
                  ORDER BY cost_usd DESC, requests DESC, user_id
                  LIMIT $2) d
           JOIN users u ON u.id = d.user_id
          ORDER BY 3 DESC, 4 DESC, 1",
    )
    .bind(day)
    .bind(top_n)
    .fetch_all(db)
    .await?;
    // The day's totals over everyone: the same rows rolled up per provider (a few rows, not one
    // per user).
    let (total_requests, total_cost_usd): (i64, Decimal) = sqlx::query_as(
        "SELECT coalesce(sum(requests), 0)::bigint, coalesce(sum(cost_usd), 0) FROM usage_provider_daily WHERE day = $1",
    )
    .bind(day)
    .fetch_one(db)
    .await?;
    Ok(DailyLeaderboard {
        date: day,
        entries: rows
            .into_iter()
            .map(|(user_id, user_name, cost_usd, requests, tokens)| LeaderboardEntry {
                user_id,
                user_name,
                cost_usd,
                requests,
                tokens,
            })
            .collect(),
        total_requests,
        total_cost_usd,
        now,
    })
}
