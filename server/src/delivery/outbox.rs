//! The outbox (`notification_deliveries`, PostgreSQL): every notification is written here before
//! it is enqueued, and its row follows the job: pending → sending → delivered | failed. Redis may
//! lose a job (an outage, a restart of a Redis that keeps nothing); the row is what the sweeper
//! enqueues again, and what makes a repeated job harmless.
use app::deliveries::{DeliveryFilter, DeliveryPage, DeliveryRecord, DeliveryStatus};
use app::notifications::NotificationKind;
use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::channels::message::Message;
use crate::channels::targets::TargetRef;

/// `last_error` is for people to read; a long answer body must not bloat the table.
const MAX_ERROR_CHARS: usize = 1000;

/// A notification to deliver to one target.
#[derive(Clone, Debug)]
pub struct NewDelivery {
    pub kind: NotificationKind,
    pub target: TargetRef,
    pub message: Message,
    /// The idempotency key: raising the same key again is a no-op.
    pub dedup_key: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inserted {
    New(i64),
    /// A row with this dedup key already exists (its id).
    Duplicate(i64),
}

impl Inserted {
    pub fn id(self) -> i64 {
        match self {
            Inserted::New(id) | Inserted::Duplicate(id) => id,
        }
    }
}

/// What an attempt needs, taken when the attempt starts.
#[derive(Clone, Debug)]
pub struct Attempt {
    pub id: i64,
    pub kind: NotificationKind,
    /// `None` when the target was deleted after the notification was raised.
    pub target_id: Option<i64>,
    pub message: Message,
    pub dedup_key: String,
    pub created_at: DateTime<Utc>,
    /// 1 for the first.
    pub number: i32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttemptStart {
    Started,
    /// Already delivered or failed for good: a repeated job, nothing to do.
    Finished(DeliveryStatus),
    /// Every attempt was spent, the last without an outcome (its worker stopped mid-send):
    /// the row is now failed, of this kind.
    Exhausted(NotificationKind),
    Missing,
}

#[derive(sqlx::FromRow)]
struct AttemptRow {
    kind: String,
    target_id: Option<i64>,
    content: String,
    event: Option<serde_json::Value>,
    dedup_key: String,
    created_at: DateTime<Utc>,
    attempts: i32,
}

#[derive(sqlx::FromRow)]
struct RecordRow {
    id: i64,
    kind: String,
    target_host: String,
    target_id: Option<i64>,
    target_name: Option<String>,
    channel: Option<String>,
    status: String,
    attempts: i32,
    last_error: Option<String>,
    content: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    delivered_at: Option<DateTime<Utc>>,
}

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("row {id} has an unknown {column} {value:?}")]
    Corrupt {
        id: i64,
        column: &'static str,
        value: String,
    },
}

fn kind_of(id: i64, value: &str) -> Result<NotificationKind, OutboxError> {
    NotificationKind::from_key(value).ok_or_else(|| OutboxError::Corrupt {
        id,
        column: "kind",
        value: value.to_owned(),
    })
}

fn status_of(id: i64, value: &str) -> Result<DeliveryStatus, OutboxError> {
    DeliveryStatus::parse(value).ok_or_else(|| OutboxError::Corrupt {
        id,
        column: "status",
        value: value.to_owned(),
    })
}

impl RecordRow {
    /// The record as pages and the API show it: times in `timezone` (APP_TIMEZONE), as the
    /// messages write them.
    fn into_record(self, timezone: chrono_tz::Tz) -> Result<DeliveryRecord, OutboxError> {
        let r = self;
        let local = |t: DateTime<Utc>| t.with_timezone(&timezone).to_rfc3339();
        Ok(DeliveryRecord {
            id: r.id,
            kind: kind_of(r.id, &r.kind)?,
            target: r.target_host,
            target_id: r.target_id,
            target_name: r.target_name,
            channel: r.channel.as_deref().and_then(app::targets::ChannelKind::from_key),
            status: status_of(r.id, &r.status)?,
            attempts: r.attempts,
            last_error: r.last_error,
            content: r.content,
            created_at: local(r.created_at),
            updated_at: local(r.updated_at),
            delivered_at: r.delivered_at.map(local),
        })
    }
}

/// The target URLs of rows raised before push targets, which the start-up move turns into targets.
pub async fn legacy_target_urls(conn: &mut sqlx::PgConnection) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT DISTINCT target_url FROM notification_deliveries WHERE target_url IS NOT NULL")
        .fetch_all(&mut *conn)
        .await
}

/// Points the rows raised to `url` before push targets at target `id`; how many there were.
pub async fn adopt_legacy_target(conn: &mut sqlx::PgConnection, url: &str, id: i64) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        // The key gains its target as keys now do (`delivery::engine::target_dedup_key`): a
        // notification raised again after the upgrade is still known.
        "UPDATE notification_deliveries SET target_id = $1, target_url = NULL, dedup_key = dedup_key || '@t' || $1
          WHERE target_url = $2",
    )
    .bind(id)
    .bind(url)
    .execute(&mut *conn)
    .await?
    .rows_affected())
}

fn bounded(error: &str) -> String {
    error.chars().take(MAX_ERROR_CHARS).collect()
}

#[derive(Clone)]
pub struct Outbox {
    db: PgPool,
}

impl Outbox {
    pub fn new(db: PgPool) -> Self {
        Outbox { db }
    }

    pub async fn insert(&self, new: &NewDelivery) -> Result<Inserted, OutboxError> {
        let inserted: Option<i64> = sqlx::query_scalar(
            "INSERT INTO notification_deliveries (kind, target_id, target_host, content, event, dedup_key)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (dedup_key) DO NOTHING
             RETURNING id",
        )
        .bind(new.kind.key())
        .bind(new.target.id)
        .bind(&new.target.endpoint_host)
        .bind(crate::channels::wecom::markdown(&new.message))
        .bind(new.message.record())
        .bind(&new.dedup_key)
        .fetch_optional(&self.db)
        .await?;
        if let Some(id) = inserted {
            return Ok(Inserted::New(id));
        }
        let id = sqlx::query_scalar("SELECT id FROM notification_deliveries WHERE dedup_key = $1")
            .bind(&new.dedup_key)
            .fetch_one(&self.db)
            .await?;
        Ok(Inserted::Duplicate(id))
    }

    pub async fn mark_enqueued(&self, id: i64) -> Result<(), OutboxError> {
        sqlx::query("UPDATE notification_deliveries SET enqueued_at = now() WHERE id = $1")
            .bind(id)
            .execute(&self.db)
            .await?;
        Ok(())
    }

    /// Counts an attempt and moves the row to `sending`, unless it is already finished or has
    /// had `max_attempts`: the row's count spans jobs (a crashed worker's, one Redis lost), so
    /// it is what bounds the calls a receiver gets.
    pub async fn start_attempt(
        &self,
        id: i64,
        max_attempts: i32,
    ) -> Result<(AttemptStart, Option<Attempt>), OutboxError> {
        let row: Option<AttemptRow> = sqlx::query_as(
            "UPDATE notification_deliveries
                SET status = 'sending', attempts = attempts + 1, updated_at = now()
              WHERE id = $1 AND status IN ('pending', 'sending') AND attempts < $2
          RETURNING kind, target_id, content, event, dedup_key, created_at, attempts",
        )
        .bind(id)
        .bind(max_attempts)
        .fetch_optional(&self.db)
        .await?;
        if let Some(row) = row {
            let kind = kind_of(id, &row.kind)?;
            let attempt = Attempt {
                id,
                kind,
                target_id: row.target_id,
                message: Message::from_record(kind, &row.content, row.event, row.created_at),
                dedup_key: row.dedup_key,
                created_at: row.created_at,
                number: row.attempts,
            };
            return Ok((AttemptStart::Started, Some(attempt)));
        }
        let exhausted: Option<String> = sqlx::query_scalar(
            "UPDATE notification_deliveries
                SET status = 'failed', updated_at = now(),
                    last_error = 'every attempt spent: the last one ended without an outcome (its worker stopped)'
              WHERE id = $1 AND status IN ('pending', 'sending') AND attempts >= $2
          RETURNING kind",
        )
        .bind(id)
        .bind(max_attempts)
        .fetch_optional(&self.db)
        .await?;
        if let Some(kind) = exhausted {
            return Ok((AttemptStart::Exhausted(kind_of(id, &kind)?), None));
        }
        let status: Option<String> = sqlx::query_scalar("SELECT status FROM notification_deliveries WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.db)
            .await?;
        Ok(match status {
            Some(s) => (AttemptStart::Finished(status_of(id, &s)?), None),
            None => (AttemptStart::Missing, None),
        })
    }

    /// Uncounts an attempt [`Outbox::start_attempt`] counted but that made no call (the webhook
    /// was over its rate limit).
    pub async fn give_back_attempt(&self, id: i64) -> Result<(), OutboxError> {
        sqlx::query(
            "UPDATE notification_deliveries
                SET attempts = attempts - 1, updated_at = now(),
                    status = CASE WHEN attempts = 1 THEN 'pending' ELSE status END
              WHERE id = $1 AND status = 'sending' AND attempts > 0",
        )
        .bind(id)
        .execute(&self.db)
        .await?;
        Ok(())
    }

    pub async fn mark_delivered(&self, id: i64) -> Result<(), OutboxError> {
        sqlx::query(
            "UPDATE notification_deliveries
                SET status = 'delivered', last_error = NULL, updated_at = now(), delivered_at = now()
              WHERE id = $1",
        )
        .bind(id)
        .execute(&self.db)
        .await?;
        Ok(())
    }

    /// Records a failed attempt; `final_attempt` moves the row to `failed`, otherwise it stays
    /// `sending` until the retry. Returns the row's kind, unless it was already delivered.
    pub async fn mark_attempt_failed(
        &self,
        id: i64,
        error: &str,
        final_attempt: bool,
    ) -> Result<Option<NotificationKind>, OutboxError> {
        let kind: Option<String> = sqlx::query_scalar(
            "UPDATE notification_deliveries
                SET status = CASE WHEN $3 THEN 'failed' ELSE 'sending' END, last_error = $2, updated_at = now()
              WHERE id = $1 AND status <> 'delivered'
          RETURNING kind",
        )
        .bind(id)
        .bind(bounded(error))
        .bind(final_attempt)
        .fetch_optional(&self.db)
        .await?;
        kind.map(|k| kind_of(id, &k)).transpose()
    }

    /// Rows that never reached Redis, oldest first.
    pub async fn unqueued(&self, limit: i64) -> Result<Vec<i64>, OutboxError> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM notification_deliveries
              WHERE status IN ('pending', 'sending') AND enqueued_at IS NULL
              ORDER BY id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.db)
        .await?)
    }

    /// Unfinished rows untouched for `idle`, with their attempts: their job may have been lost
    /// with Redis's data, or failed while the database was away.
    pub async fn idle(&self, idle: std::time::Duration, limit: i64) -> Result<Vec<(i64, i32)>, OutboxError> {
        Ok(sqlx::query_as(
            "SELECT id, attempts FROM notification_deliveries
              WHERE status IN ('pending', 'sending') AND enqueued_at IS NOT NULL
                AND updated_at < now() - make_interval(secs => $1)
              ORDER BY updated_at LIMIT $2",
        )
        .bind(idle.as_secs_f64())
        .bind(limit)
        .fetch_all(&self.db)
        .await?)
    }

    /// Marks a row touched, so the sweeper does not look at it again for a while.
    pub async fn touch(&self, id: i64) -> Result<(), OutboxError> {
        sqlx::query(
            "UPDATE notification_deliveries SET updated_at = now()
              WHERE id = $1 AND status IN ('pending', 'sending')",
        )
        .bind(id)
        .execute(&self.db)
        .await?;
        Ok(())
    }

    /// Deletes finished rows older than `age`; returns how many.
    pub async fn prune(&self, age: std::time::Duration) -> Result<u64, OutboxError> {
        Ok(sqlx::query(
            "DELETE FROM notification_deliveries
              WHERE status IN ('delivered', 'failed') AND updated_at < now() - make_interval(secs => $1)",
        )
        .bind(age.as_secs_f64())
        .execute(&self.db)
        .await?
        .rows_affected())
    }

    /// Unfinished rows by status (metrics).
    pub async fn unfinished_counts(&self) -> Result<Vec<(DeliveryStatus, i64)>, OutboxError> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT status, count(*) FROM notification_deliveries
              WHERE status IN ('pending', 'sending') GROUP BY status",
        )
        .fetch_all(&self.db)
        .await?;
        rows.into_iter().map(|(s, n)| Ok((status_of(0, &s)?, n))).collect()
    }

    /// History, newest first, times in `timezone`. The page size must already be validated.
    pub async fn list(
        &self,
        filter: &DeliveryFilter,
        page_size: u32,
        timezone: chrono_tz::Tz,
    ) -> Result<DeliveryPage, OutboxError> {
        let rows: Vec<RecordRow> = sqlx::query_as(
            "SELECT d.id, d.kind, d.target_host, d.target_id, t.name AS target_name, t.channel, d.status, d.attempts,
                    d.last_error, d.content, d.created_at, d.updated_at, d.delivered_at
               FROM notification_deliveries d LEFT JOIN push_targets t ON t.id = d.target_id
              WHERE ($1::text IS NULL OR d.kind = $1)
                AND ($2::text IS NULL OR d.status = $2)
                AND ($3::bigint IS NULL OR d.id < $3)
                AND ($5::bigint IS NULL OR d.target_id = $5)
              ORDER BY d.id DESC
              LIMIT $4",
        )
        .bind(filter.kind.map(NotificationKind::key))
        .bind(filter.status.map(DeliveryStatus::as_str))
        .bind(filter.before)
        .bind(i64::from(page_size) + 1)
        .bind(filter.target_id)
        .fetch_all(&self.db)
        .await?;
        let more = rows.len() > page_size as usize;
        let items = rows
            .into_iter()
            .take(page_size as usize)
            .map(|row| row.into_record(timezone))
            .collect::<Result<Vec<_>, _>>()?;
        let next_before = if more { items.last().map(|r| r.id) } else { None };
        Ok(DeliveryPage { items, next_before })
    }
}
