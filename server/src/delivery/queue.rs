//! A small BullMQ-style job queue on Redis: at-least-once delivery, bounded retries with
//! exponential backoff, and bounded history.
//!
//! Keys of a queue (`<prefix>queue:<name>:` + …):
//!
//! | key | type | holds |
//! |---|---|---|
//! | `wait` | list | ids ready to run; pushed on the left, taken from the right (FIFO) |
//! | `running` | list | ids taken by a worker |
//! | `delayed` | sorted set | ids waiting for a retry, scored by due time (ms) |
//! | `succeeded` | list | completed ids, newest first, trimmed to `keep_completed` by `maintain` and, in batches of `TRIM_SLACK`, by completions (a list: adding and trimming are O(1); older versions' sorted set `completed` is moved into it by `maintain`) |
//! | `failed` | sorted set | failed ids, scored by finish time, trimmed to `keep_failed` |
//! | `stalled` | sorted set | running ids seen without a lock, scored by when first seen (ms) |
//! | `job:<id>` | hash | `payload state attempts max_attempts last_error created_ms updated_ms finished_ms`, and `lock lock_until`: the token of the worker slot running the job and until when (ms) it holds |
//! | `active`, `lock:<id>` | list, string | older versions' running ids and their locks (a key with an expiry); `maintain` still recovers them during a rolling upgrade |
//!
//! Every state change is one Lua script (the `queue/*.lua` files), so a job id is always in
//! exactly one of the structures and its hash `state` agrees. Scripts read the clock with `TIME`,
//! so all processes share the Redis clock. They also touch `job:<id>` keys they build from a
//! prefix, which is fine on a single Redis (not Redis Cluster).
//!
//! A worker's slot that finishes a job takes the next waiting one in the same script call (moved
//! to `running` and locked in one step), so a busy queue costs one round trip per job on each side:
//! the producer's enqueue and the slot's finish-and-take. Free slots are filled by one take call
//! for all of them; only when nothing is waiting does a worker block in `BLMOVE wait → running`
//! on its own connection, then lock what it moved in the take call. Either way one delivery goes
//! to exactly one worker. Jobs whose worker died are put back by [`Queue::maintain`], which also
//! promotes due retries; a running [`Worker`] calls it on its own.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use fred::prelude::*;
use fred::types::lists::LMoveDirection;
use tokio::sync::{watch, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::{JoinHandle, JoinSet};

use crate::platform::redis::{Keys, LuaScript};
use crate::platform::retry::{retry, Backoff};
use crate::platform::shutdown::{pause, signalled as shutdown_signalled, stopping};

/// How long one `BLMOVE` blocks; bounds how late a worker notices shutdown.
const BLOCK_TIMEOUT: Duration = Duration::from_secs(1);
/// Longest pause between two maintenance passes of a worker: a retry scheduled by another
/// process, or a stalled job, is noticed within this time.
const MAINTAIN_EVERY: Duration = Duration::from_secs(1);
/// Pause after a Redis error before trying again, so an outage does not become a busy loop.
const ERROR_PAUSE: Duration = Duration::from_secs(1);
/// Delayed jobs promoted per maintenance pass; the next pass follows at once when it is reached.
const PROMOTE_BATCH: usize = 1000;
/// Jobs one take hands out at most (one per free slot): bounds the script's time on Redis.
const TAKE_BATCH: usize = 32;
/// `last_error` is kept for people to read; an unbounded handler message must not bloat Redis.
const MAX_ERROR_LEN: usize = 4096;

#[derive(Clone, Debug)]
pub struct QueueConfig {
    pub name: String,
    /// Attempts in all, the first included (so retries = `max_attempts - 1`).
    pub max_attempts: u32,
    /// Delay before the first retry; each further retry waits twice as long.
    pub backoff_base: Duration,
    pub keep_completed: usize,
    pub keep_failed: usize,
    /// How long a job's lock outlives its worker; the worker refreshes it every third of this.
    pub lock_ttl: Duration,
}

/// How far the succeeded list may grow past `keep_completed` before a completion trims it: one
/// trim per 64 jobs costs Redis less than an RPOP and a DEL per job, and `maintain` trims it
/// exactly on every pass (`counts` never reports more than `keep_completed`).
const TRIM_SLACK: usize = 64;

impl QueueConfig {
    /// The spec's policy: 3 retries after 1 s, 2 s and 4 s; keep 100 succeeded and 50 failed.
    pub fn new(name: &str) -> Self {
        QueueConfig {
            name: name.to_owned(),
            max_attempts: 4,
            backoff_base: Duration::from_secs(1),
            keep_completed: 100,
            keep_failed: 50,
            lock_ttl: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("Redis: {0}")]
    Redis(#[from] fred::error::Error),
    #[error("cannot connect the worker's Redis client: {0}")]
    Connect(fred::error::Error),
    #[error("a job id must not be empty")]
    EmptyJobId,
    #[error("the lock of job {job_id} is not held by this worker (it expired or was taken over)")]
    LockLost { job_id: String },
    #[error("job {job_id} has a malformed `{field}` field")]
    Corrupt { job_id: String, field: &'static str },
    #[error("unexpected reply from the `{script}` script: {detail}")]
    UnexpectedReply { script: &'static str, detail: String },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Enqueued {
    Added,
    /// A job with this id exists (in any state, until its record is trimmed); nothing changed.
    Duplicate,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueCounts {
    pub wait: u64,
    pub active: u64,
    pub delayed: u64,
    pub completed: u64,
    pub failed: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Maintenance {
    /// Delayed jobs whose retry was due, now waiting.
    pub promoted: u64,
    /// Active jobs whose worker vanished, now waiting again.
    pub recovered: u64,
    /// Active jobs whose worker vanished during their last attempt, now failed.
    pub failed: u64,
    /// When the earliest remaining delayed job is due, if any.
    pub next_delayed_in: Option<Duration>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobState {
    Wait,
    Active,
    Delayed,
    Completed,
    Failed,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Wait => "wait",
            JobState::Active => "active",
            JobState::Delayed => "delayed",
            JobState::Completed => "completed",
            JobState::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "wait" => JobState::Wait,
            "active" => JobState::Active,
            "delayed" => JobState::Delayed,
            "completed" => JobState::Completed,
            "failed" => JobState::Failed,
            _ => return None,
        })
    }
}

impl std::fmt::Display for JobState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What Redis knows about a job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobRecord {
    pub id: String,
    pub payload: String,
    pub state: JobState,
    /// Attempts started so far (an attempt cut short by a dead worker counts too).
    pub attempts: u32,
    pub max_attempts: u32,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// One attempt of a job, as handed to a [`JobHandler`].
#[derive(Clone, Debug)]
pub struct Job {
    pub id: String,
    pub payload: String,
    /// 1 for the first attempt.
    pub attempt: u32,
}

/// Why an attempt did not complete.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobError {
    /// The attempt failed (the message is kept as the job's `last_error`): retried with backoff
    /// while attempts remain.
    Failed(String),
    /// Not now (a rate limit): run again after this long; the attempt does not count.
    Later(Duration),
}

impl From<String> for JobError {
    fn from(message: String) -> Self {
        JobError::Failed(message)
    }
}

/// Runs jobs. Delivery is at least once: a job whose worker died mid-run is run again, so
/// handlers should be idempotent.
#[async_trait::async_trait]
pub trait JobHandler: Send + Sync + 'static {
    async fn handle(&self, job: &Job) -> Result<(), JobError>;
}

// ---------------------------------------------------------------------------------------------
// Lua (each script's file says its KEYS, ARGV and reply)

/// Shared by every script: the Redis clock, history trimming, and taking the next waiting job.
const PRELUDE: &str = include_str!("queue/prelude.lua");

struct Scripts {
    enqueue: LuaScript,
    take: LuaScript,
    refresh_lock: LuaScript,
    complete: LuaScript,
    retry_or_fail: LuaScript,
    defer: LuaScript,
    hand_back: LuaScript,
    retry_failed: LuaScript,
    maintain: LuaScript,
    counts: LuaScript,
}

impl Scripts {
    fn new() -> Self {
        let script = |name, body| LuaScript::new(name, PRELUDE, body);
        Scripts {
            enqueue: script("enqueue", include_str!("queue/enqueue.lua")),
            take: script("take", include_str!("queue/take.lua")),
            refresh_lock: script("refresh_lock", include_str!("queue/refresh_lock.lua")),
            complete: script("complete", include_str!("queue/complete.lua")),
            retry_or_fail: script("retry_or_fail", include_str!("queue/retry_or_fail.lua")),
            defer: script("defer", include_str!("queue/defer.lua")),
            hand_back: script("hand_back", include_str!("queue/hand_back.lua")),
            retry_failed: script("retry_failed", include_str!("queue/retry_failed.lua")),
            maintain: script("maintain", include_str!("queue/maintain.lua")),
            counts: script("counts", include_str!("queue/counts.lua")),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Queue

struct QueueKeys {
    wait: String,
    running: String,
    /// Running ids as older versions kept them (locked by a `lock:<id>` key), until `maintain`
    /// has recovered them or their workers have finished them.
    active: String,
    delayed: String,
    succeeded: String,
    /// Completed ids as older versions kept them (a sorted set), until `maintain` moves them.
    completed: String,
    failed: String,
    stalled: String,
    /// `…:job:`; a job's hash is this plus its id.
    job_prefix: String,
    /// `…:lock:`; an older version's lock of a job is this plus its id.
    lock_prefix: String,
}

impl QueueKeys {
    fn new(keys: &Keys, name: &str) -> Self {
        let key = |part: &str| keys.key(&["queue", name, part]);
        QueueKeys {
            wait: key("wait"),
            running: key("running"),
            active: key("active"),
            delayed: key("delayed"),
            succeeded: key("succeeded"),
            completed: key("completed"),
            failed: key("failed"),
            stalled: key("stalled"),
            job_prefix: keys.key(&["queue", name, "job", ""]),
            lock_prefix: keys.key(&["queue", name, "lock", ""]),
        }
    }

    fn job(&self, id: &str) -> String {
        format!("{}{id}", self.job_prefix)
    }
}

/// What became of a failed attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FailOutcome {
    RetryIn(Duration),
    Failed,
}

/// A job locked for one slot of a worker: the attempt, and the token its lock holds.
#[derive(Debug)]
struct Taken {
    job: Job,
    token: String,
}

/// What a finishing script did: the outcome for the job it finished (`LockLost` when the lock
/// was no longer its worker's), and the next job it took for the same slot, if asked and one
/// was waiting.
#[derive(Debug)]
struct Finished<T> {
    outcome: Result<T, QueueError>,
    next: Option<Taken>,
}

/// Producer and inspector of one queue; cheap to clone.
#[derive(Clone)]
pub struct Queue {
    inner: Arc<QueueInner>,
}

struct QueueInner {
    pool: Pool,
    config: QueueConfig,
    keys: QueueKeys,
    scripts: Scripts,
}

impl Queue {
    pub fn new(pool: Pool, keys: Keys, config: QueueConfig) -> Self {
        let queue_keys = QueueKeys::new(&keys, &config.name);
        Queue {
            inner: Arc::new(QueueInner {
                pool,
                config,
                keys: queue_keys,
                scripts: Scripts::new(),
            }),
        }
    }

    pub fn config(&self) -> &QueueConfig {
        &self.inner.config
    }

    /// Adds a job unless one with this id is known, which makes producers safe to retry.
    pub async fn enqueue(&self, job_id: &str, payload: &str) -> Result<Enqueued, QueueError> {
        if job_id.is_empty() {
            return Err(QueueError::EmptyJobId);
        }
        let k = &self.inner.keys;
        let added: i64 = self
            .inner
            .scripts
            .enqueue
            .call(
                &self.inner.pool,
                vec![k.wait.clone(), k.job(job_id)],
                vec![
                    job_id.to_owned(),
                    payload.to_owned(),
                    self.inner.config.max_attempts.max(1).to_string(),
                ],
            )
            .await?;
        Ok(if added == 1 {
            Enqueued::Added
        } else {
            Enqueued::Duplicate
        })
    }

    /// Gives a failed job its full attempts again and puts it back to wait; `false` when the job
    /// is not (or no longer) failed.
    pub async fn retry(&self, job_id: &str) -> Result<bool, QueueError> {
        if job_id.is_empty() {
            return Err(QueueError::EmptyJobId);
        }
        let k = &self.inner.keys;
        let retried: i64 = self
            .inner
            .scripts
            .retry_failed
            .call(
                &self.inner.pool,
                vec![k.failed.clone(), k.wait.clone(), k.job(job_id)],
                vec![job_id.to_owned()],
            )
            .await?;
        Ok(retried == 1)
    }

    pub async fn counts(&self) -> Result<QueueCounts, QueueError> {
        let k = &self.inner.keys;
        let script = &self.inner.scripts.counts;
        let n: Vec<u64> = script
            .call(
                &self.inner.pool,
                vec![
                    k.wait.clone(),
                    k.running.clone(),
                    k.delayed.clone(),
                    k.succeeded.clone(),
                    k.failed.clone(),
                    k.completed.clone(),
                    k.active.clone(),
                ],
                vec![self.inner.config.keep_completed.to_string()],
            )
            .await?;
        match n[..] {
            [wait, active, delayed, completed, failed] => Ok(QueueCounts {
                wait,
                active,
                delayed,
                completed,
                failed,
            }),
            _ => Err(unexpected(script, &n)),
        }
    }

    /// The job's record, or `None` when it never existed or was trimmed from the history.
    pub async fn job(&self, job_id: &str) -> Result<Option<JobRecord>, QueueError> {
        if job_id.is_empty() {
            return Err(QueueError::EmptyJobId);
        }
        let mut fields: HashMap<String, String> = self.inner.pool.hgetall(self.inner.keys.job(job_id)).await?;
        if fields.is_empty() {
            return Ok(None);
        }
        let corrupt = |field| QueueError::Corrupt {
            job_id: job_id.to_owned(),
            field,
        };
        let number = |fields: &HashMap<String, String>, field: &'static str| -> Result<i64, QueueError> {
            fields
                .get(field)
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| corrupt(field))
        };
        let time = |ms: i64, field| DateTime::from_timestamp_millis(ms).ok_or_else(|| corrupt(field));
        let count = |fields: &HashMap<String, String>, field| {
            number(fields, field).and_then(|n| u32::try_from(n).map_err(|_| corrupt(field)))
        };
        let state = fields
            .get("state")
            .and_then(|s| JobState::parse(s))
            .ok_or_else(|| corrupt("state"))?;
        let finished_at = match fields.get("finished_ms") {
            Some(_) => Some(time(number(&fields, "finished_ms")?, "finished_ms")?),
            None => None,
        };
        Ok(Some(JobRecord {
            id: job_id.to_owned(),
            state,
            attempts: count(&fields, "attempts")?,
            max_attempts: count(&fields, "max_attempts")?,
            created_at: time(number(&fields, "created_ms")?, "created_ms")?,
            updated_at: time(number(&fields, "updated_ms")?, "updated_ms")?,
            finished_at,
            last_error: fields.remove("last_error"),
            payload: fields.remove("payload").ok_or_else(|| corrupt("payload"))?,
        }))
    }

    /// Promotes delayed jobs whose retry is due and puts stalled jobs (their worker died and the
    /// lock expired) back to wait. Safe to call from any number of processes; a running
    /// [`Worker`] already calls it about every second and whenever one of its retries is due.
    pub async fn maintain(&self) -> Result<Maintenance, QueueError> {
        let k = &self.inner.keys;
        let script = &self.inner.scripts.maintain;
        let reply: Vec<i64> = script
            .call(
                &self.inner.pool,
                vec![
                    k.wait.clone(),
                    k.running.clone(),
                    k.delayed.clone(),
                    k.stalled.clone(),
                    k.failed.clone(),
                    k.completed.clone(),
                    k.succeeded.clone(),
                    k.active.clone(),
                ],
                vec![
                    k.job_prefix.clone(),
                    k.lock_prefix.clone(),
                    self.lock_ttl_ms().to_string(),
                    PROMOTE_BATCH.to_string(),
                    self.inner.config.keep_failed.to_string(),
                    self.inner.config.keep_completed.to_string(),
                ],
            )
            .await?;
        match reply[..] {
            [promoted, recovered, failed, next_due] if promoted >= 0 && recovered >= 0 && failed >= 0 => {
                Ok(Maintenance {
                    promoted: promoted.unsigned_abs(),
                    recovered: recovered.unsigned_abs(),
                    failed: failed.unsigned_abs(),
                    next_delayed_in: u64::try_from(next_due).ok().map(Duration::from_millis),
                })
            }
            _ => Err(unexpected(script, &reply)),
        }
    }

    fn lock_ttl_ms(&self) -> u128 {
        self.inner.config.lock_ttl.as_millis().max(1)
    }

    /// Takes jobs for the free slots of a worker, one token each: first the job its `BLMOVE` just
    /// moved to `running` (`moved`; skipped when `maintain` put it back meanwhile, and its slot
    /// left free), then waiting jobs, each moved and locked in one step. One round trip for as
    /// many jobs as there are free slots and waiting jobs.
    async fn take(&self, moved: Option<&str>, tokens: Vec<String>) -> Result<Vec<Taken>, QueueError> {
        let k = &self.inner.keys;
        let script = &self.inner.scripts.take;
        let mut args = Vec::with_capacity(3 + tokens.len());
        args.extend([
            k.job_prefix.clone(),
            self.lock_ttl_ms().to_string(),
            moved.unwrap_or_default().to_owned(),
        ]);
        args.extend(tokens.iter().cloned());
        let reply: Vec<Value> = script
            .call(
                &self.inner.pool,
                vec![k.wait.clone(), k.running.clone(), k.stalled.clone()],
                args,
            )
            .await?;
        if !reply.len().is_multiple_of(3) || reply.len() / 3 > tokens.len() {
            return Err(unexpected(script, &reply));
        }
        // The script hands out the tokens in order to the jobs it locked.
        reply
            .chunks(3)
            .zip(tokens)
            .map(|(fields, token)| {
                Ok(Taken {
                    job: parse_job(script, fields)?,
                    token,
                })
            })
            .collect()
    }

    /// Locks a job this worker just moved to `running`; `None` when it is not ours to run.
    #[cfg(test)]
    async fn take_lock(&self, job_id: &str, token: &str) -> Result<Option<Job>, QueueError> {
        let taken = self.take(Some(job_id), vec![token.to_owned()]).await?;
        Ok(taken.into_iter().next().map(|taken| taken.job))
    }

    /// Extends the lock; `false` once it is no longer ours.
    async fn refresh_lock(&self, job_id: &str, token: &str) -> Result<bool, QueueError> {
        let extended: i64 = self
            .inner
            .scripts
            .refresh_lock
            .call(
                &self.inner.pool,
                vec![self.inner.keys.job(job_id)],
                vec![token.to_owned(), self.lock_ttl_ms().to_string()],
            )
            .await?;
        Ok(extended == 1)
    }

    /// Runs a finishing script, whose last argument is the token for the next job ('' = take
    /// none) and whose reply is its code, then the next job if it took one.
    async fn finish(
        &self,
        script: &LuaScript,
        job_id: &str,
        token: &str,
        own_keys: Vec<String>,
        own_args: Vec<String>,
        next_token: Option<String>,
    ) -> Result<(i64, Option<Taken>), QueueError> {
        // Every finishing script: KEYS = running, its own, job, wait;
        // ARGV = job id, lock token, its own, then what taking the next job needs.
        let k = &self.inner.keys;
        let mut keys = vec![k.running.clone()];
        keys.extend(own_keys);
        keys.extend([k.job(job_id), k.wait.clone()]);
        let mut args = vec![job_id.to_owned(), token.to_owned()];
        args.extend(own_args);
        args.extend([k.job_prefix.clone(), self.lock_ttl_ms().to_string()]);
        args.push(next_token.clone().unwrap_or_default());
        let reply: Vec<Value> = script.call(&self.inner.pool, keys, args).await?;
        let Some((code, next)) = reply.split_first() else {
            return Err(unexpected(script, &reply));
        };
        let code = code.as_i64().ok_or_else(|| unexpected(script, &reply))?;
        let next = match (next, next_token) {
            ([], _) => None,
            (fields @ [_, _, _], Some(token)) => Some(Taken {
                job: parse_job(script, fields)?,
                token,
            }),
            _ => return Err(unexpected(script, &reply)),
        };
        Ok((code, next))
    }

    fn lock_lost(job_id: &str) -> QueueError {
        QueueError::LockLost {
            job_id: job_id.to_owned(),
        }
    }

    /// Records a completed attempt, then takes the next job for the slot with `next_token`.
    async fn complete_then_take(
        &self,
        job_id: &str,
        token: &str,
        next_token: Option<String>,
    ) -> Result<Finished<()>, QueueError> {
        let (code, next) = self
            .finish(
                &self.inner.scripts.complete,
                job_id,
                token,
                vec![self.inner.keys.succeeded.clone()],
                vec![self.inner.config.keep_completed.to_string(), TRIM_SLACK.to_string()],
                next_token,
            )
            .await?;
        let outcome = match code {
            1 => Ok(()),
            0 => Err(Self::lock_lost(job_id)),
            other => Err(unexpected(&self.inner.scripts.complete, &other)),
        };
        Ok(Finished { outcome, next })
    }

    /// Records a failed attempt (retried with backoff while attempts remain), then takes the next
    /// job for the slot with `next_token`.
    async fn fail_then_take(
        &self,
        job_id: &str,
        token: &str,
        error: &str,
        next_token: Option<String>,
    ) -> Result<Finished<FailOutcome>, QueueError> {
        let k = &self.inner.keys;
        let args = vec![
            truncate(error, MAX_ERROR_LEN).to_owned(),
            self.inner.config.backoff_base.as_millis().to_string(),
            self.inner.config.keep_failed.to_string(),
        ];
        let script = &self.inner.scripts.retry_or_fail;
        let (code, next) = self
            .finish(
                script,
                job_id,
                token,
                vec![k.delayed.clone(), k.failed.clone()],
                args,
                next_token,
            )
            .await?;
        let outcome = match code {
            -1 => Err(Self::lock_lost(job_id)),
            -2 => Ok(FailOutcome::Failed),
            ms if ms >= 0 => Ok(FailOutcome::RetryIn(Duration::from_millis(ms.unsigned_abs()))),
            other => Err(unexpected(script, &other)),
        };
        Ok(Finished { outcome, next })
    }

    /// Puts a job that may not run yet back to delayed, its attempt given back, then takes the
    /// next job for the slot with `next_token`.
    async fn defer_then_take(
        &self,
        job_id: &str,
        token: &str,
        delay: Duration,
        next_token: Option<String>,
    ) -> Result<Finished<()>, QueueError> {
        let (code, next) = self
            .finish(
                &self.inner.scripts.defer,
                job_id,
                token,
                vec![self.inner.keys.delayed.clone()],
                vec![delay.as_millis().to_string()],
                next_token,
            )
            .await?;
        let outcome = match code {
            1 => Ok(()),
            0 => Err(Self::lock_lost(job_id)),
            other => Err(unexpected(&self.inner.scripts.defer, &other)),
        };
        Ok(Finished { outcome, next })
    }

    #[cfg(test)]
    async fn complete(&self, job_id: &str, token: &str) -> Result<(), QueueError> {
        self.complete_then_take(job_id, token, None).await?.outcome
    }

    #[cfg(test)]
    async fn fail(&self, job_id: &str, token: &str, error: &str) -> Result<FailOutcome, QueueError> {
        self.fail_then_take(job_id, token, error, None).await?.outcome
    }

    /// Hands back to the front of wait a job this worker will not run after all (shutdown began):
    /// one its `BLMOVE` moved but it never locked (`token` `None`), or one locked for it whose
    /// attempt never started (the attempt is given back). `false` when it was not ours.
    async fn hand_back(&self, job_id: &str, token: Option<&str>) -> Result<bool, QueueError> {
        let k = &self.inner.keys;
        let handed_back: i64 = self
            .inner
            .scripts
            .hand_back
            .call(
                &self.inner.pool,
                vec![k.running.clone(), k.wait.clone(), k.job(job_id)],
                vec![job_id.to_owned(), token.unwrap_or_default().to_owned()],
            )
            .await?;
        Ok(handed_back == 1)
    }
}

/// `id, payload, attempt` of a job a script locked.
fn parse_job(script: &LuaScript, fields: &[Value]) -> Result<Job, QueueError> {
    let [id, payload, attempt] = fields else {
        return Err(unexpected(script, &fields));
    };
    let parsed = (
        id.as_string(),
        payload.as_string(),
        attempt.as_i64().and_then(|n| u32::try_from(n).ok()),
    );
    match parsed {
        (Some(id), Some(payload), Some(attempt)) if !id.is_empty() => Ok(Job { id, payload, attempt }),
        _ => Err(unexpected(script, &fields)),
    }
}

fn unexpected(script: &LuaScript, reply: &dyn std::fmt::Debug) -> QueueError {
    QueueError::UnexpectedReply {
        script: script.name(),
        detail: format!("{reply:?}"),
    }
}

fn truncate(s: &str, max_len: usize) -> &str {
    if s.len() <= max_len {
        return s;
    }
    let mut end = max_len;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

// ---------------------------------------------------------------------------------------------
// Worker

/// Runs jobs of one queue, up to `concurrency` at a time.
///
/// Each of its `concurrency` slots runs one job at a time. A slot that finishes a job asks the
/// finishing script for the next waiting one (finish and take in one round trip, as BullMQ's
/// `moveToFinished` does); slots left without a job are filled by the take loop, which waits in
/// `BLMOVE` only when nothing was waiting and otherwise takes one job for every free slot in one
/// script call.
pub struct Worker {
    queue: Queue,
    redis_config: Config,
    concurrency: usize,
    handler: Arc<dyn JobHandler>,
}

/// What the slots of one worker share.
struct Slots {
    queue: Queue,
    handler: Arc<dyn JobHandler>,
    retry_scheduled: Arc<Notify>,
    shutdown: watch::Receiver<bool>,
    tokens: Tokens,
}

/// Lock tokens, one per attempt, so a slot whose lock expired cannot finish a later attempt of
/// the same job, even one run by its own worker. A counter after a per-worker UUID: no
/// randomness per job.
struct Tokens {
    worker: String,
    next: AtomicU64,
}

impl Tokens {
    fn new() -> Self {
        Tokens {
            worker: uuid::Uuid::new_v4().simple().to_string(),
            next: AtomicU64::new(0),
        }
    }

    fn next(&self) -> String {
        format!("{}:{}", self.worker, self.next.fetch_add(1, Ordering::Relaxed))
    }
}

impl Worker {
    /// `redis_config` is used for the worker's own connection: `BLMOVE` blocks it, so it cannot
    /// be one of the shared pool's.
    pub fn new(queue: Queue, redis_config: Config, concurrency: usize, handler: Arc<dyn JobHandler>) -> Self {
        Worker {
            queue,
            redis_config,
            concurrency: concurrency.max(1),
            handler,
        }
    }

    /// Takes and runs jobs, and maintains the queue, until `shutdown` becomes `true` (or its
    /// sender is dropped); then stops taking jobs, lets the running ones finish and returns.
    /// Redis errors, including a first connection that fails (a server may start during a Redis
    /// outage), are logged and retried.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let client = loop {
            match self.connect().await {
                Ok(client) => break client,
                Err(e) => {
                    tracing::warn!(queue = %self.queue.config().name, error = %e, "worker cannot reach Redis; retrying");
                    if !pause(ERROR_PAUSE, &mut shutdown).await {
                        return;
                    }
                }
            }
        };
        let slots = Arc::new(Slots {
            queue: self.queue.clone(),
            handler: self.handler.clone(),
            retry_scheduled: Arc::new(Notify::new()),
            shutdown: shutdown.clone(),
            tokens: Tokens::new(),
        });
        tracing::info!(queue = %self.queue.config().name, concurrency = self.concurrency, "worker started");
        tokio::join!(
            self.take_jobs(&client, slots.clone()),
            maintenance_loop(self.queue.clone(), shutdown, slots.retry_scheduled.clone()),
        );
        if let Err(e) = client.quit().await {
            tracing::debug!(error = %e, "closing the worker's Redis connection");
        }
        tracing::info!(queue = %self.queue.config().name, "worker stopped");
    }

    async fn connect(&self) -> Result<Client, QueueError> {
        // Longer than a BLMOVE may legitimately block.
        let client = crate::platform::redis::builder(self.redis_config.clone(), BLOCK_TIMEOUT + Duration::from_secs(5))
            .build()
            .map_err(QueueError::Connect)?;
        crate::platform::redis::first_connection(client.init())
            .await
            .map_err(QueueError::Connect)?;
        Ok(client)
    }

    /// Fills free slots until shutdown, then waits for the running slots.
    async fn take_jobs(&self, client: &Client, slots: Arc<Slots>) {
        let mut shutdown = slots.shutdown.clone();
        let k = &self.queue.inner.keys;
        let permits = Arc::new(Semaphore::new(self.concurrency));
        let mut running = JoinSet::new();
        // The last take found fewer jobs than free slots: wait in BLMOVE rather than ask again.
        let mut drained = true;
        while !stopping(&shutdown) {
            let first = tokio::select! {
                permit = permits.clone().acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => break,
                },
                () = shutdown_signalled(&mut shutdown) => break,
            };
            while running.try_join_next().is_some() {}
            let moved = if drained {
                // Not raced against shutdown: dropping a BLMOVE whose reply is in flight would
                // strand the job in `running` until the stall grace period has passed.
                let moved: Result<Option<String>, _> = client
                    .blmove(
                        k.wait.as_str(),
                        k.running.as_str(),
                        LMoveDirection::Right,
                        LMoveDirection::Left,
                        BLOCK_TIMEOUT.as_secs_f64(),
                    )
                    .await;
                match moved {
                    Ok(Some(job_id)) => Some(job_id),
                    Ok(None) => continue,
                    // fred reports a blocking command's nil answer (nothing arrived within the
                    // block time) as a timeout: an idle queue, not an error, so no pause.
                    Err(e) if *e.kind() == fred::error::ErrorKind::Timeout => continue,
                    Err(e) => {
                        tracing::warn!(queue = %self.queue.config().name, error = %e, "taking a job failed");
                        pause(ERROR_PAUSE, &mut shutdown).await;
                        continue;
                    }
                }
            } else {
                None
            };
            if stopping(&shutdown) {
                if let Some(job_id) = moved {
                    if let Err(e) = self.queue.hand_back(&job_id, None).await {
                        tracing::warn!(job_id, error = %e, "handing back a job at shutdown failed; it is recovered later");
                    }
                }
                break;
            }
            // Every slot free by now gets its job from the same script call.
            let mut free = vec![first];
            while free.len() < TAKE_BATCH {
                match permits.clone().try_acquire_owned() {
                    Ok(permit) => free.push(permit),
                    Err(_) => break,
                }
            }
            let tokens: Vec<String> = free.iter().map(|_| slots.tokens.next()).collect();
            let asked = tokens.len();
            let taken = match self.queue.take(moved.as_deref(), tokens).await {
                Ok(taken) => taken,
                Err(e) => {
                    tracing::warn!(queue = %self.queue.config().name, error = %e, "taking jobs failed; a job moved to running is recovered later");
                    drained = true;
                    pause(ERROR_PAUSE, &mut shutdown).await;
                    continue;
                }
            };
            drained = taken.len() < asked;
            // Permits of slots left without a job are dropped with the rest of `free`.
            for (taken, permit) in taken.into_iter().zip(free) {
                running.spawn(run_slot(slots.clone(), taken, permit));
            }
        }
        while let Some(finished) = running.join_next().await {
            if let Err(e) = finished {
                tracing::error!(error = %e, "a job task ended abnormally");
            }
        }
    }
}

/// One slot of a worker: runs the job it was given, then each next job its finishing script
/// hands over, until none is waiting or shutdown begins.
async fn run_slot(slots: Arc<Slots>, mut taken: Taken, _permit: OwnedSemaphorePermit) {
    loop {
        if stopping(&slots.shutdown) {
            // Taken as shutdown began: its attempt never started, so it goes back as it was.
            let job_id = &taken.job.id;
            match slots.queue.hand_back(job_id, Some(&taken.token)).await {
                Ok(true) => tracing::debug!(job_id, "job handed back at shutdown"),
                Ok(false) => tracing::debug!(job_id, "job to hand back was no longer ours"),
                Err(e) => {
                    tracing::warn!(job_id, error = %e, "handing back a job at shutdown failed; it is recovered later")
                }
            }
            return;
        }
        match run_job(&slots, taken).await {
            Some(next) => taken = next,
            None => return,
        }
    }
}

/// Runs one attempt while keeping its lock alive, then records the outcome; returns the next job
/// the finishing script took for this slot, if any.
async fn run_job(slots: &Slots, taken: Taken) -> Option<Taken> {
    let Taken { job, token } = taken;
    let queue = &slots.queue;
    // Own task, so a panicking handler becomes a failed attempt instead of a lost job task.
    let mut handling = AbortOnDrop(tokio::spawn({
        let (handler, job) = (slots.handler.clone(), job.clone());
        async move { handler.handle(&job).await }
    }));
    let refresh_every = (queue.config().lock_ttl / 3).max(Duration::from_millis(10));
    let mut refresh = tokio::time::interval_at(tokio::time::Instant::now() + refresh_every, refresh_every);
    refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut lock_lost = false;
    let joined = loop {
        tokio::select! {
            joined = &mut handling.0 => break joined,
            _ = refresh.tick(), if !lock_lost => match queue.refresh_lock(&job.id, &token).await {
                Ok(true) => {}
                Ok(false) => {
                    lock_lost = true;
                    tracing::warn!(job_id = %job.id, "job lock lost while running; the job will run again");
                }
                Err(e) => tracing::warn!(job_id = %job.id, error = %e, "refreshing a job lock failed"),
            },
        }
    };
    let result = match joined {
        Ok(result) => result,
        Err(e) if e.is_panic() => Err(JobError::Failed("the job handler panicked".to_owned())),
        Err(e) => Err(JobError::Failed(format!("the job handler was stopped: {e}"))),
    };
    // Asked anew on each try: no next job once shutdown has begun.
    let next_token = || (!stopping(&slots.shutdown)).then(|| slots.tokens.next());
    let (job_id, attempt) = (job.id.as_str(), job.attempt);
    match result {
        Ok(()) => match with_retries(|| queue.complete_then_take(job_id, &token, next_token())).await {
            Ok(Finished { outcome, next }) => {
                match outcome {
                    Ok(()) => tracing::debug!(job_id, attempt, "job completed"),
                    Err(e) => tracing::warn!(job_id, error = %e, "recording a completed job failed"),
                }
                next
            }
            Err(e) => {
                tracing::warn!(job_id, error = %e, "recording a completed job failed");
                None
            }
        },
        Err(JobError::Later(delay)) => {
            match with_retries(|| queue.defer_then_take(job_id, &token, delay, next_token())).await {
                Ok(Finished { outcome, next }) => {
                    match outcome {
                        Ok(()) => {
                            tracing::debug!(
                                job_id,
                                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                                "job deferred"
                            );
                            slots.retry_scheduled.notify_one();
                        }
                        Err(e) => tracing::warn!(job_id, error = %e, "deferring a job failed"),
                    }
                    next
                }
                Err(e) => {
                    tracing::warn!(job_id, error = %e, "deferring a job failed");
                    None
                }
            }
        }
        Err(JobError::Failed(message)) => {
            match with_retries(|| queue.fail_then_take(job_id, &token, &message, next_token())).await {
                Ok(Finished { outcome, next }) => {
                    match outcome {
                        Ok(FailOutcome::RetryIn(delay)) => {
                            tracing::info!(job_id, attempt, error = %message, retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX), "job failed; retry scheduled");
                            slots.retry_scheduled.notify_one();
                        }
                        Ok(FailOutcome::Failed) => {
                            tracing::warn!(job_id, attempt, error = %message, "job failed for good");
                        }
                        Err(e) => tracing::warn!(job_id, error = %e, "recording a failed attempt failed"),
                    }
                    next
                }
                Err(e) => {
                    tracing::warn!(job_id, error = %e, "recording a failed attempt failed");
                    None
                }
            }
        }
    }
}

/// Recording an outcome is retried on Redis errors, since giving up means running the job
/// again: 3 tries, 200 ms apart.
const OUTCOME_RETRY: Backoff = Backoff::doubling(3, Duration::from_millis(200)).at_most(Duration::from_millis(200));

async fn with_retries<T, F, Fut>(op: F) -> Result<T, QueueError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, QueueError>>,
{
    retry(
        "recording a job outcome",
        OUTCOME_RETRY,
        |e| matches!(e, QueueError::Redis(_)),
        op,
    )
    .await
}

/// Promotes due retries as soon as they are due (woken when this worker schedules one) and
/// checks for stalled jobs at least every [`MAINTAIN_EVERY`].
async fn maintenance_loop(queue: Queue, mut shutdown: watch::Receiver<bool>, retry_scheduled: Arc<Notify>) {
    while !stopping(&shutdown) {
        let wait = match queue.maintain().await {
            Ok(m) => {
                if m.recovered > 0 {
                    tracing::warn!(queue = %queue.config().name, recovered = m.recovered, "stalled jobs put back to wait");
                }
                if m.failed > 0 {
                    tracing::warn!(queue = %queue.config().name, failed = m.failed, "jobs stalled in their last attempt; failed");
                }
                m.next_delayed_in.map_or(MAINTAIN_EVERY, |due| due.min(MAINTAIN_EVERY))
            }
            Err(e) => {
                tracing::warn!(queue = %queue.config().name, error = %e, "queue maintenance failed");
                ERROR_PAUSE
            }
        };
        if wait.is_zero() {
            continue;
        }
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = retry_scheduled.notified() => {}
            () = shutdown_signalled(&mut shutdown) => break,
        }
    }
}

/// Stops the handler when its job task is dropped (worker dropped without shutdown), instead of
/// leaving it running detached from any lock.
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::sync::Mutex;
    use std::time::Instant;

    use super::*;

    fn redis_url() -> String {
        std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/0".into())
    }

    fn redis_config() -> Config {
        Config::from_url(&redis_url()).expect("TEST_REDIS_URL")
    }

    async fn pool() -> Pool {
        let pool = Builder::from_config(redis_config()).build_pool(2).expect("pool");
        pool.init().await.expect("connect to Redis (is it running?)");
        pool
    }

    async fn test_queue(config: QueueConfig) -> Queue {
        let prefix = format!("hn_test_queue_{}:", uuid::Uuid::new_v4().simple());
        Queue::new(pool().await, Keys::new(prefix), config)
    }

    fn config(f: impl FnOnce(&mut QueueConfig)) -> QueueConfig {
        let mut config = QueueConfig::new("jobs");
        f(&mut config);
        config
    }

    #[derive(Clone, Debug)]
    struct Call {
        id: String,
        payload: String,
        attempt: u32,
        at: Instant,
    }

    /// Records every attempt; fails attempts up to `fail_attempts` and jobs whose payload is
    /// "fail"; can take its time, or hang on a first attempt like a worker that died.
    #[derive(Default)]
    struct Recorder {
        calls: Mutex<Vec<Call>>,
        fail_attempts: u32,
        delay: Duration,
        hang_on_first_attempt: bool,
    }

    impl Recorder {
        fn calls(&self) -> Vec<Call> {
            self.calls.lock().unwrap().clone()
        }
    }

    #[async_trait::async_trait]
    impl JobHandler for Recorder {
        async fn handle(&self, job: &Job) -> Result<(), JobError> {
            self.calls.lock().unwrap().push(Call {
                id: job.id.clone(),
                payload: job.payload.clone(),
                attempt: job.attempt,
                at: Instant::now(),
            });
            if self.hang_on_first_attempt && job.attempt == 1 {
                std::future::pending::<()>().await;
            }
            if !self.delay.is_zero() {
                tokio::time::sleep(self.delay).await;
            }
            if job.payload == "fail" || job.attempt <= self.fail_attempts {
                return Err(format!("boom {}", job.attempt).into());
            }
            if let Some(ms) = job.payload.strip_prefix("later:") {
                if self.calls().len() == 1 {
                    return Err(JobError::Later(Duration::from_millis(ms.parse().unwrap())));
                }
            }
            Ok(())
        }
    }

    struct RunningWorker {
        stop: watch::Sender<bool>,
        task: JoinHandle<()>,
    }

    impl RunningWorker {
        async fn shut_down(self) {
            self.stop.send(true).unwrap();
            tokio::time::timeout(Duration::from_secs(5), self.task)
                .await
                .expect("worker stops within 5 s")
                .unwrap();
        }
    }

    fn start_worker(queue: &Queue, concurrency: usize, handler: Arc<dyn JobHandler>) -> RunningWorker {
        let (stop, shutdown) = watch::channel(false);
        let worker = Worker::new(queue.clone(), redis_config(), concurrency, handler);
        RunningWorker {
            stop,
            task: tokio::spawn(worker.run(shutdown)),
        }
    }

    async fn wait_for_counts(queue: &Queue, within: Duration, done: impl Fn(&QueueCounts) -> bool) -> QueueCounts {
        let deadline = Instant::now() + within;
        loop {
            let counts = queue.counts().await.unwrap();
            if done(&counts) {
                return counts;
            }
            assert!(Instant::now() < deadline, "timed out; counts: {counts:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn wait_for_calls(recorder: &Recorder, n: usize, within: Duration) {
        let deadline = Instant::now() + within;
        while recorder.calls().len() < n {
            assert!(Instant::now() < deadline, "timed out waiting for {n} handler calls");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn state(queue: &Queue, id: &str) -> Option<JobState> {
        queue.job(id).await.unwrap().map(|r| r.state)
    }

    /// A worker's BLMOVE, without blocking: the next waiting id, now in running.
    async fn move_next_to_running(queue: &Queue) -> Option<String> {
        let k = &queue.inner.keys;
        queue
            .inner
            .pool
            .lmove(
                k.wait.as_str(),
                k.running.as_str(),
                LMoveDirection::Right,
                LMoveDirection::Left,
            )
            .await
            .unwrap()
    }

    /// What a worker does, without blocking: move the next job to running and lock it.
    async fn take_next(queue: &Queue, token: &str) -> Option<Job> {
        let id = move_next_to_running(queue).await?;
        queue.take_lock(&id, token).await.unwrap()
    }

    /// No gap between consecutive attempts is shorter than `base * 2^i`: a retry never runs
    /// before it is due, however slow the machine (the Redis clock counts whole ms, hence the
    /// 2 ms). That each retry is scheduled exactly that far ahead is
    /// `each_failure_schedules_its_retry_after_1_then_2_then_4_seconds`.
    fn assert_backoff(calls: &[Call], base: Duration) {
        for (i, pair) in calls.windows(2).enumerate() {
            let gap = pair[1].at - pair[0].at;
            let expected = base * 2u32.pow(u32::try_from(i).unwrap());
            assert!(
                gap + Duration::from_millis(2) >= expected,
                "gap {} was {gap:?}, shorter than {expected:?}",
                i + 1
            );
        }
    }

    #[tokio::test]
    async fn each_failure_schedules_its_retry_after_1_then_2_then_4_seconds() {
        let queue = test_queue(QueueConfig::new("jobs")).await;
        queue.enqueue("j", "p").await.unwrap();
        for (attempt, delay_ms) in [(1, 1000_u32), (2, 2000), (3, 4000)] {
            let job = take_next(&queue, &format!("t{attempt}")).await.unwrap();
            assert_eq!(job.attempt, attempt);
            assert_eq!(
                queue.fail("j", &format!("t{attempt}"), "down").await.unwrap(),
                FailOutcome::RetryIn(Duration::from_millis(delay_ms.into()))
            );
            // Due exactly that long after the failure was recorded, on the Redis clock.
            let due: f64 = queue
                .inner
                .pool
                .zscore(queue.inner.keys.delayed.as_str(), "j")
                .await
                .unwrap();
            let failed_at: f64 = queue
                .inner
                .pool
                .hget(queue.inner.keys.job("j"), "updated_ms")
                .await
                .unwrap();
            assert_eq!(due - failed_at, f64::from(delay_ms), "attempt {attempt}");
            // Due now instead, for the next attempt.
            let _: i64 = queue
                .inner
                .pool
                .zadd(queue.inner.keys.delayed.as_str(), None, None, false, false, (0.0, "j"))
                .await
                .unwrap();
            assert_eq!(queue.maintain().await.unwrap().promoted, 1);
        }
        take_next(&queue, "t4").await.unwrap();
        assert_eq!(queue.fail("j", "t4", "down").await.unwrap(), FailOutcome::Failed);
    }

    #[test]
    fn defaults_are_the_spec_policy() {
        let c = QueueConfig::new("notify");
        assert_eq!(c.name, "notify");
        assert_eq!(c.max_attempts, 4);
        assert_eq!(c.backoff_base, Duration::from_secs(1));
        assert_eq!((c.keep_completed, c.keep_failed), (100, 50));
        assert_eq!(c.lock_ttl, Duration::from_secs(30));
    }

    #[tokio::test]
    async fn enqueue_is_idempotent_and_counts_follow_states() {
        let queue = test_queue(QueueConfig::new("jobs")).await;
        assert_eq!(queue.enqueue("a", "pa").await.unwrap(), Enqueued::Added);
        assert_eq!(queue.enqueue("b", "pb").await.unwrap(), Enqueued::Added);
        assert_eq!(queue.enqueue("c", "pc").await.unwrap(), Enqueued::Added);
        assert_eq!(queue.enqueue("a", "other").await.unwrap(), Enqueued::Duplicate);
        assert!(matches!(queue.enqueue("", "x").await, Err(QueueError::EmptyJobId)));
        let counts = queue.counts().await.unwrap();
        assert_eq!(
            counts,
            QueueCounts {
                wait: 3,
                ..Default::default()
            }
        );
        let a = queue.job("a").await.unwrap().unwrap();
        assert_eq!(
            (a.payload.as_str(), a.state, a.attempts, a.max_attempts),
            ("pa", JobState::Wait, 0, 4)
        );
        assert_eq!((a.last_error, a.finished_at), (None, None));
        assert!(queue.job("missing").await.unwrap().is_none());

        // FIFO; the attempt counts from 1; only the lock holder may finish the job.
        let job = take_next(&queue, "t-a").await.unwrap();
        assert_eq!((job.id.as_str(), job.payload.as_str(), job.attempt), ("a", "pa", 1));
        assert_eq!(state(&queue, "a").await, Some(JobState::Active));
        assert!(matches!(
            queue.complete("a", "intruder").await,
            Err(QueueError::LockLost { .. })
        ));
        assert!(matches!(
            queue.fail("a", "intruder", "x").await,
            Err(QueueError::LockLost { .. })
        ));
        assert!(queue.refresh_lock("a", "t-a").await.unwrap());
        assert!(!queue.refresh_lock("a", "intruder").await.unwrap());
        queue.complete("a", "t-a").await.unwrap();
        let a = queue.job("a").await.unwrap().unwrap();
        assert_eq!((a.state, a.attempts), (JobState::Completed, 1));
        assert!(a.finished_at.is_some() && a.updated_at >= a.created_at);

        take_next(&queue, "t-b").await.unwrap();
        assert_eq!(
            queue.fail("b", "t-b", "oops").await.unwrap(),
            FailOutcome::RetryIn(Duration::from_secs(1))
        );
        let b = queue.job("b").await.unwrap().unwrap();
        assert_eq!((b.state, b.last_error.as_deref()), (JobState::Delayed, Some("oops")));

        take_next(&queue, "t-c").await.unwrap();
        let counts = queue.counts().await.unwrap();
        assert_eq!(
            counts,
            QueueCounts {
                wait: 0,
                active: 1,
                delayed: 1,
                completed: 1,
                failed: 0
            }
        );
        // A finished job's id stays taken while its record is kept.
        assert_eq!(queue.enqueue("a", "again").await.unwrap(), Enqueued::Duplicate);
    }

    /// Runs maintenance until it recovers a stalled job; fails 3 s after `died`.
    async fn recovered_after(queue: &Queue, died: Instant) -> u64 {
        loop {
            let m = queue.maintain().await.unwrap();
            if m.recovered > 0 {
                return m.recovered;
            }
            assert!(
                died.elapsed() < Duration::from_secs(3),
                "not recovered after the lock TTL"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// The token in the job's lock ('' once released reads as none).
    async fn lock_holder(queue: &Queue, id: &str) -> Option<String> {
        let token: Option<String> = queue.inner.pool.hget(queue.inner.keys.job(id), "lock").await.unwrap();
        token.filter(|t| !t.is_empty())
    }

    #[tokio::test]
    async fn one_take_locks_a_job_for_each_free_slot_in_order() {
        let queue = test_queue(QueueConfig::new("jobs")).await;
        for id in ["a", "b", "c", "d", "e"] {
            queue.enqueue(id, &format!("p{id}")).await.unwrap();
        }
        let tokens = |names: &[&str]| names.iter().map(|t| (*t).to_owned()).collect::<Vec<_>>();
        let taken = queue.take(None, tokens(&["t1", "t2", "t3"])).await.unwrap();
        let got: Vec<_> = taken
            .iter()
            .map(|t| {
                (
                    t.job.id.as_str(),
                    t.job.payload.as_str(),
                    t.job.attempt,
                    t.token.as_str(),
                )
            })
            .collect();
        assert_eq!(got, [("a", "pa", 1, "t1"), ("b", "pb", 1, "t2"), ("c", "pc", 1, "t3")]);
        for t in &taken {
            assert_eq!(lock_holder(&queue, &t.job.id).await.as_deref(), Some(t.token.as_str()));
            assert_eq!(state(&queue, &t.job.id).await, Some(JobState::Active));
        }

        // A moved job already locked elsewhere is skipped, its slot left free; the others take.
        assert_eq!(move_next_to_running(&queue).await.as_deref(), Some("d"));
        assert!(queue.take_lock("d", "first").await.unwrap().is_some());
        let taken = queue.take(Some("d"), tokens(&["t4", "t5", "t6"])).await.unwrap();
        let got: Vec<_> = taken.iter().map(|t| (t.job.id.as_str(), t.token.as_str())).collect();
        assert_eq!(got, [("e", "t4")], "fewer jobs than slots: only what waits");
        assert_eq!(lock_holder(&queue, "d").await.as_deref(), Some("first"));
        assert!(queue.take(None, tokens(&["t7"])).await.unwrap().is_empty());
        let c = queue.counts().await.unwrap();
        assert_eq!((c.wait, c.active), (0, 5));
    }

    #[tokio::test]
    async fn a_job_handed_over_by_the_finishing_script_is_locked_and_recovered_if_its_worker_dies() {
        let queue = test_queue(config(|c| c.lock_ttl = Duration::from_millis(300))).await;
        queue.enqueue("a", "pa").await.unwrap();
        queue.enqueue("b", "pb").await.unwrap();
        take_next(&queue, "t-a").await.unwrap();
        let finished = queue.complete_then_take("a", "t-a", Some("t-b".into())).await.unwrap();
        assert!(finished.outcome.is_ok());
        let next = finished.next.expect("b was waiting");
        assert_eq!(
            (
                next.job.id.as_str(),
                next.job.payload.as_str(),
                next.job.attempt,
                next.token.as_str()
            ),
            ("b", "pb", 1, "t-b")
        );
        assert_eq!(state(&queue, "a").await, Some(JobState::Completed));
        assert_eq!(state(&queue, "b").await, Some(JobState::Active));
        assert_eq!(lock_holder(&queue, "b").await.as_deref(), Some("t-b"));
        assert_eq!(queue.maintain().await.unwrap().recovered, 0, "b is locked");

        // Its slot dies: nobody refreshes or finishes b.
        let died = Instant::now();
        let recovered = recovered_after(&queue, died).await;
        assert_eq!(recovered, 1);
        assert_eq!(state(&queue, "b").await, Some(JobState::Wait));
        assert!(matches!(
            queue.complete("b", "t-b").await,
            Err(QueueError::LockLost { .. })
        ));
        let again = take_next(&queue, "t-b2").await.unwrap();
        assert_eq!((again.id.as_str(), again.attempt), ("b", 2));
    }

    #[tokio::test]
    async fn failing_or_deferring_a_job_also_hands_over_the_next_one() {
        let queue = test_queue(QueueConfig::new("jobs")).await;
        for id in ["x", "y", "z"] {
            queue.enqueue(id, "p").await.unwrap();
        }
        take_next(&queue, "tx").await.unwrap();
        let failed = queue
            .fail_then_take("x", "tx", "boom", Some("ty".into()))
            .await
            .unwrap();
        assert_eq!(failed.outcome.unwrap(), FailOutcome::RetryIn(Duration::from_secs(1)));
        let y = failed.next.expect("y was waiting");
        assert_eq!((y.job.id.as_str(), y.job.attempt, y.token.as_str()), ("y", 1, "ty"));

        let deferred = queue
            .defer_then_take("y", "ty", Duration::from_millis(500), Some("tz".into()))
            .await
            .unwrap();
        assert!(deferred.outcome.is_ok());
        let z = deferred.next.expect("z was waiting");
        assert_eq!((z.job.id.as_str(), z.token.as_str()), ("z", "tz"));
        let y = queue.job("y").await.unwrap().unwrap();
        assert_eq!(
            (y.state, y.attempts),
            (JobState::Delayed, 0),
            "the wait is not an attempt"
        );

        // A lost lock is reported, and the slot still gets the next job.
        queue.enqueue("w", "p").await.unwrap();
        let lost = queue
            .complete_then_take("z", "intruder", Some("tw".into()))
            .await
            .unwrap();
        assert!(matches!(lost.outcome, Err(QueueError::LockLost { .. })));
        assert_eq!(lost.next.map(|t| t.job.id).as_deref(), Some("w"));
        let done = queue.complete_then_take("z", "tz", Some("tn".into())).await.unwrap();
        assert!(done.outcome.is_ok());
        assert!(done.next.is_none(), "nothing waits");
        let c = queue.counts().await.unwrap();
        assert_eq!((c.wait, c.active, c.delayed, c.completed), (0, 1, 2, 1));
        assert_eq!(lock_holder(&queue, "z").await, None);
    }

    #[tokio::test]
    async fn a_job_taken_as_shutdown_began_is_handed_back_with_its_attempt() {
        let queue = test_queue(QueueConfig::new("jobs")).await;
        queue.enqueue("first", "p").await.unwrap();
        queue.enqueue("j", "p").await.unwrap();
        queue.enqueue("last", "p").await.unwrap();
        take_next(&queue, "t0").await.unwrap();
        take_next(&queue, "t").await.unwrap();
        assert!(!queue.hand_back("j", Some("other")).await.unwrap(), "not its lock");
        assert!(
            !queue.hand_back("j", None).await.unwrap(),
            "locked: not a moved-only job"
        );
        assert!(queue.hand_back("j", Some("t")).await.unwrap());
        let j = queue.job("j").await.unwrap().unwrap();
        assert_eq!((j.state, j.attempts), (JobState::Wait, 0));
        assert_eq!(lock_holder(&queue, "j").await, None);
        // Back at the front, ahead of "last".
        let again = take_next(&queue, "t2").await.unwrap();
        assert_eq!((again.id.as_str(), again.attempt), ("j", 1));
    }

    #[tokio::test]
    async fn a_successful_job_completes_after_one_attempt() {
        let queue = test_queue(QueueConfig::new("jobs")).await;
        let recorder = Arc::new(Recorder::default());
        let worker = start_worker(&queue, 2, recorder.clone());
        queue.enqueue("hello", r#"{"text":"你好"}"#).await.unwrap();
        wait_for_counts(&queue, Duration::from_secs(5), |c| c.completed == 1).await;
        worker.shut_down().await;

        let calls = recorder.calls();
        assert_eq!(calls.len(), 1);
        assert_eq!((calls[0].id.as_str(), calls[0].attempt), ("hello", 1));
        assert_eq!(calls[0].payload, r#"{"text":"你好"}"#);
        let record = queue.job("hello").await.unwrap().unwrap();
        assert_eq!(
            (record.state, record.attempts, record.last_error),
            (JobState::Completed, 1, None)
        );
        assert_eq!(lock_holder(&queue, "hello").await, None, "the lock is released");
        assert_eq!(
            queue.counts().await.unwrap(),
            QueueCounts {
                completed: 1,
                ..Default::default()
            }
        );
    }

    #[tokio::test]
    async fn retries_after_one_two_and_four_seconds() {
        let queue = test_queue(QueueConfig::new("jobs")).await;
        let recorder = Arc::new(Recorder {
            fail_attempts: 3,
            ..Default::default()
        });
        let worker = start_worker(&queue, 1, recorder.clone());
        queue.enqueue("flaky", "p").await.unwrap();
        wait_for_counts(&queue, Duration::from_secs(30), |c| c.completed == 1).await;
        worker.shut_down().await;

        let calls = recorder.calls();
        assert_eq!(calls.iter().map(|c| c.attempt).collect::<Vec<_>>(), [1, 2, 3, 4]);
        assert_backoff(&calls, Duration::from_secs(1));
        let record = queue.job("flaky").await.unwrap().unwrap();
        assert_eq!((record.state, record.attempts), (JobState::Completed, 4));
        assert_eq!(record.last_error.as_deref(), Some("boom 3"));
    }

    #[tokio::test]
    async fn backoff_doubles_per_retry_and_the_job_then_completes() {
        let base = Duration::from_millis(100);
        for fail_attempts in [1, 3] {
            let queue = test_queue(config(|c| c.backoff_base = base)).await;
            let recorder = Arc::new(Recorder {
                fail_attempts,
                ..Default::default()
            });
            let worker = start_worker(&queue, 1, recorder.clone());
            queue.enqueue("flaky", "p").await.unwrap();
            wait_for_counts(&queue, Duration::from_secs(15), |c| c.completed == 1).await;
            worker.shut_down().await;

            let calls = recorder.calls();
            assert_eq!(calls.len(), fail_attempts as usize + 1);
            assert_backoff(&calls, base);
            let record = queue.job("flaky").await.unwrap().unwrap();
            assert_eq!(
                (record.state, record.attempts),
                (JobState::Completed, fail_attempts + 1)
            );
        }
    }

    #[tokio::test]
    async fn a_job_that_always_fails_is_failed_after_four_attempts() {
        let base = Duration::from_millis(100);
        let queue = test_queue(config(|c| c.backoff_base = base)).await;
        let recorder = Arc::new(Recorder::default());
        let worker = start_worker(&queue, 1, recorder.clone());
        queue.enqueue("doomed", "fail").await.unwrap();
        wait_for_counts(&queue, Duration::from_secs(15), |c| c.failed == 1).await;
        // Long enough for a fifth attempt to show up if there were one.
        tokio::time::sleep(Duration::from_millis(900)).await;
        worker.shut_down().await;

        let calls = recorder.calls();
        assert_eq!(calls.iter().map(|c| c.attempt).collect::<Vec<_>>(), [1, 2, 3, 4]);
        assert_backoff(&calls, base);
        let record = queue.job("doomed").await.unwrap().unwrap();
        assert_eq!((record.state, record.attempts), (JobState::Failed, 4));
        assert_eq!(record.last_error.as_deref(), Some("boom 4"));
        assert!(record.finished_at.is_some());
        assert_eq!(
            queue.counts().await.unwrap(),
            QueueCounts {
                failed: 1,
                ..Default::default()
            }
        );
    }

    #[tokio::test]
    async fn a_job_that_may_not_run_yet_waits_without_spending_an_attempt() {
        let queue = test_queue(QueueConfig::new("jobs")).await;
        let recorder = Arc::new(Recorder::default());
        let worker = start_worker(&queue, 1, recorder.clone());
        queue.enqueue("limited", "later:400").await.unwrap();
        wait_for_counts(&queue, Duration::from_secs(5), |c| c.completed == 1).await;
        worker.shut_down().await;

        let calls = recorder.calls();
        assert_eq!(
            calls.iter().map(|c| c.attempt).collect::<Vec<_>>(),
            [1, 1],
            "the wait is not an attempt"
        );
        // Not run again before the 400 ms it asked for (a slow machine only adds).
        let gap = calls[1].at - calls[0].at;
        assert!(gap + Duration::from_millis(2) >= Duration::from_millis(400), "{gap:?}");
        let record = queue.job("limited").await.unwrap().unwrap();
        assert_eq!(
            (record.state, record.attempts, record.last_error),
            (JobState::Completed, 1, None)
        );
    }

    #[tokio::test]
    async fn a_failed_job_retried_gets_its_attempts_again() {
        let queue = test_queue(config(|c| c.max_attempts = 2)).await;
        queue.enqueue("j", "p").await.unwrap();
        assert!(!queue.retry("j").await.unwrap(), "only a failed job is retried");
        take_next(&queue, "t1").await.unwrap();
        assert_eq!(
            queue.fail("j", "t1", "down").await.unwrap(),
            FailOutcome::RetryIn(Duration::from_secs(1))
        );
        // Due now instead of in a second.
        let _: i64 = queue
            .inner
            .pool
            .zadd(queue.inner.keys.delayed.as_str(), None, None, false, false, (0.0, "j"))
            .await
            .unwrap();
        queue.maintain().await.unwrap();
        take_next(&queue, "t2").await.unwrap();
        assert_eq!(queue.fail("j", "t2", "down").await.unwrap(), FailOutcome::Failed);
        let failed = queue.job("j").await.unwrap().unwrap();
        assert_eq!((failed.state, failed.attempts), (JobState::Failed, 2));

        assert!(queue.retry("j").await.unwrap());
        let again = queue.job("j").await.unwrap().unwrap();
        assert_eq!(
            (again.state, again.attempts, again.finished_at),
            (JobState::Wait, 0, None)
        );
        assert_eq!(
            again.last_error.as_deref(),
            Some("down"),
            "the last error stays for people to read"
        );
        assert_eq!(
            queue.counts().await.unwrap(),
            QueueCounts {
                wait: 1,
                ..Default::default()
            }
        );
        let job = take_next(&queue, "t3").await.unwrap();
        assert_eq!(job.attempt, 1);
        assert!(!queue.retry("j").await.unwrap(), "an active job is not retried");
    }

    #[tokio::test]
    async fn keeps_the_newest_100_completed_and_50_failed() {
        let queue = test_queue(config(|c| c.max_attempts = 1)).await;
        // Zero-padded ids: finish times can tie, and ties are ordered by id.
        for i in 0..130 {
            queue.enqueue(&format!("ok-{i:03}"), "ok").await.unwrap();
        }
        for i in 0..70 {
            queue.enqueue(&format!("bad-{i:03}"), "fail").await.unwrap();
        }
        let recorder = Arc::new(Recorder::default());
        let worker = start_worker(&queue, 1, recorder.clone());
        wait_for_calls(&recorder, 200, Duration::from_secs(10)).await;
        let counts = wait_for_counts(&queue, Duration::from_secs(5), |c| c.wait + c.active == 0).await;
        worker.shut_down().await;

        assert_eq!((counts.completed, counts.failed, counts.delayed), (100, 50, 0));
        let (k, pool) = (&queue.inner.keys, &queue.inner.pool);
        let listed: usize = pool.llen(k.succeeded.as_str()).await.unwrap();
        assert!(
            (100..=100 + TRIM_SLACK).contains(&listed),
            "{listed} ids: trimmed in batches"
        );
        queue.maintain().await.unwrap();
        let listed: usize = pool.llen(k.succeeded.as_str()).await.unwrap();
        assert_eq!(listed, 100, "maintain trims exactly");
        for i in 0..130 {
            let expected = (i >= 30).then_some(JobState::Completed);
            assert_eq!(state(&queue, &format!("ok-{i:03}")).await, expected, "ok-{i:03}");
        }
        for i in 0..70 {
            let expected = (i >= 20).then_some(JobState::Failed);
            assert_eq!(state(&queue, &format!("bad-{i:03}")).await, expected, "bad-{i:03}");
        }
    }

    #[tokio::test]
    async fn completions_trim_the_history_once_a_batch_is_over_without_maintain() {
        let queue = test_queue(config(|c| c.keep_completed = 2)).await;
        let (k, pool) = (&queue.inner.keys, &queue.inner.pool);
        let mut listed = Vec::new();
        for i in 0..=2 + TRIM_SLACK {
            let id = format!("j-{i:03}");
            queue.enqueue(&id, "p").await.unwrap();
            take_next(&queue, "t").await.unwrap();
            queue.complete(&id, "t").await.unwrap();
            listed.push(pool.llen::<usize, _>(k.succeeded.as_str()).await.unwrap());
            assert_eq!(queue.counts().await.unwrap().completed, (i as u64 + 1).min(2));
        }
        let expected: Vec<usize> = (1..=2 + TRIM_SLACK).chain([2]).collect();
        assert_eq!(listed, expected, "grows a batch past keep_completed, then one trim");
        let kept: Vec<String> = pool.lrange(k.succeeded.as_str(), 0, -1).await.unwrap();
        let newest = 2 + TRIM_SLACK;
        assert_eq!(kept, [format!("j-{newest:03}"), format!("j-{:03}", newest - 1)]);
        for i in 0..newest - 1 {
            assert_eq!(
                state(&queue, &format!("j-{i:03}")).await,
                None,
                "j-{i:03}'s record is gone"
            );
        }
        assert_eq!(state(&queue, &kept[1]).await, Some(JobState::Completed));
    }

    #[tokio::test]
    async fn completed_ids_kept_by_an_older_version_move_to_the_succeeded_list() {
        let queue = test_queue(config(|c| c.keep_completed = 3)).await;
        for id in ["new-1", "new-2"] {
            queue.enqueue(id, "p").await.unwrap();
            take_next(&queue, "t").await.unwrap();
            queue.complete(id, "t").await.unwrap();
        }
        // Three more finished before the upgrade: in the older version's sorted set.
        let (k, pool) = (&queue.inner.keys, &queue.inner.pool);
        for (finished_ms, id) in [(1.0, "old-1"), (2.0, "old-2"), (3.0, "old-3")] {
            let record: HashMap<&str, &str> = [
                ("payload", "p"),
                ("state", "completed"),
                ("attempts", "1"),
                ("max_attempts", "4"),
                ("created_ms", "0"),
                ("updated_ms", "0"),
                ("finished_ms", "0"),
            ]
            .into();
            let _: i64 = pool.hset(k.job(id), record).await.unwrap();
            let _: i64 = pool
                .zadd(k.completed.as_str(), None, None, false, false, (finished_ms, id))
                .await
                .unwrap();
        }
        assert_eq!(queue.counts().await.unwrap().completed, 5, "both kinds counted");

        queue.maintain().await.unwrap();
        let kept: Vec<String> = pool.lrange(k.succeeded.as_str(), 0, -1).await.unwrap();
        assert_eq!(kept, ["new-2", "new-1", "old-3"], "newest first, trimmed to 3");
        assert_eq!(queue.counts().await.unwrap().completed, 3);
        let legacy: i64 = pool.exists(k.completed.as_str()).await.unwrap();
        assert_eq!(legacy, 0);
        assert_eq!(state(&queue, "old-3").await, Some(JobState::Completed));
        assert_eq!(state(&queue, "old-2").await, None, "trimmed with its record");
        assert_eq!(state(&queue, "old-1").await, None);
    }

    #[tokio::test]
    async fn a_stalled_job_is_recovered_and_completed_by_another_worker() {
        let queue = test_queue(config(|c| c.lock_ttl = Duration::from_millis(600))).await;
        let recorder = Arc::new(Recorder {
            hang_on_first_attempt: true,
            ..Default::default()
        });
        queue.enqueue("orphan", "p").await.unwrap();

        // A worker that dies mid-job: its task is dropped, no shutdown, no outcome recorded.
        let dying = start_worker(&queue, 1, recorder.clone());
        wait_for_calls(&recorder, 1, Duration::from_secs(5)).await;
        dying.task.abort();
        assert!(dying.task.await.unwrap_err().is_cancelled());
        let died = Instant::now();
        assert_eq!(state(&queue, "orphan").await, Some(JobState::Active));
        assert_eq!(
            queue.maintain().await.unwrap().recovered,
            0,
            "the lock has not expired yet"
        );

        let recovered = recovered_after(&queue, died).await;
        assert_eq!(recovered, 1);
        assert!(
            died.elapsed() >= Duration::from_millis(300),
            "recovered before the lock could expire"
        );
        assert_eq!(state(&queue, "orphan").await, Some(JobState::Wait));

        let rescuer = start_worker(&queue, 1, recorder.clone());
        wait_for_counts(&queue, Duration::from_secs(5), |c| c.completed == 1).await;
        rescuer.shut_down().await;
        let attempts: Vec<_> = recorder.calls().iter().map(|c| (c.id.clone(), c.attempt)).collect();
        assert_eq!(attempts, [("orphan".to_owned(), 1), ("orphan".to_owned(), 2)]);
        assert_eq!(queue.job("orphan").await.unwrap().unwrap().attempts, 2);
    }

    #[tokio::test]
    async fn a_job_an_older_version_runs_is_left_to_it_while_its_lock_key_lives() {
        let queue = test_queue(QueueConfig::new("jobs")).await;
        queue.enqueue("old", "p").await.unwrap();
        // What an older version's worker leaves while running a job: the id moved to `active`,
        // the attempt started, the lock a key that expires.
        let (k, pool) = (&queue.inner.keys, &queue.inner.pool);
        let moved: Option<String> = pool
            .lmove(
                k.wait.as_str(),
                k.active.as_str(),
                LMoveDirection::Right,
                LMoveDirection::Left,
            )
            .await
            .unwrap();
        assert_eq!(moved.as_deref(), Some("old"));
        let _: i64 = pool
            .hset(k.job("old"), [("state", "active"), ("attempts", "1")])
            .await
            .unwrap();
        let lock_key = format!("{}old", k.lock_prefix);
        let _: () = pool
            .set(&lock_key, "old-worker", Some(Expiration::PX(300)), None, false)
            .await
            .unwrap();
        let taken_at = Instant::now();
        assert_eq!(queue.counts().await.unwrap().active, 1, "counted as running");
        assert_eq!(queue.maintain().await.unwrap().recovered, 0, "its lock still lives");

        // Its worker died: once the key expires, this version puts the job back and runs it.
        let recovered = recovered_after(&queue, taken_at).await;
        assert_eq!(recovered, 1);
        assert!(taken_at.elapsed() >= Duration::from_millis(250));
        let job = take_next(&queue, "t").await.unwrap();
        assert_eq!((job.id.as_str(), job.attempt), ("old", 2));
        queue.complete("old", "t").await.unwrap();
        let c = queue.counts().await.unwrap();
        assert_eq!((c.wait, c.active, c.completed), (0, 0, 1));
    }

    #[tokio::test]
    async fn a_job_stalled_in_its_last_attempt_fails_instead_of_running_again() {
        let queue = test_queue(config(|c| {
            c.lock_ttl = Duration::from_millis(300);
            c.max_attempts = 2;
        }))
        .await;
        queue.enqueue("doomed", "p").await.unwrap();
        // Both attempts stall; the first is recovered (attempts to spare), the last is not.
        for (attempt, expected) in [(1, JobState::Wait), (2, JobState::Failed)] {
            let recorder = Arc::new(Recorder {
                delay: Duration::from_secs(3600),
                ..Default::default()
            });
            let dying = start_worker(&queue, 1, recorder.clone());
            wait_for_calls(&recorder, 1, Duration::from_secs(5)).await;
            dying.task.abort();
            let _ = dying.task.await;
            assert_eq!(recorder.calls()[0].attempt, attempt);
            let died = Instant::now();
            let m = loop {
                let m = queue.maintain().await.unwrap();
                if m.recovered + m.failed > 0 {
                    break m;
                }
                assert!(
                    died.elapsed() < Duration::from_secs(3),
                    "not handled after the lock TTL"
                );
                tokio::time::sleep(Duration::from_millis(25)).await;
            };
            assert_eq!((m.recovered, m.failed), if attempt == 1 { (1, 0) } else { (0, 1) });
            assert_eq!(state(&queue, "doomed").await, Some(expected));
        }
        let job = queue.job("doomed").await.unwrap().unwrap();
        assert_eq!(job.attempts, 2);
        assert!(job.last_error.unwrap().contains("stalled"));
        let c = queue.counts().await.unwrap();
        assert_eq!((c.wait, c.active, c.failed), (0, 0, 1));
    }

    #[tokio::test]
    async fn a_job_moved_but_never_locked_is_recovered_after_a_grace_period() {
        let queue = test_queue(config(|c| c.lock_ttl = Duration::from_millis(300))).await;
        queue.enqueue("limbo", "p").await.unwrap();
        // A worker died between its BLMOVE and locking the job.
        assert_eq!(move_next_to_running(&queue).await.as_deref(), Some("limbo"));
        let first_seen = Instant::now();
        assert_eq!(
            queue.maintain().await.unwrap().recovered,
            0,
            "may be about to be locked"
        );
        let recovered = loop {
            let m = queue.maintain().await.unwrap();
            if m.recovered > 0 || first_seen.elapsed() > Duration::from_secs(2) {
                break m.recovered;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        };
        assert_eq!(recovered, 1);
        assert!(first_seen.elapsed() >= Duration::from_millis(250));
        assert_eq!(queue.counts().await.unwrap().wait, 1);
        // The late worker's lock attempt now finds the job gone and leaves it alone.
        assert!(queue.take_lock("limbo", "late").await.unwrap().is_none());
        let job = take_next(&queue, "t").await.unwrap();
        assert_eq!((job.id.as_str(), job.attempt), ("limbo", 1));
    }

    #[tokio::test]
    async fn two_workers_share_300_jobs_without_running_any_twice() {
        let queue = test_queue(config(|c| c.keep_completed = 1000)).await;
        for i in 0..300 {
            queue.enqueue(&format!("job-{i}"), &i.to_string()).await.unwrap();
        }
        let recorder = Arc::new(Recorder::default());
        let first = start_worker(&queue, 4, recorder.clone());
        let second = start_worker(&queue, 4, recorder.clone());
        wait_for_counts(&queue, Duration::from_secs(10), |c| c.completed == 300).await;
        first.shut_down().await;
        second.shut_down().await;

        let calls = recorder.calls();
        let ids: HashSet<_> = calls.iter().map(|c| c.id.clone()).collect();
        assert_eq!(calls.len(), 300, "some job ran twice");
        assert_eq!(ids.len(), 300);
        assert!(calls
            .iter()
            .all(|c| c.attempt == 1 && c.id == format!("job-{}", c.payload)));
    }

    #[tokio::test]
    async fn shutdown_lets_the_running_job_finish_and_takes_no_new_one() {
        let queue = test_queue(QueueConfig::new("jobs")).await;
        let recorder = Arc::new(Recorder {
            delay: Duration::from_millis(800),
            ..Default::default()
        });
        let worker = start_worker(&queue, 2, recorder.clone());
        queue.enqueue("slow", "p").await.unwrap();
        wait_for_calls(&recorder, 1, Duration::from_secs(5)).await;

        worker.stop.send(true).unwrap();
        // Enqueued after the signal, possibly while the idle slot is blocked in BLMOVE.
        queue.enqueue("late", "p").await.unwrap();
        let started = Instant::now();
        tokio::time::timeout(Duration::from_secs(5), worker.task)
            .await
            .expect("run returns")
            .unwrap();
        assert!(
            started.elapsed() >= Duration::from_millis(500),
            "returned before the job finished"
        );

        assert_eq!(recorder.calls().len(), 1);
        assert_eq!(state(&queue, "slow").await, Some(JobState::Completed));
        assert_eq!(state(&queue, "late").await, Some(JobState::Wait));
        assert_eq!(
            queue.counts().await.unwrap(),
            QueueCounts {
                wait: 1,
                completed: 1,
                ..Default::default()
            }
        );
    }
}
