//! The replay of the breaker backlog ([`crate::usage::breaker_backlog`]): every instance feeds
//! the waiting outcomes to the breakers, provider by provider and oldest first, once Redis
//! answers.
use std::time::Duration;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::usage::event::UsageEvent;
use crate::usage::ingest::Ingestor;

/// How often the backlog is looked at: the delay between Redis coming back and the breakers
/// catching up.
const REPLAY_EVERY: Duration = Duration::from_secs(1);
/// Outcomes fed per provider and pass.
const BATCH: i64 = 1000;

/// What one replay pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Replayed {
    pub outcomes: usize,
    /// Redis still did not answer: the rest waits for the next pass.
    pub redis_away: bool,
}

type Row = (
    String,
    i64,
    String,
    bool,
    Option<i32>,
    Option<String>,
    DateTime<Utc>,
    i64,
    String,
);

/// Feeds waiting outcomes to the breakers, provider by provider, oldest first. A provider is
/// replayed by one instance at a time (an advisory lock), and its rows are deleted in the same
/// transaction that read them.
pub async fn replay(ingestor: &Ingestor) -> Result<Replayed, sqlx::Error> {
    let db = ingestor.db();
    let providers: Vec<i64> = sqlx::query_scalar("SELECT DISTINCT provider_id FROM breaker_backlog LIMIT 100")
        .fetch_all(db)
        .await?;
    let mut done = Replayed::default();
    for provider_id in providers {
        let mut tx = db.begin().await?;
        let mine: bool =
            sqlx::query_scalar("SELECT pg_try_advisory_xact_lock(hashtextextended('breaker_backlog:' || $1, 0))")
                .bind(provider_id)
                .fetch_one(&mut *tx)
                .await?;
        if !mine {
            continue;
        }
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT b.request_id, r.user_id, r.model, r.success, r.status_code, r.error_message, r.created_at,
                    b.provider_id, p.name
               FROM breaker_backlog b
               JOIN usage_records r ON r.request_id = b.request_id
               JOIN providers p ON p.id = b.provider_id
              WHERE b.provider_id = $1
              ORDER BY b.created_at, b.request_id
              LIMIT $2",
        )
        .bind(provider_id)
        .bind(BATCH)
        .fetch_all(&mut *tx)
        .await?;
        if rows.is_empty() {
            // Rows whose usage record is gone: nothing to feed.
            sqlx::query("DELETE FROM breaker_backlog WHERE provider_id = $1")
                .bind(provider_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            continue;
        }
        let events: Vec<UsageEvent> = rows
            .into_iter()
            .map(
                |(request_id, user_id, model, success, status_code, error, created_at, provider_id, provider_name)| {
                    UsageEvent {
                        request_id,
                        user_id,
                        user_name: String::new(),
                        provider_id,
                        provider_name,
                        model,
                        cost_usd: Decimal::ZERO,
                        input_tokens: 0,
                        output_tokens: 0,
                        cache_creation_input_tokens: 0,
                        cache_read_input_tokens: 0,
                        success,
                        status_code,
                        error,
                        created_at,
                        key_id: None,
                    }
                },
            )
            .collect();
        let refs: Vec<&UsageEvent> = events.iter().collect();
        let config = crate::usage::providers::breaker_settings(db, &[provider_id])
            .await?
            .get(&provider_id)
            .copied()
            .unwrap_or_default();
        if let Err(e) = ingestor.feed(provider_id, config, &refs).await {
            tracing::debug!(provider_id, error = %e, "breaker backlog: Redis still away");
            done.redis_away = true;
            return Ok(done);
        }
        sqlx::query("DELETE FROM breaker_backlog WHERE request_id = ANY($1)")
            .bind(events.iter().map(|e| e.request_id.clone()).collect::<Vec<_>>())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        done.outcomes += events.len();
    }
    Ok(done)
}

/// Replays the backlog every [`REPLAY_EVERY`] until `shutdown`.
pub async fn run(ingestor: Ingestor, mut shutdown: crate::platform::shutdown::Shutdown) {
    loop {
        match replay(&ingestor).await {
            Ok(r) if r.outcomes > 0 => tracing::info!(outcomes = r.outcomes, "breaker backlog replayed"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "breaker backlog replay failed"),
        }
        if !crate::platform::shutdown::pause(REPLAY_EVERY, &mut shutdown).await {
            return;
        }
    }
}
