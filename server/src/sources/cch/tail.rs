//! Reading Claude Code Hub's finished requests (`message_request`) once each, with their final
//! values.
//!
//! CCH inserts a request's row when it starts (status NULL) and updates it as it finishes —
//! through a write buffer flushed every 250 ms, so the cost may land in a later update than the
//! status — and a request that started earlier may finish after a later one: ids are handed out
//! at the start, so a cursor on the id alone would skip the slow ones. The position therefore
//! keeps three things, all read by primary key: the next id not yet seen; the ids seen still
//! running (`pending`), read again every poll until they finish; and the finished rows of the last
//! [`WATCH`] (a range of ids, and the late finishers by id), read again when CCH's `updated_at`
//! says they changed since the previous poll. What is read is stored with
//! [`crate::usage::ingest::Repeats::Revise`]: a row read twice changes nothing, a row whose cost
//! came later is corrected, so a restart from an older position counts nothing twice.
use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

/// How long a finished row is watched for late changes.
pub const WATCH: Duration = Duration::seconds(60);
/// CCH's `updated_at` comes from the database's clock or the app's, and `now()` is a
/// transaction's start: a change is looked for this far before the previous poll began.
const CLOCK_SLACK: Duration = Duration::seconds(10);
/// A request still running after this long is taken for dead (CCH crashed mid-request) and no
/// longer waited for.
pub const ABANDONED_AFTER: Duration = Duration::hours(2);
/// Rows read at most per query; a poll goes on until it has caught up or read [`MAX_PER_POLL`].
const PAGE: usize = 5_000;
const MAX_PER_POLL: usize = 50_000;
/// Endpoints CCH does not bill (`NON_BILLING_ENDPOINTS`).
const NON_BILLING: [&str; 2] = ["/v1/messages/count_tokens", "/v1/responses/compact"];

/// Where the tail stands, kept in `source_cursors.position`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// The first id not seen yet.
    pub next_id: i64,
    /// Ids seen running, read again until they finish.
    pub pending: Vec<i64>,
    /// Rows from this id on (up to `next_id`) are watched for changes.
    pub watch_from: i64,
    /// Late finishers (ids below `watch_from`) watched for changes, with when they finished.
    pub watched: Vec<(i64, DateTime<Utc>)>,
    /// `next_id` as it was at each recent poll: where `watch_from` moves to.
    pub marks: Vec<(DateTime<Utc>, i64)>,
    /// CCH's clock when the previous poll began.
    pub polled_at: Option<DateTime<Utc>>,
}

/// A finished, billable request as CCH recorded it, its user and provider named by CCH's ids.
#[derive(Clone, Debug, PartialEq)]
pub struct Finished {
    pub id: i64,
    pub user_id: i64,
    pub user_name: Option<String>,
    pub provider_id: i64,
    pub provider_name: Option<String>,
    /// CCH's id of the API key the request was made with.
    pub key_id: Option<i64>,
    pub model: Option<String>,
    pub cost_usd: Decimal,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cache_creation_input_tokens: i64,
    pub cache_read_input_tokens: i64,
    pub status_code: Option<i32>,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Read for the first time finished (not a watched row read again).
    pub fresh: bool,
}

/// What one poll read.
#[derive(Debug, Default)]
pub struct Read {
    pub finished: Vec<Finished>,
    /// Finished requests CCH does not bill (blocked, replayed, counting tokens, deleted).
    pub unbilled: usize,
    /// Whether the poll stopped at [`MAX_PER_POLL`] with rows still to read.
    pub behind: bool,
    pub position: Position,
    /// CCH's clock when the poll began.
    pub now: DateTime<Utc>,
}

/// A row of `message_request` as the tail reads it.
#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    finished: bool,
    billable: bool,
    user_id: i64,
    user_name: Option<String>,
    provider_id: i64,
    provider_name: Option<String>,
    key_id: Option<i64>,
    model: Option<String>,
    cost_usd: Option<Decimal>,
    input_tokens: Option<i64>,
    output_tokens: Option<i64>,
    cache_creation_input_tokens: Option<i64>,
    cache_read_input_tokens: Option<i64>,
    status_code: Option<i32>,
    error_message: Option<String>,
}

/// The columns read, and from where: the serving provider is the last of `provider_chain`
/// (CCH's own billing takes it so), else `provider_id`; the key by its raw value, compared inside
/// CCH's database and never read (CCH does not make it unique: a live key first, then the oldest).
fn select(condition: &str) -> String {
    let non_billing = NON_BILLING.map(|e| format!("'{e}'")).join(", ");
    format!(
        "SELECT m.id::bigint AS id, m.created_at, m.updated_at,
                (m.blocked_by IS NOT NULL OR m.status_code IS NOT NULL OR coalesce(m.error_message, '') <> '') AS finished,
                (m.blocked_by IS NULL AND NOT m.is_replay AND m.deleted_at IS NULL
                 AND (m.endpoint IS NULL OR lower(regexp_replace(m.endpoint, '/+$', '')) NOT IN ({non_billing}))) AS billable,
                m.user_id::bigint AS user_id, u.name AS user_name,
                served.id::bigint AS provider_id, p.name AS provider_name, used.id::bigint AS key_id,
                coalesce(m.model, m.original_model) AS model, m.cost_usd::numeric AS cost_usd,
                m.input_tokens::bigint AS input_tokens, m.output_tokens::bigint AS output_tokens,
                m.cache_creation_input_tokens::bigint AS cache_creation_input_tokens,
                m.cache_read_input_tokens::bigint AS cache_read_input_tokens,
                m.status_code, m.error_message
           FROM message_request m
          CROSS JOIN LATERAL (
                SELECT coalesce(CASE WHEN (m.provider_chain -> -1 ->> 'id') ~ '^[0-9]{{1,9}}$'
                                     THEN (m.provider_chain -> -1 ->> 'id')::integer END,
                                m.provider_id) AS id
          ) served
           LEFT JOIN LATERAL (
                SELECT k.id FROM keys k WHERE k.key = m.key ORDER BY k.deleted_at IS NOT NULL, k.id LIMIT 1
          ) used ON true
           LEFT JOIN users u ON u.id = m.user_id
           LEFT JOIN providers p ON p.id = served.id
          WHERE {condition}
          ORDER BY m.id"
    )
}

/// Reads what finished or changed since `from`.
pub async fn poll(cch: &PgPool, from: &Position) -> Result<Read, sqlx::Error> {
    let now: DateTime<Utc> = sqlx::query_scalar("SELECT now()").fetch_one(cch).await?;
    // Each row with whether it is read for the first time since it finished.
    let mut rows: Vec<(Row, bool)> = Vec::new();
    // Rows changed since the previous poll among those watched: late costs (pending ids are
    // read below anyway).
    if let Some(since) = from.polled_at {
        let watched: Vec<i64> = from.watched.iter().map(|(id, _)| *id).collect();
        rows.extend(
            sqlx::query_as::<_, Row>(&select(
                "((m.id >= $1 AND m.id < $2) OR m.id = ANY($3)) AND m.updated_at > $4 AND NOT m.id = ANY($5)",
            ))
            .bind(from.watch_from)
            .bind(from.next_id)
            .bind(&watched)
            .bind(since - CLOCK_SLACK)
            .bind(&from.pending)
            .fetch_all(cch)
            .await?
            .into_iter()
            .map(|row| (row, false)),
        );
    }
    if !from.pending.is_empty() {
        rows.extend(
            sqlx::query_as::<_, Row>(&select("m.id = ANY($1)"))
                .bind(&from.pending)
                .fetch_all(cch)
                .await?
                .into_iter()
                .map(|row| (row, true)),
        );
    }
    // New rows, in pages.
    let mut next_id = from.next_id;
    let mut behind = false;
    loop {
        let page = sqlx::query_as::<_, Row>(&format!("{} LIMIT {PAGE}", select("m.id >= $1")))
            .bind(next_id)
            .fetch_all(cch)
            .await?;
        let full = page.len() == PAGE;
        if let Some(last) = page.last() {
            next_id = last.id + 1;
        }
        rows.extend(page.into_iter().map(|row| (row, true)));
        if !full {
            break;
        }
        if rows.len() >= MAX_PER_POLL {
            behind = true;
            break;
        }
    }

    let mut read = Read {
        now,
        behind,
        ..Read::default()
    };
    let mut pending = Vec::new();
    let mut watched: Vec<(i64, DateTime<Utc>)> = from
        .watched
        .iter()
        .copied()
        .filter(|(_, at)| *at > now - WATCH)
        .collect();
    for (row, fresh) in rows {
        if !row.finished {
            if row.created_at > now - ABANDONED_AFTER {
                pending.push(row.id);
            }
            continue;
        }
        if from.pending.contains(&row.id) && row.id < from.watch_from {
            watched.push((row.id, now));
        }
        if !row.billable {
            read.unbilled += 1;
            continue;
        }
        read.finished.push(Finished {
            id: row.id,
            user_id: row.user_id,
            user_name: row.user_name,
            provider_id: row.provider_id,
            provider_name: row.provider_name,
            key_id: row.key_id,
            model: row.model,
            cost_usd: row.cost_usd.unwrap_or_default(),
            input_tokens: row.input_tokens.unwrap_or(0),
            output_tokens: row.output_tokens.unwrap_or(0),
            cache_creation_input_tokens: row.cache_creation_input_tokens.unwrap_or(0),
            cache_read_input_tokens: row.cache_read_input_tokens.unwrap_or(0),
            status_code: row.status_code,
            error: row.error_message.filter(|e| !e.is_empty()),
            created_at: row.created_at,
            updated_at: row.updated_at,
            fresh,
        });
    }
    pending.sort_unstable();
    pending.dedup();
    watched.sort_unstable();
    watched.dedup_by_key(|(id, _)| *id);
    // The range watched starts where the new rows began at the last poll before the watch
    // (rows first seen since are watched); a young tail watches from where it began.
    let mut marks: Vec<(DateTime<Utc>, i64)> = from.marks.clone();
    marks.push((now, from.next_id));
    marks.retain(|(at, _)| *at > now - WATCH - WATCH);
    let watch_from = marks
        .iter()
        .rev()
        .find(|(at, _)| *at <= now - WATCH)
        .or(marks.first())
        .map_or(from.next_id, |(_, id)| *id);
    read.position = Position {
        next_id,
        pending,
        watch_from,
        watched,
        marks,
        polled_at: Some(now),
    };
    Ok(read)
}

/// The columns the tail and the mirror read, by table: the connector was built against Claude Code Hub
/// v0.9.x, and says which one is missing rather than failing on a query.
pub const REQUIRED_COLUMNS: &[(&str, &[&str])] = &[
    (
        "message_request",
        &[
            "id",
            "provider_id",
            "user_id",
            "key",
            "model",
            "original_model",
            "cost_usd",
            "input_tokens",
            "output_tokens",
            "cache_creation_input_tokens",
            "cache_read_input_tokens",
            "status_code",
            "error_message",
            "blocked_by",
            "is_replay",
            "endpoint",
            "provider_chain",
            "created_at",
            "updated_at",
            "deleted_at",
        ],
    ),
    (
        "users",
        &[
            "id",
            "name",
            "limit_5h_usd",
            "daily_limit_usd",
            "limit_weekly_usd",
            "limit_monthly_usd",
            "limit_total_usd",
            "daily_reset_mode",
            "daily_reset_time",
            "is_enabled",
            "deleted_at",
        ],
    ),
    (
        "keys",
        &[
            "id",
            "user_id",
            "key",
            "name",
            "limit_5h_usd",
            "limit_daily_usd",
            "limit_weekly_usd",
            "limit_monthly_usd",
            "limit_total_usd",
            "daily_reset_mode",
            "daily_reset_time",
            "is_enabled",
            "deleted_at",
        ],
    ),
    (
        "providers",
        &[
            "id",
            "name",
            "limit_5h_usd",
            "limit_daily_usd",
            "limit_weekly_usd",
            "limit_monthly_usd",
            "limit_total_usd",
            "daily_reset_mode",
            "daily_reset_time",
            "circuit_breaker_failure_threshold",
            "circuit_breaker_open_duration",
            "circuit_breaker_half_open_success_threshold",
            "is_enabled",
            "deleted_at",
        ],
    ),
];

/// The required columns CCH's database lacks (`table.column`).
pub async fn missing_columns(cch: &PgPool) -> Result<Vec<String>, sqlx::Error> {
    let present: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text FROM information_schema.columns
          WHERE table_schema = current_schema()",
    )
    .fetch_all(cch)
    .await?;
    Ok(REQUIRED_COLUMNS
        .iter()
        .flat_map(|(table, columns)| columns.iter().map(move |c| (*table, *c)))
        .filter(|(table, column)| !present.iter().any(|(t, c)| t == table && c == column))
        .map(|(table, column)| format!("{table}.{column}"))
        .collect())
}
