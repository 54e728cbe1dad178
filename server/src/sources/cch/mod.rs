//! Claude Code Hub, read from its own PostgreSQL (`CCH_DATABASE_URL`): at every poll its users
//! and providers are mirrored ([`mirror`]) and its finished requests become usage ([`tail`]);
//! with `CCH_REDIS_URL` its circuit breakers are followed ([`circuits`]). One instance polls at a
//! time, every `CCH_POLL_INTERVAL` (a [`Lease`] in Redis; another takes over within
//! [`LEASE_TTL`] and a poll of a holder that died).
//! Built against Claude Code Hub v0.9.x: a column it needs that is missing is reported as the
//! source's error (on the sources API), and the process runs on.
pub mod circuits;
pub mod mirror;
pub mod tail;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;

use super::activity::{rfc3339, Outcome};
use super::identities::Entity;
use super::lease::Lease;
use super::{Source, Sources};
use crate::platform::config::CchConfig;
use crate::platform::shutdown::{pause, stopping, Shutdown};
use crate::usage::event::UsageEvent;
use crate::usage::ingest::RejectedEvent;
pub use app::sources::TailStatus;
use circuits::CchCircuits;
use tail::{Finished, Position};

/// How long the lease outlives its holder's last renewal.
pub const LEASE_TTL: Duration = Duration::from_secs(15);
const CURSOR: &str = "cch";
/// Prefix of our request ids, so CCH's ids cannot meet another source's.
const REQUEST_PREFIX: &str = "cch:";

/// Why a poll failed.
#[derive(Debug, thiserror::Error)]
pub enum CchError {
    #[error("Claude Code Hub's database: {0}")]
    Cch(sqlx::Error),
    #[error("Claude Code Hub's database lacks {0} (this connector reads Claude Code Hub v0.9.x)")]
    Schema(String),
    #[error("database: {0}")]
    Ours(#[from] sqlx::Error),
    #[error("Redis (the lease): {0}")]
    Redis(#[from] fred::error::Error),
    #[error("Claude Code Hub's Redis: {0}")]
    CchRedis(fred::error::Error),
    #[error("following a circuit breaker: {0}")]
    Breaker(#[from] crate::usage::breaker::BreakerError),
}

/// The tail of one Claude Code Hub deployment.
pub struct Cch {
    config: CchConfig,
    sources: Sources,
    lease: Lease,
    /// CCH's Redis once connected (with `CCH_REDIS_URL`).
    circuits: Option<CchCircuits>,
    /// The latest failed request read per provider (ours), for a followed breaker's alert.
    last_failures: HashMap<i64, UsageEvent>,
}

impl Cch {
    pub fn new(config: CchConfig, sources: Sources, lease: Lease) -> Self {
        Cch {
            config,
            sources,
            lease,
            circuits: None,
            last_failures: HashMap::new(),
        }
    }

    /// Polls while this instance holds the lease, until `shutdown`.
    pub async fn run(mut self, mut shutdown: Shutdown) {
        let cch = match PgPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(Duration::from_secs(5))
            .connect_lazy(self.config.database_url.expose())
        {
            Ok(pool) => pool,
            Err(e) => {
                self.failed(&CchError::Cch(e)).await;
                return;
            }
        };
        let mut holding = false;
        let mut checked_schema = false;
        while !stopping(&shutdown) {
            match self.turn(&cch, &mut holding, &mut checked_schema).await {
                Ok(caught_up) if !caught_up => continue,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(source = "cch", error = %e, "polling Claude Code Hub failed");
                    self.failed(&e).await;
                }
            }
            if !pause(self.config.poll_interval, &mut shutdown).await {
                break;
            }
        }
        // Whether or not a turn got as far as the cursor: the lease only goes if it is ours.
        let _ = self.lease.release().await;
        if let Some(circuits) = self.circuits.take() {
            circuits.close().await;
        }
        cch.close().await;
    }

    /// One turn: the lease, then a poll when held. `Ok(false)` when rows are still waiting.
    async fn turn(&mut self, cch: &PgPool, holding: &mut bool, checked_schema: &mut bool) -> Result<bool, CchError> {
        if !self.lease.hold().await? {
            *holding = false;
            return Ok(true);
        }
        let db = self.sources.db.clone();
        let position = if *holding {
            load(&db, self.lease.token()).await?
        } else {
            // Taken over: fence out the previous holder.
            *checked_schema = false;
            Some(claim(&db, self.lease.token()).await?)
        };
        *holding = true;
        let Some(position) = position else {
            // Another instance claimed the cursor: it holds the lease now.
            *holding = false;
            return Ok(true);
        };
        if !*checked_schema {
            let missing = tail::missing_columns(cch).await.map_err(CchError::Cch)?;
            if !missing.is_empty() {
                return Err(CchError::Schema(missing.join(", ")));
            }
            *checked_schema = true;
        }
        // Users and providers first, so the requests read next find them as CCH has them now.
        mirror::sync(cch, &db).await?;
        let read = tail::poll(cch, &position).await.map_err(CchError::Cch)?;
        // How long the oldest request finished before this poll began.
        let lag = read
            .finished
            .iter()
            .filter(|f| f.fresh)
            .map(|f| f.updated_at)
            .min()
            .map_or(0.0, |oldest| (read.now - oldest).as_seconds_f64().max(0.0));
        let following = self.config.redis_url.is_some();
        let stored = self.sources.ingest_cch(&read.finished, !following).await?;
        for e in stored.into_iter().filter(|e| !e.success) {
            self.last_failures.insert(e.provider_id, e);
        }
        self.sources.metrics.lag(Source::Cch, lag);
        if !save(&db, self.lease.token(), &read.position, lag).await? {
            *holding = false;
            return Ok(true);
        }
        // After the cursor is saved: CCH's Redis being away holds up no usage.
        if following {
            self.follow_circuits().await?;
        }
        Ok(!read.behind)
    }

    /// Takes CCH's breakers as those of its providers here.
    async fn follow_circuits(&mut self) -> Result<(), CchError> {
        let Some(url) = &self.config.redis_url else {
            return Ok(());
        };
        if self.circuits.is_none() {
            self.circuits = Some(CchCircuits::connect(url.expose()).await.map_err(CchError::CchRedis)?);
        }
        let Some(circuits) = &self.circuits else {
            return Ok(());
        };
        let providers: Vec<(i64, String, String)> = sqlx::query_as(
            "SELECT id, source_ref, name FROM providers
              WHERE source = $1 AND synced_at IS NOT NULL AND deleted_at IS NULL ORDER BY id",
        )
        .bind(Source::Cch.key())
        .fetch_all(&self.sources.db)
        .await?;
        let refs: Vec<&str> = providers.iter().map(|(_, r, _)| r.as_str()).collect();
        let observed = circuits.read(&refs).await.map_err(CchError::CchRedis)?;
        for ((id, _, name), observed) in providers.iter().zip(observed) {
            self.sources
                .ingestor
                .follow_circuit(*id, name, observed, self.last_failures.get(id))
                .await?;
        }
        Ok(())
    }

    /// Records the error for every instance's sources API.
    async fn failed(&self, error: &CchError) {
        let result = sqlx::query(
            "INSERT INTO source_cursors (source, position, last_error, last_error_at) VALUES ($1, '{}', $2, now())
             ON CONFLICT (source) DO UPDATE SET last_error = EXCLUDED.last_error, last_error_at = now(), updated_at = now()",
        )
        .bind(CURSOR)
        .bind(error.to_string())
        .execute(&self.sources.db)
        .await;
        if let Err(e) = result {
            tracing::warn!(source = "cch", error = %e, "recording the source's error failed");
        }
    }
}

/// The cursor, taken over by `holder`.
async fn claim(db: &PgPool, holder: &str) -> Result<Position, sqlx::Error> {
    let position: serde_json::Value = sqlx::query_scalar(
        "INSERT INTO source_cursors (source, holder, position) VALUES ($1, $2, '{}')
         ON CONFLICT (source) DO UPDATE SET holder = EXCLUDED.holder, updated_at = now()
         RETURNING position",
    )
    .bind(CURSOR)
    .bind(holder)
    .fetch_one(db)
    .await?;
    Ok(serde_json::from_value(position).unwrap_or_default())
}

/// The cursor, while `holder` still holds it.
async fn load(db: &PgPool, holder: &str) -> Result<Option<Position>, sqlx::Error> {
    let position: Option<serde_json::Value> =
        sqlx::query_scalar("SELECT position FROM source_cursors WHERE source = $1 AND holder = $2")
            .bind(CURSOR)
            .bind(holder)
            .fetch_optional(db)
            .await?;
    Ok(position.map(|p| serde_json::from_value(p).unwrap_or_default()))
}

/// Saves the cursor unless another instance took it over since; whether it was saved.
async fn save(db: &PgPool, holder: &str, position: &Position, lag: f64) -> Result<bool, sqlx::Error> {
    let saved = sqlx::query(
        "UPDATE source_cursors SET position = $3, polled_at = now(), lag_seconds = $4, last_error = NULL,
                                   last_error_at = NULL, updated_at = now()
          WHERE source = $1 AND holder = $2",
    )
    .bind(CURSOR)
    .bind(holder)
    .bind(serde_json::to_value(position).expect("a position serializes"))
    .bind(lag)
    .execute(db)
    .await?;
    Ok(saved.rows_affected() == 1)
}

/// The cursor row's account of the last poll.
#[derive(Default, sqlx::FromRow)]
struct LastPoll {
    polled_at: Option<DateTime<Utc>>,
    lag_seconds: Option<f64>,
    last_error: Option<String>,
    last_error_at: Option<DateTime<Utc>>,
}

/// The CCH tail's status: its cursor row and the lease's holder.
pub async fn status(db: &PgPool, lease: &Lease) -> Result<TailStatus, CchError> {
    let last: LastPoll = sqlx::query_as(
        "SELECT polled_at, lag_seconds, last_error, last_error_at FROM source_cursors WHERE source = $1",
    )
    .bind(CURSOR)
    .fetch_optional(db)
    .await?
    .unwrap_or_default();
    Ok(TailStatus {
        active_instance: lease.holder().await?,
        polled_at: last.polled_at.map(rfc3339),
        lag_seconds: last.lag_seconds,
        last_error: last.last_error,
        last_error_at: last.last_error_at.map(rfc3339),
    })
}

/// A finished request as one of our events (user and provider ids still CCH's).
fn event(f: &Finished) -> UsageEvent {
    let success = f.error.is_none() && f.status_code.is_some_and(|s| (200..300).contains(&s));
    let named = |n: &Option<String>, otherwise: String| mirror::name(n.as_deref().unwrap_or(""), || otherwise);
    UsageEvent {
        request_id: format!("{REQUEST_PREFIX}{}", f.id),
        user_id: f.user_id,
        user_name: named(&f.user_name, format!("user {}", f.user_id)),
        provider_id: f.provider_id,
        provider_name: named(&f.provider_name, format!("provider {}", f.provider_id)),
        model: named(&f.model, "unknown".into()),
        cost_usd: f.cost_usd,
        input_tokens: f.input_tokens,
        output_tokens: f.output_tokens,
        cache_creation_input_tokens: f.cache_creation_input_tokens,
        cache_read_input_tokens: f.cache_read_input_tokens,
        success,
        status_code: f.status_code.filter(|s| (100..=599).contains(s)),
        error: f.error.clone(),
        created_at: f.created_at,
        key_id: None,
    }
}

impl Sources {
    /// Stores CCH's finished requests (revised when read again changed), with CCH's users and
    /// providers given ids of ours; the new ones drive the providers' breakers here unless CCH's
    /// own are followed (`feed_breakers` false). Answers the events stored, in our ids.
    async fn ingest_cch(&self, finished: &[Finished], feed_breakers: bool) -> Result<Vec<UsageEvent>, sqlx::Error> {
        if finished.is_empty() {
            return Ok(Vec::new());
        }
        let mut events: Vec<UsageEvent> = finished.iter().map(event).collect();
        let refs: Vec<(String, String)> = events
            .iter()
            .map(|e| (e.user_id.to_string(), e.provider_id.to_string()))
            .collect();
        let users: BTreeMap<&str, &str> = refs
            .iter()
            .zip(&events)
            .map(|((u, _), e)| (u.as_str(), e.user_name.as_str()))
            .collect();
        let providers: BTreeMap<&str, &str> = refs
            .iter()
            .zip(&events)
            .map(|((_, p), e)| (p.as_str(), e.provider_name.as_str()))
            .collect();
        let key_refs: Vec<String> = finished
            .iter()
            .filter_map(|f| f.key_id)
            .map(|k| k.to_string())
            .collect();
        let (user_ids, provider_ids, key_ids) = tokio::try_join!(
            self.identities.resolve(Source::Cch, Entity::User, &users),
            self.identities.resolve(Source::Cch, Entity::Provider, &providers),
            crate::usage::mirror::key_ids(&self.db, Source::Cch, &key_refs),
        )?;
        let mut valid = Vec::with_capacity(events.len());
        let mut rejected = Vec::new();
        for (index, ((mut e, (user, provider)), f)) in events.drain(..).zip(&refs).zip(finished).enumerate() {
            e.user_id = user_ids[user];
            e.provider_id = provider_ids[provider];
            // A key made after the mirror's last read: its next request will carry it.
            e.key_id = f.key_id.and_then(|k| key_ids.get(&k.to_string()).copied());
            let id = e.request_id.clone();
            match e.checked() {
                Ok(e) => valid.push(e),
                Err(reason) => rejected.push(RejectedEvent {
                    index,
                    request_id: Some(id),
                    reason,
                }),
            }
        }
        let ingested = self.ingestor.ingest_revisions(valid, feed_breakers).await?;
        self.record(
            Source::Cch,
            &ingested,
            &Outcome {
                accepted: ingested.new.len(),
                duplicates: ingested.duplicates,
                revised: ingested.revised.len(),
                rejected: &rejected,
                unpriced: &[],
            },
        )
        .await;
        Ok(ingested.events)
    }
}
