//! Claims on scheduled fires (Redis, shared by every instance): of several instances exactly one
//! runs a fire, and a fire whose run did not finish — its instance died, or every retry failed —
//! is taken over by a later tick of any instance instead of being lost.
//!
//! A fire has a claim (`running`, then `done`; kept two days) and, while it runs, a lease that
//! expires unless the run ends first. A claimed, unfinished fire without a lease is free to take
//! over. A run taken over twice is harmless: its notifications have idempotency keys.
use std::sync::Arc;
use std::time::Duration;

use app::notifications::NotificationKind;
use chrono::{DateTime, Utc};
use fred::prelude::*;

use crate::platform::redis::{Keys, LuaScript};

/// How long a claim is remembered: longer than any catch-up looks back.
const CLAIM_TTL: Duration = Duration::from_secs(2 * 86_400);
/// How long a run holds its fire without finishing: above a run's usual length (its retries
/// take 7 s), so a live run is rarely taken over.
const LEASE: Duration = Duration::from_secs(120);

/// KEYS: claim, lease. ARGV: token, lease_ms, claim_ttl_ms, fresh allowed (1/0).
/// → 1 claimed now, 2 taken over (claimed before, unfinished, lease lapsed), 0 not ours.
const CLAIM: &str = r#"
local state = redis.call('GET', KEYS[1])
if not state then
  if ARGV[4] ~= '1' then return 0 end
  redis.call('SET', KEYS[1], 'running', 'PX', ARGV[3])
  redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
  return 1
end
if state == 'running' and redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
  return 2
end
return 0
"#;

/// KEYS: claim, lease. ARGV: token, outcome (done / failed). → 1 when the lease was ours.
const END: &str = r#"
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[2])
if ARGV[2] == 'done' then redis.call('SET', KEYS[1], 'done', 'KEEPTTL') end
return 1
"#;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claim {
    /// First to claim the fire.
    Fresh,
    /// Claimed before by a run that did not finish.
    TakenOver,
    /// Running or done elsewhere (or, for a past fire, never claimed: not ours to start late).
    NotOurs,
}

/// The lease of a claimed fire; end it with [`FireClaims::finish`] or [`FireClaims::release`].
#[derive(Debug)]
pub struct Lease {
    claim: String,
    lease: String,
    token: String,
}

#[derive(Clone)]
pub struct FireClaims {
    redis: Pool,
    keys: Keys,
    claim: Arc<LuaScript>,
    end: Arc<LuaScript>,
}

impl FireClaims {
    pub fn new(redis: Pool, keys: Keys) -> Self {
        FireClaims {
            redis,
            keys,
            claim: Arc::new(LuaScript::new("fire_claim", "", CLAIM)),
            end: Arc::new(LuaScript::new("fire_end", "", END)),
        }
    }

    fn names(&self, kind: NotificationKind, fire: DateTime<Utc>) -> (String, String) {
        let at = fire.timestamp().to_string();
        (
            self.keys.key(&["fire", kind.key(), &at]),
            self.keys.key(&["fire-lease", kind.key(), &at]),
        )
    }

    /// Claims `fire`; with `fresh` false only an unfinished claim may be taken over (a tick
    /// looking back must not start a fire nobody started, e.g. one a save just scheduled in
    /// the past).
    pub async fn claim(
        &self,
        kind: NotificationKind,
        fire: DateTime<Utc>,
        fresh: bool,
    ) -> Result<(Claim, Option<Lease>), fred::error::Error> {
        let (claim, lease) = self.names(kind, fire);
        let token = uuid::Uuid::new_v4().simple().to_string();
        let answer: i64 = self
            .claim
            .call(
                &self.redis,
                vec![claim.clone(), lease.clone()],
                vec![
                    token.clone(),
                    LEASE.as_millis().to_string(),
                    CLAIM_TTL.as_millis().to_string(),
                    if fresh { "1" } else { "0" }.to_owned(),
                ],
            )
            .await?;
        let lease = Lease { claim, lease, token };
        Ok(match answer {
            1 => (Claim::Fresh, Some(lease)),
            2 => (Claim::TakenOver, Some(lease)),
            _ => (Claim::NotOurs, None),
        })
    }

    /// Whether `fire` was claimed and not finished, with no live lease: cheap, for a tick to
    /// decide whether a past fire is worth a run.
    pub async fn unfinished(&self, kind: NotificationKind, fire: DateTime<Utc>) -> Result<bool, fred::error::Error> {
        let (claim, lease) = self.names(kind, fire);
        let (state, leased): (Option<String>, bool) =
            tokio::try_join!(self.redis.get(claim), self.redis.exists(lease))?;
        Ok(state.as_deref() == Some("running") && !leased)
    }

    /// The run ended: no instance runs this fire again.
    pub async fn finish(&self, lease: Lease) -> Result<(), fred::error::Error> {
        self.end(lease, "done").await
    }

    /// The run failed: a later tick (of any instance) takes it over.
    pub async fn release(&self, lease: Lease) -> Result<(), fred::error::Error> {
        self.end(lease, "failed").await
    }

    async fn end(&self, lease: Lease, outcome: &str) -> Result<(), fred::error::Error> {
        let _: i64 = self
            .end
            .call(
                &self.redis,
                vec![lease.claim, lease.lease],
                vec![lease.token, outcome.to_owned()],
            )
            .await?;
        Ok(())
    }
}
