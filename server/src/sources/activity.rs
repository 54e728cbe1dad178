//! What each source delivered: events stored, repeats, rejections and events without a price,
//! per minute (`source_activity`), and the latest reasons (`source_notes`) — what the 数据来源
//! page and `GET /api/v1/sources` show, shared by every instance.
use app::sources::{Activity, Counts, Note};
use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::PgPool;

use super::Source;
use crate::usage::ingest::RejectedEvent;

/// Reasons kept from one batch, per kind: a batch of bad events says the same thing many times.
const NOTES_PER_BATCH: usize = 5;
/// Reasons kept per source and kind.
const NOTES_KEPT: i64 = 50;
/// Minutes kept: the page reads the last hour.
const ACTIVITY_KEPT: chrono::Duration = chrono::Duration::days(1);

/// What one batch of a source came to.
#[derive(Debug, Default)]
pub struct Outcome<'a> {
    pub accepted: usize,
    pub duplicates: usize,
    /// Events stored before whose values changed since (a source's rows read again).
    pub revised: usize,
    pub rejected: &'a [RejectedEvent],
    /// What each stored event without a price was (its model and deployment).
    pub unpriced: &'a [String],
}

impl Outcome<'_> {
    fn events(&self) -> usize {
        self.accepted + self.duplicates + self.revised + self.rejected.len()
    }
}

fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Adds a batch's outcome to its source's minute, with its first reasons.
pub async fn record(db: &PgPool, source: Source, outcome: &Outcome<'_>) -> Result<(), sqlx::Error> {
    if outcome.events() == 0 {
        return Ok(());
    }
    let mut kinds = Vec::new();
    let mut details = Vec::new();
    for r in outcome.rejected.iter().take(NOTES_PER_BATCH) {
        kinds.push("rejected");
        let id = r.request_id.as_deref().map(|id| format!(" ({id})")).unwrap_or_default();
        details.push(truncate(&format!("event {}{id}: {}", r.index, r.reason)));
    }
    for u in outcome.unpriced.iter().take(NOTES_PER_BATCH) {
        kinds.push("unpriced");
        details.push(truncate(u));
    }
    sqlx::query(
        // A shard per connection: every batch of a source writes the same minute.
        "WITH minute AS (
             INSERT INTO source_activity (source, minute, shard, accepted, duplicates, revised, rejected, unpriced,
                                          last_event_at)
             VALUES ($1, date_trunc('minute', now()), pg_backend_pid() % 8, $2, $3, $8, $4, $5, now())
             ON CONFLICT (source, minute, shard) DO UPDATE
                SET accepted = source_activity.accepted + EXCLUDED.accepted,
                    duplicates = source_activity.duplicates + EXCLUDED.duplicates,
                    revised = source_activity.revised + EXCLUDED.revised,
                    rejected = source_activity.rejected + EXCLUDED.rejected,
                    unpriced = source_activity.unpriced + EXCLUDED.unpriced,
                    last_event_at = EXCLUDED.last_event_at
         )
         INSERT INTO source_notes (source, kind, detail)
         SELECT $1, kind, detail FROM UNNEST($6::text[], $7::text[]) AS n(kind, detail)",
    )
    .bind(source.key())
    .bind(count(outcome.accepted))
    .bind(count(outcome.duplicates))
    .bind(count(outcome.rejected.len()))
    .bind(count(outcome.unpriced.len()))
    .bind(kinds)
    .bind(details)
    .bind(count(outcome.revised))
    .execute(db)
    .await?;
    Ok(())
}

/// A time as the API and the page show it (as chrono's serde writes it).
pub fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn truncate(text: &str) -> String {
    text.chars().take(500).collect()
}

/// The last event's time and the last hour's sums (NULL without rows).
type LastHour = (
    Option<DateTime<Utc>>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
);

/// Each source's activity as of `now`.
pub async fn read(db: &PgPool, now: DateTime<Utc>) -> Result<Vec<(Source, Activity)>, sqlx::Error> {
    let mut all = Vec::new();
    for source in Source::ALL {
        let (last_event_at, accepted, duplicates, revised, rejected, unpriced): LastHour = sqlx::query_as(
            "SELECT (SELECT max(last_event_at) FROM source_activity WHERE source = $1),
                    sum(accepted)::bigint, sum(duplicates)::bigint, sum(revised)::bigint, sum(rejected)::bigint,
                    sum(unpriced)::bigint
               FROM source_activity WHERE source = $1 AND minute > $2",
        )
        .bind(source.key())
        .bind(now - chrono::Duration::hours(1))
        .fetch_one(db)
        .await?;
        let notes = |kind: &'static str| {
            sqlx::query_as::<_, (DateTime<Utc>, String)>(
                "SELECT at, detail FROM source_notes WHERE source = $1 AND kind = $2 ORDER BY id DESC LIMIT 5",
            )
            .bind(source.key())
            .bind(kind)
            .fetch_all(db)
        };
        let (rejections, unpriced_notes) = tokio::try_join!(notes("rejected"), notes("unpriced"))?;
        let to_notes = |rows: Vec<(DateTime<Utc>, String)>| {
            rows.into_iter()
                .map(|(at, detail)| Note {
                    at: rfc3339(at),
                    detail,
                })
                .collect::<Vec<_>>()
        };
        all.push((
            source,
            Activity {
                last_event_at: last_event_at.map(rfc3339),
                last_hour: Counts {
                    accepted: accepted.unwrap_or(0),
                    duplicates: duplicates.unwrap_or(0),
                    revised: revised.unwrap_or(0),
                    rejected: rejected.unwrap_or(0),
                    unpriced: unpriced.unwrap_or(0),
                },
                latest_rejections: to_notes(rejections),
                latest_unpriced: to_notes(unpriced_notes),
            },
        ));
    }
    Ok(all)
}

/// Deletes minutes older than a day and notes beyond the newest [`NOTES_KEPT`] of each source and
/// kind; returns how many rows went.
pub async fn prune(db: &PgPool, now: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    let minutes = sqlx::query("DELETE FROM source_activity WHERE minute < $1")
        .bind(now - ACTIVITY_KEPT)
        .execute(db)
        .await?
        .rows_affected();
    let notes = sqlx::query(
        "DELETE FROM source_notes n USING (
             SELECT id, row_number() OVER (PARTITION BY source, kind ORDER BY id DESC) AS newer FROM source_notes
         ) o WHERE n.id = o.id AND o.newer > $1",
    )
    .bind(NOTES_KEPT)
    .execute(db)
    .await?
    .rows_affected();
    Ok(minutes + notes)
}

/// How often [`prune_loop`] prunes.
const PRUNE_EVERY: std::time::Duration = std::time::Duration::from_secs(5 * 60);

/// Prunes every [`PRUNE_EVERY`] until `shutdown` (every instance; they agree).
pub async fn prune_loop(db: PgPool, mut shutdown: crate::platform::shutdown::Shutdown) {
    loop {
        if let Err(e) = prune(&db, Utc::now()).await {
            tracing::warn!(error = %e, "pruning source activity failed");
        }
        if !crate::platform::shutdown::pause(PRUNE_EVERY, &mut shutdown).await {
            return;
        }
    }
}
