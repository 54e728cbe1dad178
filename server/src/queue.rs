//! A small BullMQ-style job queue on Redis: at-least-once delivery, bounded retries with
//! exponential backoff, and bounded history.
//!
//! Keys of a queue (`<prefix>queue:<name>:` + …):
//!
//! | key | type | holds |
//! |---|---|---|
//! | `wait` | list | ids ready to run; pushed on the left, taken from the right (FIFO) |
//! | `active` | list | ids taken by a worker |
//! | `delayed` | sorted set | ids waiting for a retry, scored by due time (ms) |
//! | `completed`, `failed` | sorted sets | finished ids, scored by finish time, trimmed to the retention counts |
//! | `stalled` | sorted set | active ids seen without a lock, scored by when first seen (ms) |
//! | `job:<id>` | hash | `payload state attempts max_attempts last_error created_ms updated_ms finished_ms` |
//! | `lock:<id>` | string | the token of the worker running the job, with a PX expiry |
//!
//! Every state change is one Lua script, so a job id is always in exactly one of the structures
//! and its hash `state` agrees. Scripts read the clock with `TIME`, so all processes share the
//! Redis clock. They also touch `job:<id>` / `lock:<id>` keys they build from a prefix, which is
//! fine on a single Redis (not Redis Cluster).
//!
//! A worker takes a job with `BLMOVE wait → active` on its own connection, so one delivery goes to
//! exactly one worker, then locks it in a second script. Jobs whose worker died are put back by
//! [`Queue::maintain`], which also promotes due retries; a running [`Worker`] calls it on its own.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use fred::prelude::*;
use fred::types::lists::LMoveDirection;
use tokio::sync::{watch, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::{JoinHandle, JoinSet};

use crate::redis::{Keys, LuaScript};

/// How long one `BLMOVE` blocks; bounds how late a worker notices shutdown.
const BLOCK_TIMEOUT: Duration = Duration::from_secs(1);
/// Longest pause between two maintenance passes of a worker: a retry scheduled by another
/// process, or a stalled job, is noticed within this time.
const MAINTAIN_EVERY: Duration = Duration::from_secs(1);
/// Pause after a Redis error before trying again, so an outage does not become a busy loop.
const ERROR_PAUSE: Duration = Duration::from_secs(1);
/// Delayed jobs promoted per maintenance pass; the next pass follows at once when it is reached.
const PROMOTE_BATCH: usize = 1000;
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
// Lua

/// Shared by every script: the Redis clock in ms, and trimming a history set together with the
/// hashes of the ids it drops.
const PRELUDE: &str = r#"
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function trim(set, keep, job_prefix)
  local excess = redis.call('ZCARD', set) - keep
  if excess > 0 then
    for _, id in ipairs(redis.call('ZRANGE', set, 0, excess - 1)) do
      redis.call('DEL', job_prefix .. id)
    end
    redis.call('ZREMRANGEBYRANK', set, 0, excess - 1)
  end
end
"#;

/// KEYS: wait, job. ARGV: id, payload, max_attempts. → 1 added, 0 duplicate.
const ENQUEUE: &str = r#"
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
local now = now_ms()
redis.call('HSET', KEYS[2], 'payload', ARGV[2], 'state', 'wait', 'attempts', 0,
  'max_attempts', ARGV[3], 'created_ms', now, 'updated_ms', now)
redis.call('LPUSH', KEYS[1], ARGV[1])
return 1
"#;

/// Runs right after the worker's BLMOVE. The job may have been put back by `maintain` meanwhile
/// (and even taken by another worker), so it is only locked if still active and unlocked.
/// KEYS: active, job, lock, stalled. ARGV: id, token, ttl_ms. → {payload, attempt} or nil.
const TAKE_LOCK: &str = r#"
if not redis.call('LPOS', KEYS[1], ARGV[1]) then return false end
if redis.call('EXISTS', KEYS[3]) == 1 then return false end
if redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('LREM', KEYS[1], 0, ARGV[1])
  return false
end
redis.call('SET', KEYS[3], ARGV[2], 'PX', ARGV[3])
redis.call('ZREM', KEYS[4], ARGV[1])
local attempt = redis.call('HINCRBY', KEYS[2], 'attempts', 1)
redis.call('HSET', KEYS[2], 'state', 'active', 'updated_ms', now_ms())
return {redis.call('HGET', KEYS[2], 'payload'), attempt}
"#;

/// KEYS: lock. ARGV: token, ttl_ms. → 1 extended, 0 not ours any more.
const REFRESH_LOCK: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"#;

/// KEYS: active, completed, job, lock. ARGV: id, token, keep_completed, job_prefix.
/// → 1 done, 0 lock not held.
const COMPLETE: &str = r#"
if redis.call('GET', KEYS[4]) ~= ARGV[2] then return 0 end
redis.call('DEL', KEYS[4])
redis.call('LREM', KEYS[1], 0, ARGV[1])
local now = now_ms()
redis.call('HSET', KEYS[3], 'state', 'completed', 'updated_ms', now, 'finished_ms', now)
redis.call('ZADD', KEYS[2], now, ARGV[1])
trim(KEYS[2], tonumber(ARGV[3]), ARGV[4])
return 1
"#;

/// KEYS: active, delayed, failed, job, lock. ARGV: id, token, error, backoff_base_ms, keep_failed,
/// job_prefix. → retry delay in ms (≥ 0), -1 lock not held, -2 failed for good.
const RETRY_OR_FAIL: &str = r#"
if redis.call('GET', KEYS[5]) ~= ARGV[2] then return -1 end
redis.call('DEL', KEYS[5])
redis.call('LREM', KEYS[1], 0, ARGV[1])
local now = now_ms()
local attempts = tonumber(redis.call('HGET', KEYS[4], 'attempts')) or 1
local max_attempts = tonumber(redis.call('HGET', KEYS[4], 'max_attempts')) or 1
redis.call('HSET', KEYS[4], 'last_error', ARGV[3], 'updated_ms', now)
if attempts < max_attempts then
  local delay = math.floor(tonumber(ARGV[4]) * 2 ^ math.min(math.max(attempts - 1, 0), 30))
  redis.call('ZADD', KEYS[2], now + delay, ARGV[1])
  redis.call('HSET', KEYS[4], 'state', 'delayed')
  return delay
end
redis.call('HSET', KEYS[4], 'state', 'failed', 'finished_ms', now)
redis.call('ZADD', KEYS[3], now, ARGV[1])
trim(KEYS[3], tonumber(ARGV[5]), ARGV[6])
return -2
"#;

/// A job that may not run yet (`JobError::Later`) waits in delayed, its attempt given back.
/// KEYS: active, delayed, job, lock. ARGV: id, token, delay_ms. → 1 deferred, 0 lock not held.
const DEFER: &str = r#"
if redis.call('GET', KEYS[4]) ~= ARGV[2] then return 0 end
redis.call('DEL', KEYS[4])
redis.call('LREM', KEYS[1], 0, ARGV[1])
local now = now_ms()
redis.call('HINCRBY', KEYS[3], 'attempts', -1)
redis.call('HSET', KEYS[3], 'state', 'delayed', 'updated_ms', now)
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), ARGV[1])
return 1
"#;

/// A worker that took a job after shutdown began hands it back untouched, to the front.
/// KEYS: active, wait, lock. ARGV: id. → 1 handed back, 0 not ours to hand back.
const REQUEUE: &str = r#"
if redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 1 then
  redis.call('RPUSH', KEYS[2], ARGV[1])
  return 1
end
return 0
"#;

/// Promotes due delayed jobs, then recovers stalled active ones. An active job without a lock is
/// stalled at once when its state is `active` (its lock expired); with another state it may just
/// be between its worker's BLMOVE and TAKE_LOCK, so it is recovered only after being seen
/// unlocked for `grace_ms` (a worker that died in that gap). A job that stalled in its last
/// attempt has had all its attempts: it fails (the policy's bound holds across crashes, where
/// BullMQ has `maxStalledCount`).
/// KEYS: wait, active, delayed, stalled, failed. ARGV: job_prefix, lock_prefix, grace_ms, batch,
/// keep_failed. → {promoted, recovered, failed, ms until the next delayed job or -1}.
const MAINTAIN: &str = r#"
local now = now_ms()
local promoted = 0
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, tonumber(ARGV[4]))) do
  redis.call('ZREM', KEYS[3], id)
  local job = ARGV[1] .. id
  if redis.call('EXISTS', job) == 1 then
    redis.call('HSET', job, 'state', 'wait', 'updated_ms', now)
    redis.call('LPUSH', KEYS[1], id)
    promoted = promoted + 1
  end
end

local seen = {}
local marks = redis.call('ZRANGE', KEYS[4], 0, -1, 'WITHSCORES')
for i = 1, #marks, 2 do seen[marks[i]] = tonumber(marks[i + 1]) end
redis.call('DEL', KEYS[4])
local recovered = 0
local failed = 0
for _, id in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do
  if redis.call('EXISTS', ARGV[2] .. id) == 0 then
    local job = ARGV[1] .. id
    local state = redis.call('HGET', job, 'state')
    if not state then
      redis.call('LREM', KEYS[2], 0, id)
    else
      local since = seen[id] or now
      local attempts = tonumber(redis.call('HGET', job, 'attempts')) or 0
      local max_attempts = tonumber(redis.call('HGET', job, 'max_attempts')) or 1
      if state == 'active' and attempts >= max_attempts then
        redis.call('LREM', KEYS[2], 0, id)
        redis.call('HSET', job, 'state', 'failed', 'updated_ms', now, 'finished_ms', now,
          'last_error', 'stalled: its worker stopped during the last attempt')
        redis.call('ZADD', KEYS[5], now, id)
        trim(KEYS[5], tonumber(ARGV[5]), ARGV[1])
        failed = failed + 1
      elseif state == 'active' or now - since >= tonumber(ARGV[3]) then
        redis.call('LREM', KEYS[2], 0, id)
        redis.call('HSET', job, 'state', 'wait', 'updated_ms', now)
        redis.call('RPUSH', KEYS[1], id)
        recovered = recovered + 1
      else
        redis.call('ZADD', KEYS[4], since, id)
      end
    end
  end
end

local next_due = -1
local first = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
if #first > 0 then next_due = math.max(0, tonumber(first[2]) - now) end
return {promoted, recovered, failed, next_due}
"#;

/// A failed job back to wait with its attempts reset (BullMQ's `job.retry()`).
/// KEYS: failed, wait, job. ARGV: id. → 1 retried, 0 not a failed job.
const RETRY_FAILED: &str = r#"
if redis.call('HGET', KEYS[3], 'state') ~= 'failed' then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[3], 'finished_ms')
redis.call('HSET', KEYS[3], 'state', 'wait', 'attempts', 0, 'updated_ms', now_ms())
redis.call('LPUSH', KEYS[2], ARGV[1])
return 1
"#;

/// KEYS: wait, active, delayed, completed, failed. One consistent snapshot.
const COUNTS: &str = r#"
return {redis.call('LLEN', KEYS[1]), redis.call('LLEN', KEYS[2]), redis.call('ZCARD', KEYS[3]),
  redis.call('ZCARD', KEYS[4]), redis.call('ZCARD', KEYS[5])}
"#;

struct Scripts {
    enqueue: LuaScript,
    take_lock: LuaScript,
    refresh_lock: LuaScript,
    complete: LuaScript,
    retry_or_fail: LuaScript,
    defer: LuaScript,
    requeue: LuaScript,
    retry_failed: LuaScript,
    maintain: LuaScript,
    counts: LuaScript,
}

impl Scripts {
    fn new() -> Self {
        Scripts {
            enqueue: LuaScript::new("enqueue", PRELUDE, ENQUEUE),
            take_lock: LuaScript::new("take_lock", PRELUDE, TAKE_LOCK),
            refresh_lock: LuaScript::new("refresh_lock", PRELUDE, REFRESH_LOCK),
            complete: LuaScript::new("complete", PRELUDE, COMPLETE),
            retry_or_fail: LuaScript::new("retry_or_fail", PRELUDE, RETRY_OR_FAIL),
            defer: LuaScript::new("defer", PRELUDE, DEFER),
            requeue: LuaScript::new("requeue", PRELUDE, REQUEUE),
            retry_failed: LuaScript::new("retry_failed", PRELUDE, RETRY_FAILED),
            maintain: LuaScript::new("maintain", PRELUDE, MAINTAIN),
            counts: LuaScript::new("counts", PRELUDE, COUNTS),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Queue

struct QueueKeys {
    wait: String,
    active: String,
    delayed: String,
    completed: String,
    failed: String,
    stalled: String,
    /// `…:job:`; a job's hash is this plus its id.
    job_prefix: String,
    /// `…:lock:`; a job's lock is this plus its id.
    lock_prefix: String,
}

impl QueueKeys {
    fn new(keys: &Keys, name: &str) -> Self {
        let key = |part: &str| keys.key(&["queue", name, part]);
        QueueKeys {
            wait: key("wait"),
            active: key("active"),
            delayed: key("delayed"),
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

    fn lock(&self, id: &str) -> String {
        format!("{}{id}", self.lock_prefix)
    }
}

/// What became of a failed attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FailOutcome {
    RetryIn(Duration),
    Failed,
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
                    k.active.clone(),
                    k.delayed.clone(),
                    k.completed.clone(),
                    k.failed.clone(),
                ],
                vec![],
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
                    k.active.clone(),
                    k.delayed.clone(),
                    k.stalled.clone(),
                    k.failed.clone(),
                ],
                vec![
                    k.job_prefix.clone(),
                    k.lock_prefix.clone(),
                    self.lock_ttl_ms().to_string(),
                    PROMOTE_BATCH.to_string(),
                    self.inner.config.keep_failed.to_string(),
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

    /// Locks a job this worker just moved to `active`; `None` when it is not ours to run.
    async fn take_lock(&self, job_id: &str, token: &str) -> Result<Option<Job>, QueueError> {
        let k = &self.inner.keys;
        let script = &self.inner.scripts.take_lock;
        let taken: Option<(String, i64)> = script
            .call(
                &self.inner.pool,
                vec![k.active.clone(), k.job(job_id), k.lock(job_id), k.stalled.clone()],
                vec![job_id.to_owned(), token.to_owned(), self.lock_ttl_ms().to_string()],
            )
            .await?;
        let Some((payload, attempt)) = taken else {
            return Ok(None);
        };
        let attempt = u32::try_from(attempt).map_err(|_| unexpected(script, &attempt))?;
        Ok(Some(Job {
            id: job_id.to_owned(),
            payload,
            attempt,
        }))
    }

    /// Extends the lock; `false` once it is no longer ours.
    async fn refresh_lock(&self, job_id: &str, token: &str) -> Result<bool, QueueError> {
        let extended: i64 = self
            .inner
            .scripts
            .refresh_lock
            .call(
                &self.inner.pool,
                vec![self.inner.keys.lock(job_id)],
                vec![token.to_owned(), self.lock_ttl_ms().to_string()],
            )
            .await?;
        Ok(extended == 1)
    }

    async fn complete(&self, job_id: &str, token: &str) -> Result<(), QueueError> {
        let k = &self.inner.keys;
        let done: i64 = self
            .inner
            .scripts
            .complete
            .call(
                &self.inner.pool,
                vec![k.active.clone(), k.completed.clone(), k.job(job_id), k.lock(job_id)],
                vec![
                    job_id.to_owned(),
                    token.to_owned(),
                    self.inner.config.keep_completed.to_string(),
                    k.job_prefix.clone(),
                ],
            )
            .await?;
        if done == 1 {
            Ok(())
        } else {
            Err(QueueError::LockLost {
                job_id: job_id.to_owned(),
            })
        }
    }

    async fn fail(&self, job_id: &str, token: &str, error: &str) -> Result<FailOutcome, QueueError> {
        let k = &self.inner.keys;
        let script = &self.inner.scripts.retry_or_fail;
        let reply: i64 = script
            .call(
                &self.inner.pool,
                vec![
                    k.active.clone(),
                    k.delayed.clone(),
                    k.failed.clone(),
                    k.job(job_id),
                    k.lock(job_id),
                ],
                vec![
                    job_id.to_owned(),
                    token.to_owned(),
                    truncate(error, MAX_ERROR_LEN).to_owned(),
                    self.inner.config.backoff_base.as_millis().to_string(),
                    self.inner.config.keep_failed.to_string(),
                    k.job_prefix.clone(),
                ],
            )
            .await?;
        match reply {
            -1 => Err(QueueError::LockLost {
                job_id: job_id.to_owned(),
            }),
            -2 => Ok(FailOutcome::Failed),
            ms if ms >= 0 => Ok(FailOutcome::RetryIn(Duration::from_millis(ms.unsigned_abs()))),
            other => Err(unexpected(script, &other)),
        }
    }

    async fn defer(&self, job_id: &str, token: &str, delay: Duration) -> Result<(), QueueError> {
        let k = &self.inner.keys;
        let deferred: i64 = self
            .inner
            .scripts
            .defer
            .call(
                &self.inner.pool,
                vec![k.active.clone(), k.delayed.clone(), k.job(job_id), k.lock(job_id)],
                vec![job_id.to_owned(), token.to_owned(), delay.as_millis().to_string()],
            )
            .await?;
        if deferred == 1 {
            Ok(())
        } else {
            Err(QueueError::LockLost {
                job_id: job_id.to_owned(),
            })
        }
    }

    /// Hands back a job moved to `active` but never locked.
    async fn requeue(&self, job_id: &str) -> Result<bool, QueueError> {
        let k = &self.inner.keys;
        let requeued: i64 = self
            .inner
            .scripts
            .requeue
            .call(
                &self.inner.pool,
                vec![k.active.clone(), k.wait.clone(), k.lock(job_id)],
                vec![job_id.to_owned()],
            )
            .await?;
        Ok(requeued == 1)
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
pub struct Worker {
    queue: Queue,
    redis_config: Config,
    concurrency: usize,
    handler: Arc<dyn JobHandler>,
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
                    pause(ERROR_PAUSE, &mut shutdown).await;
                    if stopping(&shutdown) {
                        return;
                    }
                }
            }
        };
        let retry_scheduled = Arc::new(Notify::new());
        tracing::info!(queue = %self.queue.config().name, concurrency = self.concurrency, "worker started");
        tokio::join!(
            self.take_jobs(&client, shutdown.clone(), retry_scheduled.clone()),
            maintenance_loop(self.queue.clone(), shutdown, retry_scheduled),
        );
        if let Err(e) = client.quit().await {
            tracing::debug!(error = %e, "closing the worker's Redis connection");
        }
        tracing::info!(queue = %self.queue.config().name, "worker stopped");
    }

    async fn connect(&self) -> Result<Client, QueueError> {
        // Longer than a BLMOVE may legitimately block.
        let client = crate::redis::builder(self.redis_config.clone(), BLOCK_TIMEOUT + Duration::from_secs(5))
            .build()
            .map_err(QueueError::Connect)?;
        crate::redis::first_connection(client.init())
            .await
            .map_err(QueueError::Connect)?;
        Ok(client)
    }

    async fn take_jobs(&self, client: &Client, mut shutdown: watch::Receiver<bool>, retry_scheduled: Arc<Notify>) {
        let k = &self.queue.inner.keys;
        let permits = Arc::new(Semaphore::new(self.concurrency));
        let mut running = JoinSet::new();
        while !stopping(&shutdown) {
            let permit = tokio::select! {
                permit = permits.clone().acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => break,
                },
                () = shutdown_signalled(&mut shutdown) => break,
            };
            while running.try_join_next().is_some() {}
            // Not raced against shutdown: dropping a BLMOVE whose reply is in flight would strand
            // the job in `active` until the stall grace period has passed.
            let moved: Result<Option<String>, _> = client
                .blmove(
                    k.wait.as_str(),
                    k.active.as_str(),
                    LMoveDirection::Right,
                    LMoveDirection::Left,
                    BLOCK_TIMEOUT.as_secs_f64(),
                )
                .await;
            let job_id = match moved {
                Ok(Some(job_id)) => job_id,
                Ok(None) => continue,
                // fred reports a blocking command's nil answer (nothing arrived within the block
                // time) as a timeout: an idle queue, not an error, so no pause.
                Err(e) if *e.kind() == fred::error::ErrorKind::Timeout => continue,
                Err(e) => {
                    tracing::warn!(queue = %self.queue.config().name, error = %e, "taking a job failed");
                    pause(ERROR_PAUSE, &mut shutdown).await;
                    continue;
                }
            };
            if stopping(&shutdown) {
                if let Err(e) = self.queue.requeue(&job_id).await {
                    tracing::warn!(job_id, error = %e, "handing back a job at shutdown failed; it is recovered later");
                }
                break;
            }
            // Locked in the job's own task: the take loop's only round trip is the BLMOVE, so
            // one worker keeps several locks in flight (≈ 25 % less CPU per job, measured).
            running.spawn(lock_and_run(
                self.queue.clone(),
                self.handler.clone(),
                job_id,
                permit,
                retry_scheduled.clone(),
            ));
        }
        while let Some(finished) = running.join_next().await {
            if let Err(e) = finished {
                tracing::error!(error = %e, "a job task ended abnormally");
            }
        }
    }
}

/// Locks a job just moved to `active`, then runs it.
async fn lock_and_run(
    queue: Queue,
    handler: Arc<dyn JobHandler>,
    job_id: String,
    permit: OwnedSemaphorePermit,
    retry_scheduled: Arc<Notify>,
) {
    let token = uuid::Uuid::new_v4().simple().to_string();
    match queue.take_lock(&job_id, &token).await {
        Ok(Some(job)) => run_job(queue, handler, job, token, permit, retry_scheduled).await,
        Ok(None) => tracing::debug!(job_id, "job was recovered before it could be locked; skipped"),
        Err(e) => tracing::warn!(job_id, error = %e, "locking a job failed; it is recovered later"),
    }
}

/// Runs one attempt while keeping its lock alive, then records the outcome.
async fn run_job(
    queue: Queue,
    handler: Arc<dyn JobHandler>,
    job: Job,
    token: String,
    _permit: OwnedSemaphorePermit,
    retry_scheduled: Arc<Notify>,
) {
    // Own task, so a panicking handler becomes a failed attempt instead of a lost job task.
    let mut handling = AbortOnDrop(tokio::spawn({
        let job = job.clone();
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
    match result {
        Ok(()) => match with_retries(|| queue.complete(&job.id, &token)).await {
            Ok(()) => tracing::debug!(job_id = %job.id, attempt = job.attempt, "job completed"),
            Err(e) => tracing::warn!(job_id = %job.id, error = %e, "recording a completed job failed"),
        },
        Err(JobError::Later(delay)) => match with_retries(|| queue.defer(&job.id, &token, delay)).await {
            Ok(()) => {
                tracing::debug!(job_id = %job.id, delay_ms = delay.as_millis() as u64, "job deferred");
                retry_scheduled.notify_one();
            }
            Err(e) => tracing::warn!(job_id = %job.id, error = %e, "deferring a job failed"),
        },
        Err(JobError::Failed(message)) => match with_retries(|| queue.fail(&job.id, &token, &message)).await {
            Ok(FailOutcome::RetryIn(delay)) => {
                tracing::info!(job_id = %job.id, attempt = job.attempt, error = %message, retry_in_ms = delay.as_millis() as u64, "job failed; retry scheduled");
                retry_scheduled.notify_one();
            }
            Ok(FailOutcome::Failed) => {
                tracing::warn!(job_id = %job.id, attempt = job.attempt, error = %message, "job failed for good");
            }
            Err(e) => tracing::warn!(job_id = %job.id, error = %e, "recording a failed attempt failed"),
        },
    }
}

/// Recording an outcome is retried on Redis errors, since giving up means running the job again.
async fn with_retries<T, F, Fut>(mut op: F) -> Result<T, QueueError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, QueueError>>,
{
    let mut tries = 1;
    loop {
        match op().await {
            Err(QueueError::Redis(e)) if tries < 3 => {
                tracing::debug!(error = %e, "retrying a job outcome");
                tries += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            result => return result,
        }
    }
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

/// A dropped sender counts as shutdown: nobody is left to ask for it.
fn stopping(shutdown: &watch::Receiver<bool>) -> bool {
    *shutdown.borrow() || shutdown.has_changed().is_err()
}

async fn shutdown_signalled(shutdown: &mut watch::Receiver<bool>) {
    // `wait_for` also returns (with an error) when the sender is gone.
    let _ = shutdown.wait_for(|stop| *stop).await;
}

async fn pause(duration: Duration, shutdown: &mut watch::Receiver<bool>) {
    tokio::select! {
        () = tokio::time::sleep(duration) => {}
        () = shutdown_signalled(shutdown) => {}
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

    /// A worker's BLMOVE, without blocking: the next waiting id, now in active.
    async fn move_next_to_active(queue: &Queue) -> Option<String> {
        let k = &queue.inner.keys;
        queue
            .inner
            .pool
            .lmove(
                k.wait.as_str(),
                k.active.as_str(),
                LMoveDirection::Right,
                LMoveDirection::Left,
            )
            .await
            .unwrap()
    }

    /// What a worker does, without blocking: move the next job to active and lock it.
    async fn take_next(queue: &Queue, token: &str) -> Option<Job> {
        let id = move_next_to_active(queue).await?;
        queue.take_lock(&id, token).await.unwrap()
    }

    /// Gaps between consecutive attempts, each checked against `base * 2^i` within
    /// [0.9×, 0.9× + slack].
    fn assert_backoff(calls: &[Call], base: Duration, slack: Duration) {
        for (i, pair) in calls.windows(2).enumerate() {
            let gap = pair[1].at - pair[0].at;
            let expected = base * 2u32.pow(i as u32);
            let low = expected.mul_f64(0.9);
            assert!(
                gap >= low && gap <= low + slack,
                "gap {} was {gap:?}, expected about {expected:?}",
                i + 1
            );
        }
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
        let lock: Option<String> = queue.inner.pool.get(queue.inner.keys.lock("hello")).await.unwrap();
        assert_eq!(lock, None, "the lock is released");
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
        wait_for_counts(&queue, Duration::from_secs(12), |c| c.completed == 1).await;
        worker.shut_down().await;

        let calls = recorder.calls();
        assert_eq!(calls.iter().map(|c| c.attempt).collect::<Vec<_>>(), [1, 2, 3, 4]);
        assert_backoff(&calls, Duration::from_secs(1), Duration::from_secs(1));
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
            wait_for_counts(&queue, Duration::from_secs(5), |c| c.completed == 1).await;
            worker.shut_down().await;

            let calls = recorder.calls();
            assert_eq!(calls.len() as u32, fail_attempts + 1);
            assert_backoff(&calls, base, Duration::from_millis(200));
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
        wait_for_counts(&queue, Duration::from_secs(5), |c| c.failed == 1).await;
        // Long enough for a fifth attempt to show up if there were one.
        tokio::time::sleep(Duration::from_millis(900)).await;
        worker.shut_down().await;

        let calls = recorder.calls();
        assert_eq!(calls.iter().map(|c| c.attempt).collect::<Vec<_>>(), [1, 2, 3, 4]);
        assert_backoff(&calls, base, Duration::from_millis(200));
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
        let gap = calls[1].at - calls[0].at;
        assert!(
            gap >= Duration::from_millis(360) && gap < Duration::from_millis(1400),
            "{gap:?}"
        );
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

        let recovered = loop {
            let m = queue.maintain().await.unwrap();
            if m.recovered > 0 {
                break m.recovered;
            }
            assert!(
                died.elapsed() < Duration::from_secs(3),
                "not recovered after the lock TTL"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        };
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
        assert_eq!(move_next_to_active(&queue).await.as_deref(), Some("limbo"));
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
