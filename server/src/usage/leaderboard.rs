//! A day's spending ranked by user, read from the daily rollups — never from raw usage.
use chrono::NaiveDate;
use rust_decimal::Decimal;
use sqlx::PgPool;

/// One user's usage on a day.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DayUsage {
    pub user_id: i64,
    /// The id the gateway that reports the user gives it (`users.source_ref`).
    pub user_ref: Option<String>,
    pub user_name: String,
    pub cost_usd: Decimal,
    pub requests: i64,
    pub tokens: i64,
}

/// The `top_n` users of `day` by cost (ties: more requests first, then the lower id).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DayRanking {
    pub top: Vec<DayUsage>,
    /// Over everyone, not only the top.
    pub total_requests: i64,
    pub total_cost_usd: Decimal,
}

/// Ranks `day`'s users.
pub async fn rank_day(db: &PgPool, day: NaiveDate, top_n: i64) -> Result<DayRanking, sqlx::Error> {
    let rows: Vec<(i64, Option<String>, String, Decimal, i64, i64)> = sqlx::query_as(
        // Ranked before the join, so only the top rows look up their name.
        "SELECT d.user_id, u.source_ref, u.name, d.cost_usd, d.requests, d.tokens
           FROM (SELECT user_id, cost_usd, requests, tokens FROM usage_user_daily
                  WHERE day = $1
                  ORDER BY cost_usd DESC, requests DESC, user_id
                  LIMIT $2) d
           JOIN users u ON u.id = d.user_id
          ORDER BY 4 DESC, 5 DESC, 1",
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
    Ok(DayRanking {
        top: rows
            .into_iter()
            .map(|(user_id, user_ref, user_name, cost_usd, requests, tokens)| DayUsage {
                user_id,
                user_ref,
                user_name,
                cost_usd,
                requests,
                tokens,
            })
            .collect(),
        total_requests,
        total_cost_usd,
    })
}
