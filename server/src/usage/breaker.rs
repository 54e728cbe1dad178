//! Per-provider circuit breakers, driven by ingested request outcomes. State lives in Redis
//! (one hash per provider) and every change is one Lua script, so instances sharing a Redis
//! agree on the state and a transition happens — and is alerted — exactly once.
//!
//! CLOSED --(consecutive failures ≥ threshold)--> OPEN until now + open duration
//! OPEN --(open duration passed; seen at the next outcome or read)--> HALF_OPEN
//! HALF_OPEN --(configured successes)--> CLOSED;  HALF_OPEN --(a failure)--> OPEN again
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use fred::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use app::usage::{BreakerConfig, CircuitState};

use crate::platform::redis::{Keys, LuaScript};

/// A provider's breaker settings (the `providers` row).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BreakerSettings {
    pub failure_threshold: u32,
    pub open_duration: Duration,
    pub half_open_success_threshold: u32,
}

impl BreakerSettings {
    /// From the shape pages, API and table share; values below the table's ranges (which its
    /// CHECKs rule out) are raised to the least that works.
    pub fn from_config(c: BreakerConfig) -> Self {
        let at_least = |value: i64, min: i64| u64::try_from(value.max(min)).unwrap_or(u64::MAX);
        BreakerSettings {
            failure_threshold: u32::try_from(at_least(c.failure_threshold, 1)).unwrap_or(u32::MAX),
            open_duration: Duration::from_millis(at_least(c.open_duration_ms, 1000)),
            half_open_success_threshold: u32::try_from(at_least(c.half_open_success_threshold, 1)).unwrap_or(u32::MAX),
        }
    }
}

/// The shared default (5 failures, 30 minutes, 2 successes), as the table's column defaults.
impl Default for BreakerSettings {
    fn default() -> Self {
        BreakerSettings::from_config(BreakerConfig::default())
    }
}

/// What a gateway needs to route around an open provider.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CircuitStatus {
    pub provider_id: i64,
    pub state: CircuitState,
    pub consecutive_failures: u32,
    /// While OPEN: when requests may be tried again (RFC 3339).
    pub open_until: Option<DateTime<Utc>>,
}

/// A state change caused by the outcome at `index` of a [`Breakers::record`] call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transition {
    Opened {
        index: usize,
        failures: u32,
        /// When the provider first opened in this episode (kept through HALF_OPEN → OPEN).
        opened_at: DateTime<Utc>,
        open_until: DateTime<Utc>,
    },
    HalfOpened {
        index: usize,
    },
    Closed {
        index: usize,
        opened_at: DateTime<Utc>,
    },
}

/// Shared by the scripts: the Redis clock in ms.
const PRELUDE: &str = r#"
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
"#;

/// KEYS: breaker hash. ARGV: failure_threshold, open_ms, half_open_successes, outcomes ("1" =
/// success, "0" = failure, in order). → flat list of {kind, index (0-based), a, b}: `open`
/// (failures, opened_at_ms, open_until_ms → 5 fields), `half_open`, `closed` (opened_at_ms).
/// Outcomes while OPEN (and not yet due) are ignored: a gateway should not be sending there.
const RECORD: &str = r#"
local threshold = tonumber(ARGV[1])
local open_ms = tonumber(ARGV[2])
local needed = tonumber(ARGV[3])
local outcomes = ARGV[4]
local now = now_ms()
local f = redis.call('HMGET', KEYS[1], 'state', 'failures', 'successes', 'opened_at', 'open_until')
local state = f[1] or 'closed'
local failures = tonumber(f[2]) or 0
local successes = tonumber(f[3]) or 0
local opened_at = tonumber(f[4]) or 0
local open_until = tonumber(f[5]) or 0
local out = {}
for i = 1, #outcomes do
  local ok = string.sub(outcomes, i, i) == '1'
  if state == 'open' and now >= open_until then
    -- The trial starts clean: a failure now reopens with a count of 1, not the old run plus 1.
    state = 'half_open'
    failures = 0
    successes = 0
    for _, v in ipairs({'half_open', i - 1, 0, 0, 0}) do table.insert(out, v) end
  end
  if state == 'closed' then
    if ok then
      failures = 0
    else
      failures = failures + 1
      if failures >= threshold then
        state = 'open'
        opened_at = now
        open_until = now + open_ms
        for _, v in ipairs({'open', i - 1, failures, opened_at, open_until}) do table.insert(out, v) end
      end
    end
  elseif state == 'half_open' then
    if ok then
      successes = successes + 1
      if successes >= needed then
        state = 'closed'
        failures = 0
        successes = 0
        for _, v in ipairs({'closed', i - 1, opened_at, 0, 0}) do table.insert(out, v) end
      end
    else
      failures = failures + 1
      state = 'open'
      open_until = now + open_ms
      for _, v in ipairs({'open', i - 1, failures, opened_at, open_until}) do table.insert(out, v) end
    end
  end
end
redis.call('HSET', KEYS[1], 'state', state, 'failures', failures, 'successes', successes,
  'opened_at', opened_at, 'open_until', open_until)
return out
"#;

/// KEYS: breaker hash. ARGV: state (`closed`, `open`, `half_open`), failures, open_until_ms, as
/// the gateway that keeps the breaker has it. → the transition from the state kept here, in
/// RECORD's shape (index 0), or nothing. A reopening (a failed trial between two reads) is seen
/// by its later `open_until`.
const FOLLOW: &str = r#"
local now = now_ms()
local f = redis.call('HMGET', KEYS[1], 'state', 'opened_at', 'open_until')
local was = f[1] or 'closed'
local opened_at = tonumber(f[2]) or 0
local was_until = tonumber(f[3]) or 0
local state = ARGV[1]
local failures = tonumber(ARGV[2])
local open_until = tonumber(ARGV[3])
local out = {}
if state ~= 'closed' and was == 'closed' then
  opened_at = now
end
if state == 'open' and (was ~= 'open' or open_until > was_until) then
  out = {'open', 0, failures, opened_at, open_until}
elseif state == 'half_open' and was ~= 'half_open' then
  out = {'half_open', 0, 0, 0, 0}
elseif state == 'closed' and was ~= 'closed' then
  out = {'closed', 0, opened_at, 0, 0}
end
redis.call('HSET', KEYS[1], 'state', state, 'failures', failures, 'successes', 0,
  'opened_at', opened_at, 'open_until', open_until)
return out
"#;

/// KEYS: breaker hash. → {state, failures, open_until_ms, now_ms}.
const STATUS: &str = r#"
local f = redis.call('HMGET', KEYS[1], 'state', 'failures', 'open_until')
return {f[1] or 'closed', tonumber(f[2]) or 0, tonumber(f[3]) or 0, now_ms()}
"#;

#[derive(Debug, thiserror::Error)]
pub enum BreakerError {
    #[error("Redis: {0}")]
    Redis(#[from] fred::error::Error),
    #[error("unexpected reply from the breaker script: {0}")]
    UnexpectedReply(String),
}

/// The transitions of a RECORD or FOLLOW reply.
fn transitions(reply: &[Value]) -> Result<Vec<Transition>, BreakerError> {
    let mut transitions = Vec::new();
    for chunk in reply.chunks(5) {
        let [kind, index, a, b, c] = chunk else {
            return Err(BreakerError::UnexpectedReply(format!("{reply:?}")));
        };
        let int = |v: &Value| {
            v.as_i64()
                .ok_or_else(|| BreakerError::UnexpectedReply(format!("{v:?}")))
        };
        let index =
            usize::try_from(int(index)?).map_err(|_| BreakerError::UnexpectedReply(format!("index {index:?}")))?;
        transitions.push(match kind.as_str().as_deref() {
            Some("open") => Transition::Opened {
                index,
                failures: u32::try_from(int(a)?).unwrap_or(0),
                opened_at: ms(int(b)?),
                open_until: ms(int(c)?),
            },
            Some("half_open") => Transition::HalfOpened { index },
            Some("closed") => Transition::Closed {
                index,
                opened_at: ms(int(a)?),
            },
            _ => return Err(BreakerError::UnexpectedReply(format!("{kind:?}"))),
        });
    }
    Ok(transitions)
}

fn ms(value: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(value).single().unwrap_or_default()
}

/// A breaker as the gateway that keeps it has it (Claude Code Hub's, in its Redis).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Observed {
    pub state: CircuitState,
    pub failures: u32,
    /// While open: when the gateway tries the provider again.
    pub open_until: Option<DateTime<Utc>>,
}

#[derive(Clone)]
pub struct Breakers {
    pool: Pool,
    keys: Keys,
    scripts: std::sync::Arc<(LuaScript, LuaScript, LuaScript)>,
}

impl Breakers {
    pub fn new(pool: Pool, keys: Keys) -> Self {
        Breakers {
            pool,
            keys,
            scripts: std::sync::Arc::new((
                LuaScript::new("breaker_record", PRELUDE, RECORD),
                LuaScript::new("breaker_status", PRELUDE, STATUS),
                LuaScript::new("breaker_follow", PRELUDE, FOLLOW),
            )),
        }
    }

    fn key(&self, provider_id: i64) -> String {
        self.keys.key(&["breaker", &provider_id.to_string()])
    }

    /// Feeds outcomes (`true` = success) in order; returns the transitions they caused.
    pub async fn record(
        &self,
        provider_id: i64,
        settings: BreakerSettings,
        outcomes: &[bool],
    ) -> Result<Vec<Transition>, BreakerError> {
        if outcomes.is_empty() {
            return Ok(Vec::new());
        }
        let encoded: String = outcomes.iter().map(|&ok| if ok { '1' } else { '0' }).collect();
        let reply: Vec<Value> = self
            .scripts
            .0
            .call(
                &self.pool,
                vec![self.key(provider_id)],
                vec![
                    settings.failure_threshold.to_string(),
                    settings.open_duration.as_millis().to_string(),
                    settings.half_open_success_threshold.to_string(),
                    encoded,
                ],
            )
            .await?;
        transitions(&reply)
    }

    /// Takes the state a gateway keeps for `provider_id` as this breaker's own (pages, the
    /// circuit API and alerts then follow it), and answers the change it makes, if any.
    pub async fn follow(&self, provider_id: i64, observed: Observed) -> Result<Option<Transition>, BreakerError> {
        let state = match observed.state {
            CircuitState::Closed => "closed",
            CircuitState::Open => "open",
            CircuitState::HalfOpen => "half_open",
        };
        let reply: Vec<Value> = self
            .scripts
            .2
            .call(
                &self.pool,
                vec![self.key(provider_id)],
                vec![
                    state.to_owned(),
                    observed.failures.to_string(),
                    observed.open_until.map_or(0, |t| t.timestamp_millis()).to_string(),
                ],
            )
            .await?;
        Ok(transitions(&reply)?.pop())
    }

    /// The state as a gateway should see it: OPEN past its time reads as HALF_OPEN.
    pub async fn status(&self, provider_id: i64) -> Result<CircuitStatus, BreakerError> {
        let (state, failures, open_until, now): (String, i64, i64, i64) = self
            .scripts
            .1
            .call(&self.pool, vec![self.key(provider_id)], vec![])
            .await?;
        let (state, failures) = match state.as_str() {
            // As RECORD will see it at the next outcome: a half-open trial starts clean.
            "open" if now >= open_until => (CircuitState::HalfOpen, 0),
            "open" => (CircuitState::Open, failures),
            "half_open" => (CircuitState::HalfOpen, failures),
            _ => (CircuitState::Closed, failures),
        };
        Ok(CircuitStatus {
            provider_id,
            state,
            consecutive_failures: u32::try_from(failures).unwrap_or(0),
            open_until: (state == CircuitState::Open).then(|| ms(open_until)),
        })
    }
}
