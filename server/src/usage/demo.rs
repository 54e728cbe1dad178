//! `server demo-data`: a realistic dataset — a team of users with quotas, a few providers (one
//! flaky), and some days of requests — stored through the real ingest path (rollups included),
//! so a fresh install shows a leaderboard, consumption and cost alerts at once. Idempotent per
//! day and user: running it again adds nothing twice.
use chrono::{DateTime, Duration, Utc};
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;
use sqlx::PgPool;

use crate::usage::event::UsageEvent;
use crate::usage::ingest::{store, KnownNames, Repeats};

const USERS: &[&str] = &[
    "张三", "李四", "王五", "赵六", "钱七", "孙八", "周九", "吴十", "郑一", "陈二", "Alice", "Bob",
];
const PROVIDERS: &[(&str, f64)] = &[
    ("Anthropic 官方", 0.02),
    ("AWS Bedrock", 0.05),
    ("Google Vertex", 0.03),
    ("备用中转", 0.25),
];
const MODELS: &[(&str, f64, f64)] = &[
    // model, USD per million input tokens, per million output tokens
    ("claude-sonnet-4", 3.0, 15.0),
    ("claude-opus-4", 15.0, 75.0),
    ("claude-haiku-4", 0.8, 4.0),
];

/// What was written.
#[derive(Debug, Default)]
pub struct DemoReport {
    pub events: usize,
    pub new: usize,
}

/// Fills `days` days up to `now` (≈ 40–400 requests per user and day, heavier on weekdays).
pub async fn fill(
    db: &PgPool,
    timezone: chrono_tz::Tz,
    now: DateTime<Utc>,
    days: u32,
) -> Result<DemoReport, sqlx::Error> {
    let mut report = DemoReport::default();
    let known = KnownNames::default();
    // Fixed seed: the same dataset every time, so request ids repeat and nothing is doubled.
    let mut rng = rand::rngs::StdRng::seed_from_u64(20_250_115);
    for day in (0..days).rev() {
        let mut batch = Vec::new();
        let date = (now - Duration::days(i64::from(day)))
            .with_timezone(&timezone)
            .date_naive();
        for (u, user) in USERS.iter().enumerate() {
            let appetite = 1.0 + (u % 5) as f64; // some users spend far more than others
                                                 // 40–400 times an appetite of 1–5, over 3: a small positive count.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let n = (f64::from(rng.random_range(40..400_u32)) * appetite / 3.0) as usize;
            for i in 0..n {
                let at = now - Duration::days(i64::from(day)) - Duration::seconds(rng.random_range(0..86_400));
                if at > now {
                    continue;
                }
                let p = rng.random_range(0..PROVIDERS.len());
                let (provider, failure_rate) = PROVIDERS[p];
                let (model, input_price, output_price) = MODELS[rng.random_range(0..MODELS.len())];
                let input = rng.random_range(500..60_000i64);
                let output = rng.random_range(100..8_000i64);
                let success = rng.random_bool(1.0 - failure_rate);
                let cost = if success {
                    (input as f64 * input_price + output as f64 * output_price) / 1_000_000.0
                } else {
                    0.0
                };
                batch.push(UsageEvent {
                    request_id: format!("demo-{date}-{u}-{i}"),
                    user_id: 1001 + i64::try_from(u).unwrap_or(0),
                    user_name: (*user).to_owned(),
                    provider_id: 1 + i64::try_from(p).unwrap_or(0),
                    provider_name: provider.to_owned(),
                    model: model.to_owned(),
                    cost_usd: Decimal::from_f64_retain(cost).unwrap_or_default().round_dp(6),
                    input_tokens: input,
                    output_tokens: output,
                    cache_creation_input_tokens: 0,
                    cache_read_input_tokens: if success { input / 3 } else { 0 },
                    success,
                    status_code: Some(if success { 200 } else { 529 }),
                    error: (!success).then(|| "overloaded_error: Overloaded".to_owned()),
                    created_at: at,
                    key_id: None,
                });
            }
        }
        report.events += batch.len();
        for chunk in batch.chunks(2000) {
            report.new += store(db, timezone, chunk, &known, Repeats::Ignore).await?.new.len();
        }
    }
    // Quotas so the cost check has something to say: daily for everyone, tighter for a few.
    sqlx::query(
        "UPDATE users SET limit_daily_usd = CASE WHEN id % 3 = 0 THEN 20 ELSE 80 END,
                          limit_weekly_usd = 400, limit_monthly_usd = 1500, limit_5h_usd = 30
          WHERE id BETWEEN 1001 AND 1100 AND limit_daily_usd IS NULL",
    )
    .execute(db)
    .await?;
    sqlx::query("UPDATE providers SET limit_monthly_usd = 5000 WHERE id = 1 AND limit_monthly_usd IS NULL")
        .execute(db)
        .await?;
    Ok(report)
}
