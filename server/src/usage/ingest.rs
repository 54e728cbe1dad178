//! Usage ingest (`POST /api/v1/usage`): a gateway reports its requests in batches. Each event is
//! checked on its own (the valid ones of a batch are kept), stored once per `requestId`, added in
//! the same statement to the rollups (per user, API key and provider, by quarter-hour and by
//! day; migrations 0005 and 0015 say why these), and — only when new — fed to its provider's
//! circuit breaker.
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::PgPool;
use utoipa::ToSchema;

use crate::usage::event::UsageEvent;

/// Events per request: enough for a gateway's flush interval, small enough to bound one statement.
pub const MAX_BATCH: usize = 5000;
/// Ids a gateway reports over HTTP stay below this; from here on they are ours, given to the
/// users and providers other sources name by ids of their own (`source_entity_ids`, migration
/// 0012).
pub const GATEWAY_ID_LIMIT: i64 = 1_000_000_000_000;
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UsageBatch {
    /// Parsed one by one, so one bad event does not sink the batch.
    #[schema(value_type = Vec<UsageEvent>)]
    pub events: Vec<Value>,
}

#[derive(Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RejectedEvent {
    pub index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    pub reason: String,
}

#[derive(Debug, Default, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IngestReport {
    /// New events stored.
    pub accepted: usize,
    /// Events whose `requestId` was stored before (or repeated in this batch): ignored.
    pub duplicates: usize,
    pub rejected: Vec<RejectedEvent>,
}

/// What [`Ingestor::ingest_valid`] did with a batch.
#[derive(Debug)]
pub struct Ingested {
    /// The batch without repeats of a request id.
    pub events: Vec<UsageEvent>,
    /// Indexes into `events` of those stored now for the first time.
    pub new: Vec<usize>,
    /// Indexes into `events` of those stored before whose values changed ([`Repeats::Revise`]).
    pub revised: Vec<usize>,
    /// Events of the batch that changed nothing: repeats within it, or of earlier batches.
    pub duplicates: usize,
}

/// Splits a gateway's batch (`POST /api/v1/usage`) into valid events (with their index) and
/// rejections.
pub fn validate(batch: Vec<Value>) -> (Vec<(usize, UsageEvent)>, Vec<RejectedEvent>) {
    let mut valid = Vec::with_capacity(batch.len());
    let mut rejected = Vec::new();
    for (index, raw) in batch.into_iter().enumerate() {
        let request_id = raw.get("requestId").and_then(Value::as_str).map(str::to_owned);
        let event = serde_json::from_value::<UsageEvent>(raw)
            .map_err(|e| e.to_string())
            .and_then(UsageEvent::checked)
            .and_then(|e| {
                if e.user_id >= GATEWAY_ID_LIMIT || e.provider_id >= GATEWAY_ID_LIMIT {
                    Err(format!("userId and providerId must be below {GATEWAY_ID_LIMIT}"))
                } else {
                    Ok(e)
                }
            });
        match event {
            Ok(event) => valid.push((index, event)),
            Err(reason) => rejected.push(RejectedEvent {
                index,
                request_id,
                reason,
            }),
        }
    }
    (valid, rejected)
}

/// How long a stored name is trusted without being written again: a rename reported through
/// another instance reaches this one's writes within this time.
const NAMES_TRUSTED_FOR: Duration = Duration::from_secs(300);
/// Names remembered at most (then forgotten at once, and learnt again).
const NAMES_REMEMBERED: usize = 100_000;

/// The user and provider names this process stored lately, so a batch writes only those that
/// are new or renamed: checking a thousand unchanged names cost a third of the ingest statement.
#[derive(Default)]
pub struct KnownNames {
    names: Mutex<HashMap<(Entity, i64), (String, Instant)>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Entity {
    User,
    Provider,
}

impl KnownNames {
    /// The entries of `names` not stored lately under that name.
    fn unknown<'a>(&self, entity: Entity, names: &BTreeMap<i64, &'a str>) -> BTreeMap<i64, &'a str> {
        let known = self.names.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        names
            .iter()
            .filter(|(id, name)| {
                known
                    .get(&(entity, **id))
                    .is_none_or(|(stored, at)| stored != **name || at.elapsed() > NAMES_TRUSTED_FOR)
            })
            .map(|(id, name)| (*id, *name))
            .collect()
    }

    fn remember(&self, entity: Entity, names: &BTreeMap<i64, &str>) {
        let mut known = self.names.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if known.len() + names.len() > NAMES_REMEMBERED {
            known.clear();
        }
        let now = Instant::now();
        for (id, name) in names {
            known.insert((entity, *id), ((*name).to_owned(), now));
        }
    }
}

/// What storing does with an event whose request id was stored before.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Repeats {
    /// Leaves the stored row as it is: a gateway sending a batch again.
    Ignore,
    /// Replaces the stored row when a value differs, and moves the rollups from the old values
    /// to the new: a source whose rows change after they were first read (Claude Code Hub
    /// writes a request's cost after its status).
    Revise,
}

/// What [`store`] did with the events: indexes of the new ones and of the revised ones.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Stored {
    pub new: Vec<usize>,
    pub revised: Vec<usize>,
}

/// Stores events (request ids unique within the slice). One statement, atomic on its own: users
/// and providers are added or renamed (names follow the gateway; those `known` has stored lately
/// are left out), the raw rows inserted once per request id (or revised, see [`Repeats`]), and
/// exactly the changes added to the rollups.
pub async fn store(
    db: &PgPool,
    timezone: chrono_tz::Tz,
    events: &[UsageEvent],
    known: &KnownNames,
    repeats: Repeats,
) -> Result<Stored, sqlx::Error> {
    if events.is_empty() {
        return Ok(Stored::default());
    }
    // Last name wins within a batch.
    let all_users: BTreeMap<i64, &str> = events.iter().map(|e| (e.user_id, e.user_name.as_str())).collect();
    let all_providers: BTreeMap<i64, &str> = events
        .iter()
        .map(|e| (e.provider_id, e.provider_name.as_str()))
        .collect();
    let users = known.unknown(Entity::User, &all_users);
    let providers = known.unknown(Entity::Provider, &all_providers);
    const COLUMNS: &str = "request_id, user_id, provider_id, model, cost_usd, input_tokens, output_tokens, \
                           cache_creation_input_tokens, cache_read_input_tokens, success, status_code, \
                           error_message, created_at, key_id";
    const TOKENS: &str = "input_tokens + output_tokens + cache_creation_input_tokens + cache_read_input_tokens";
    // The rows stored now, and the rollups' changes: +1 request and the values of each stored
    // row, and for a revised one -1 and its old values.
    let (old, on_conflict, old_deltas) = match repeats {
        Repeats::Ignore => (String::new(), "DO NOTHING".to_owned(), String::new()),
        Repeats::Revise => {
            let values = COLUMNS.trim_start_matches("request_id, ");
            let excluded: Vec<String> = values.split(", ").map(|c| format!("EXCLUDED.{c}")).collect();
            let current: Vec<String> = values.split(", ").map(|c| format!("usage_records.{c}")).collect();
            (
                "old AS (
                         SELECT r.request_id, r.user_id, r.provider_id, r.key_id, r.cost_usd, r.created_at,
                                r.input_tokens + r.output_tokens + r.cache_creation_input_tokens
                                + r.cache_read_input_tokens AS tokens
                           -- Not FOR UPDATE: run after `stored`, it would skip the rows
                           -- `stored` updated; the statement's snapshot has their old values.
                           FROM usage_records r JOIN input USING (request_id)
                     ), "
                .to_owned(),
                format!(
                    "DO UPDATE SET ({values}, ingested_at) = ({}, now())
                     WHERE ({}) IS DISTINCT FROM ({})",
                    excluded.join(", "),
                    current.join(", "),
                    excluded.join(", ")
                ),
                "UNION ALL
                 SELECT o.user_id, o.provider_id, o.key_id, o.created_at, -1, -o.cost_usd, -o.tokens, true
                   FROM old o JOIN stored USING (request_id)"
                    .to_owned(),
            )
        }
    };
    let revised = if repeats == Repeats::Revise {
        "request_id IN (SELECT request_id FROM old)"
    } else {
        "false"
    };
    let rows: Vec<(String, bool)> = sqlx::query_as(&format!(
        // Users and providers first: added when new, renamed when their name changed (unless a
        // gateway's mirror keeps them: `crate::usage::mirror`), left alone (unlocked) otherwise. An upsert (`ON CONFLICT DO UPDATE … WHERE`) would lock every row it
        // meets for the whole statement, and as every batch names the same few providers,
        // concurrent batches would queue behind each other.
        "WITH new_users AS (
             INSERT INTO users (id, name) SELECT * FROM UNNEST($15::bigint[], $16::text[])
             ON CONFLICT (id) DO NOTHING
         ), renamed_users AS (
             UPDATE users x SET name = i.name, updated_at = now()
               FROM UNNEST($15::bigint[], $16::text[]) AS i(id, name)
              WHERE x.id = i.id AND x.name IS DISTINCT FROM i.name AND x.synced_at IS NULL
         ), new_providers AS (
             INSERT INTO providers (id, name) SELECT * FROM UNNEST($17::bigint[], $18::text[])
             ON CONFLICT (id) DO NOTHING
         ), renamed_providers AS (
             UPDATE providers x SET name = i.name, updated_at = now()
               FROM UNNEST($17::bigint[], $18::text[]) AS i(id, name)
              WHERE x.id = i.id AND x.name IS DISTINCT FROM i.name AND x.synced_at IS NULL
         ), input AS (
             SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::numeric[],
                                  $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $10::bool[],
                                  $11::int[], $12::text[], $13::timestamptz[], $19::bigint[])
                 AS t({COLUMNS})
         ), {old}stored AS (
             INSERT INTO usage_records ({COLUMNS})
             SELECT * FROM input
             ON CONFLICT (request_id) {on_conflict}
             RETURNING request_id, user_id, provider_id, key_id, cost_usd, created_at, {TOKENS} AS tokens
         ), deltas AS (
             SELECT user_id, provider_id, key_id, created_at, 1 AS requests, cost_usd, tokens,
                    {revised} AS revision
               FROM stored
             {old_deltas}
         ){rollups}
         SELECT request_id, {revised} FROM stored",
        rollups = ROLLUPS.iter().map(Rollup::cte).collect::<String>(),
    ))
    .bind(events.iter().map(|e| e.request_id.clone()).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.user_id).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.provider_id).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.model.clone()).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.cost_usd).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.input_tokens).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.output_tokens).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.cache_creation_input_tokens).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.cache_read_input_tokens).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.success).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.status_code).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.error.clone()).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.created_at).collect::<Vec<_>>())
    .bind(timezone.name())
    .bind(users.keys().copied().collect::<Vec<_>>())
    .bind(users.values().map(|n| n.to_string()).collect::<Vec<_>>())
    .bind(providers.keys().copied().collect::<Vec<_>>())
    .bind(providers.values().map(|n| n.to_string()).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.key_id).collect::<Vec<_>>())
    .fetch_all(db)
    .await?;
    known.remember(Entity::User, &users);
    known.remember(Entity::Provider, &providers);

    let changed: HashMap<String, bool> = rows.into_iter().collect();
    let mut stored = Stored::default();
    for (i, e) in events.iter().enumerate() {
        match changed.get(&e.request_id) {
            Some(false) => stored.new.push(i),
            Some(true) => stored.revised.push(i),
            None => {}
        }
    }
    Ok(stored)
}

/// A rollup the stored rows are added to: per account and quarter-hour (the rolling windows, and
/// days not cut at midnight; kept [`BUCKETS_KEPT`]) or per account and day in `APP_TIMEZONE`.
struct Rollup {
    table: &'static str,
    /// The account column (`key_id` may be null: a request made without a known key).
    account: &'static str,
    daily: bool,
    /// A shard per connection: every batch names the same few providers (migration 0008).
    sharded: bool,
}

const ROLLUPS: [Rollup; 6] = [
    Rollup {
        table: "usage_user_buckets",
        account: "user_id",
        daily: false,
        sharded: false,
    },
    Rollup {
        table: "usage_key_buckets",
        account: "key_id",
        daily: false,
        sharded: false,
    },
    Rollup {
        table: "usage_provider_buckets",
        account: "provider_id",
        daily: false,
        sharded: true,
    },
    Rollup {
        table: "usage_user_daily",
        account: "user_id",
        daily: true,
        sharded: false,
    },
    Rollup {
        table: "usage_key_daily",
        account: "key_id",
        daily: true,
        sharded: false,
    },
    Rollup {
        table: "usage_provider_daily",
        account: "provider_id",
        daily: true,
        sharded: true,
    },
];

impl Rollup {
    /// `, <table> AS (INSERT … the deltas, summed … ON CONFLICT add)`, after `deltas` in the
    /// ingest statement (`$14` is the time zone).
    fn cte(&self) -> String {
        let (table, account) = (self.table, self.account);
        let (period, value, mut filter) = if self.daily {
            ("day", "(created_at AT TIME ZONE $14)::date".to_owned(), Vec::new())
        } else {
            (
                "bucket",
                "date_bin('15 minutes', created_at, TIMESTAMPTZ '2000-01-01 00:00:00+00')".to_owned(),
                // A revision of a quarter-hour already pruned has nothing to correct there.
                vec![format!(
                    "(NOT revision OR created_at >= now() - interval '{} hours')",
                    BUCKETS_KEPT.num_hours()
                )],
            )
        };
        if account == "key_id" {
            filter.push("key_id IS NOT NULL".to_owned());
        }
        let filter = if filter.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", filter.join(" AND "))
        };
        let (shard_column, shard) = if self.sharded {
            (", shard", ", pg_backend_pid() % 8")
        } else {
            ("", "")
        };
        format!(
            ", to_{table} AS (
             INSERT INTO {table} ({period}, {account}{shard_column}, requests, cost_usd, tokens)
             SELECT {value}, {account}{shard}, sum(requests), sum(cost_usd), sum(tokens)
               FROM deltas {filter}
              GROUP BY 1, 2
              ORDER BY 1, 2
             ON CONFLICT ({period}, {account}{shard_column}) DO UPDATE
                SET requests = {table}.requests + EXCLUDED.requests,
                    cost_usd = {table}.cost_usd + EXCLUDED.cost_usd,
                    tokens = {table}.tokens + EXCLUDED.tokens
         )"
        )
    }
}

/// Who hears of the circuit transitions ingest causes: the breaker alerts, in the notifications
/// layer above this one (a trait, so that usage does not depend on notifications).
#[async_trait::async_trait]
pub trait TransitionObserver: Send + Sync {
    /// `events` are the outcomes of this provider that were fed with the transition (its
    /// `index` points into them).
    async fn on_transition(
        &self,
        provider_id: i64,
        provider_name: &str,
        transition: &crate::usage::breaker::Transition,
        events: &[&UsageEvent],
    );
}

/// Ingest with its consequences: storage, then the breakers of the providers concerned, then
/// whoever observes their transitions.
#[derive(Clone)]
pub struct Ingestor {
    db: PgPool,
    timezone: chrono_tz::Tz,
    breakers: crate::usage::breaker::Breakers,
    observer: Arc<dyn TransitionObserver>,
    known_names: Arc<KnownNames>,
}

impl Ingestor {
    pub fn new(
        db: PgPool,
        timezone: chrono_tz::Tz,
        breakers: crate::usage::breaker::Breakers,
        observer: Arc<dyn TransitionObserver>,
    ) -> Self {
        Ingestor {
            db,
            timezone,
            breakers,
            observer,
            known_names: Arc::new(KnownNames::default()),
        }
    }

    /// [`store`] with this ingestor's memory of names.
    pub async fn store(&self, events: &[UsageEvent], repeats: Repeats) -> Result<Stored, sqlx::Error> {
        store(&self.db, self.timezone, events, &self.known_names, repeats).await
    }

    pub async fn ingest(&self, batch: Vec<Value>) -> Result<IngestReport, sqlx::Error> {
        let (valid, rejected) = validate(batch);
        let ingested = self.ingest_valid(valid.into_iter().map(|(_, e)| e).collect()).await?;
        Ok(IngestReport {
            accepted: ingested.new.len(),
            duplicates: ingested.duplicates,
            rejected,
        })
    }

    /// Stores checked events ([`UsageEvent::checked`]) once per request id, and feeds the new
    /// ones to their providers' breakers.
    pub async fn ingest_valid(&self, events: Vec<UsageEvent>) -> Result<Ingested, sqlx::Error> {
        self.ingest_checked(events, Repeats::Ignore, true).await
    }

    /// Stores checked events, revising those stored before whose values changed (the last of
    /// a request id in the batch wins); the new ones are fed to their providers' breakers unless
    /// the source keeps its own (`feed_breakers` false).
    pub async fn ingest_revisions(
        &self,
        events: Vec<UsageEvent>,
        feed_breakers: bool,
    ) -> Result<Ingested, sqlx::Error> {
        let mut latest: HashMap<String, usize> = HashMap::new();
        for (i, e) in events.iter().enumerate() {
            latest.insert(e.request_id.clone(), i);
        }
        let events = events
            .into_iter()
            .enumerate()
            .filter(|(i, e)| latest.get(&e.request_id) == Some(i))
            .map(|(_, e)| e)
            .collect();
        self.ingest_checked(events, Repeats::Revise, feed_breakers).await
    }

    async fn ingest_checked(
        &self,
        events: Vec<UsageEvent>,
        repeats: Repeats,
        feed_breakers: bool,
    ) -> Result<Ingested, sqlx::Error> {
        let mut seen = std::collections::HashSet::new();
        let total = events.len();
        let events: Vec<UsageEvent> = events
            .into_iter()
            .filter(|e| seen.insert(e.request_id.clone()))
            .collect();
        let stored = self.store(&events, repeats).await?;
        if feed_breakers {
            self.drive_breakers(stored.new.iter().map(|i| &events[*i]).collect())
                .await;
        }
        Ok(Ingested {
            duplicates: total - stored.new.len() - stored.revised.len(),
            events,
            new: stored.new,
            revised: stored.revised,
        })
    }

    pub fn db(&self) -> &PgPool {
        &self.db
    }

    /// Feeds new outcomes to the breakers, per provider in request time order. Outcomes the
    /// breakers cannot take now (Redis away), or that would overtake outcomes still waiting,
    /// go to the [`crate::usage::breaker_backlog`], replayed once Redis answers. Failures here are
    /// logged, not returned: the usage is stored either way.
    async fn drive_breakers(&self, mut events: Vec<&UsageEvent>) {
        if events.is_empty() {
            return;
        }
        events.sort_by_key(|e| (e.provider_id, e.created_at));
        let ids: Vec<i64> = events
            .iter()
            .map(|e| e.provider_id)
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let (waiting, settings) = match tokio::try_join!(
            crate::usage::breaker_backlog::waiting(&self.db, &ids),
            crate::usage::providers::breaker_settings(&self.db, &ids),
        ) {
            Ok(found) => found,
            Err(e) => {
                tracing::error!(error = %e, "breaker settings unavailable; outcomes kept for later");
                if let Err(e) = crate::usage::breaker_backlog::defer(&self.db, &events).await {
                    tracing::error!(error = %e, "keeping outcomes for the breakers failed; they are not counted");
                }
                return;
            }
        };
        let mut redis_away = false;
        for group in events.chunk_by(|a, b| a.provider_id == b.provider_id) {
            let provider_id = group[0].provider_id;
            if !redis_away && !waiting.contains(&provider_id) {
                let config = settings.get(&provider_id).copied().unwrap_or_default();
                match self.feed(provider_id, config, group).await {
                    Ok(()) => continue,
                    Err(e) => {
                        // The next providers would wait for the same timeout: they queue too.
                        tracing::warn!(provider_id, error = %e, "circuit breakers unavailable; outcomes kept for later");
                        redis_away = true;
                    }
                }
            }
            if let Err(e) = crate::usage::breaker_backlog::defer(&self.db, group).await {
                tracing::error!(provider_id, error = %e, "keeping outcomes for the breaker failed; they are not counted");
            }
        }
    }

    /// Follows a breaker its gateway keeps (`observed`, as the gateway has it) instead of
    /// computing it: the change, if any, is heard by the observer as ingest's own transitions
    /// are; `last_failure` is the latest failed request on the provider known here, for the
    /// alert's last error.
    pub async fn follow_circuit(
        &self,
        provider_id: i64,
        provider_name: &str,
        observed: crate::usage::breaker::Observed,
        last_failure: Option<&UsageEvent>,
    ) -> Result<Option<crate::usage::breaker::Transition>, crate::usage::breaker::BreakerError> {
        let transition = self.breakers.follow(provider_id, observed).await?;
        if let Some(t) = &transition {
            let events: Vec<&UsageEvent> = last_failure.into_iter().collect();
            self.observer
                .on_transition(provider_id, provider_name, t, &events)
                .await;
        }
        Ok(transition)
    }

    /// Feeds one provider's outcomes (in order) to its breaker and raises the alerts of the
    /// transitions they cause.
    pub(crate) async fn feed(
        &self,
        provider_id: i64,
        config: crate::usage::breaker::BreakerSettings,
        group: &[&UsageEvent],
    ) -> Result<(), crate::usage::breaker::BreakerError> {
        let outcomes: Vec<bool> = group.iter().map(|e| e.success).collect();
        let transitions = self.breakers.record(provider_id, config, &outcomes).await?;
        for t in transitions {
            self.observer
                .on_transition(provider_id, &group[0].provider_name, &t, group)
                .await;
        }
        Ok(())
    }
}

/// How much of the quarter-hour rollups is kept: the longest window read from them (a day that
/// does not start at midnight: the last 24 hours at most), and an hour for events reported late
/// and for clocks that disagree.
pub const BUCKETS_KEPT: chrono::Duration = chrono::Duration::hours(25);
/// How often [`prune_loop`] prunes.
const PRUNE_EVERY: std::time::Duration = std::time::Duration::from_secs(5 * 60);

/// Deletes the quarter-hours no window reads any more; returns how many.
pub async fn prune_buckets(db: &PgPool, now: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    let mut pruned = 0;
    for table in ["usage_user_buckets", "usage_key_buckets", "usage_provider_buckets"] {
        pruned += sqlx::query(&format!("DELETE FROM {table} WHERE bucket < $1"))
            .bind(now - BUCKETS_KEPT)
            .execute(db)
            .await?
            .rows_affected();
    }
    Ok(pruned)
}

/// Prunes the buckets every [`PRUNE_EVERY`] until `shutdown` (every instance; they agree).
pub async fn prune_loop(db: PgPool, mut shutdown: crate::platform::shutdown::Shutdown) {
    loop {
        match prune_buckets(&db, Utc::now()).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(rows = n, "old usage buckets pruned"),
            Err(e) => tracing::warn!(error = %e, "pruning usage buckets failed"),
        }
        if !crate::platform::shutdown::pause(PRUNE_EVERY, &mut shutdown).await {
            return;
        }
    }
}

/// Makes the daily rollups agree with `APP_TIMEZONE`: on first start it records the zone; after
/// the zone changed it recomputes the days. Returns whether it rebuilt.
pub async fn align_daily_rollups(db: &PgPool, timezone: chrono_tz::Tz) -> Result<bool, sqlx::Error> {
    let mut tx = db.begin().await?;
    // One instance at a time; the others find the zone already recorded.
    sqlx::query("LOCK TABLE usage_meta IN EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await?;
    let recorded: Option<String> = sqlx::query_scalar("SELECT daily_timezone FROM usage_meta WHERE id = 1")
        .fetch_optional(&mut *tx)
        .await?;
    let rebuild = recorded.as_deref().is_some_and(|z| z != timezone.name());
    if rebuild {
        // From the raw rows, in one pass per rollup (rare: only when the zone changes; the
        // buckets keep only the last hours, so they cannot say what a whole history was).
        sqlx::query("TRUNCATE usage_user_daily, usage_key_daily, usage_provider_daily")
            .execute(&mut *tx)
            .await?;
        for (table, column) in [
            ("usage_user_daily", "user_id"),
            ("usage_key_daily", "key_id"),
            ("usage_provider_daily", "provider_id"),
        ] {
            sqlx::query(&format!(
                "INSERT INTO {table} (day, {column}, requests, cost_usd, tokens)
                 SELECT (created_at AT TIME ZONE $1)::date, {column}, count(*), sum(cost_usd),
                        sum(input_tokens + output_tokens + cache_creation_input_tokens + cache_read_input_tokens)
                   FROM usage_records WHERE {column} IS NOT NULL GROUP BY 1, 2"
            ))
            .bind(timezone.name())
            .execute(&mut *tx)
            .await?;
        }
    }
    sqlx::query(
        "INSERT INTO usage_meta (id, daily_timezone) VALUES (1, $1)
         ON CONFLICT (id) DO UPDATE SET daily_timezone = EXCLUDED.daily_timezone",
    )
    .bind(timezone.name())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(rebuild)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_new_and_renamed_names_are_written_again() {
        let known = KnownNames::default();
        let batch: BTreeMap<i64, &str> = [(1, "张三"), (2, "李四")].into();
        assert_eq!(known.unknown(Entity::User, &batch), batch, "nothing known yet");
        known.remember(Entity::User, &batch);
        assert!(known.unknown(Entity::User, &batch).is_empty());
        assert_eq!(
            known.unknown(Entity::Provider, &batch),
            batch,
            "providers are not users"
        );
        let renamed: BTreeMap<i64, &str> = [(1, "张三丰"), (2, "李四"), (3, "王五")].into();
        assert_eq!(
            known.unknown(Entity::User, &renamed),
            [(1, "张三丰"), (3, "王五")].into()
        );
    }
}
