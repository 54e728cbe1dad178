//! 成本预警: for every user, API key (named with its owner, as Claude Code Hub's own check does)
//! and provider with a quota, each quota window — 5 小时 (rolling), 今日 (as its day is cut),
//! 本周 (from Monday), 本月 (calendar, in APP_TIMEZONE), 累计 — usage at or over the threshold
//! is reported, once per (account, window instance, level): the level reached is remembered in
//! Redis, so a check that finds usage still high stays quiet, while a new window or a higher
//! level alerts again. Spending per window comes from `spending` (the rollups, in one grouped
//! pass per table).
use chrono::{DateTime, NaiveDateTime, Utc};
use chrono_tz::Tz;
use fred::prelude::*;
use rust_decimal::Decimal;
use sqlx::PgPool;

use crate::platform::redis::{Keys, LuaScript};
use crate::usage::spending::{self, Account, Scope, WindowSpending, Windows};
use app::usage::{DailyReset, UsageLevel, UsageWindow};

use crate::usage::spending::{level_of, usage_percent};

/// Which occurrence of a window an overrun belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowInstance {
    /// The rolling 5 or 24 hours: no occurrence of its own.
    Rolling,
    /// The day, week or month that began at this local time.
    From(NaiveDateTime),
    /// All usage stored (累计): one occurrence for ever.
    Ever,
}

impl WindowInstance {
    /// The text Redis keys and idempotency keys hold (`rolling`, `2026-03-02`, a day cut at
    /// 18:00 `2026-03-02T18:00`, `ever`).
    pub fn key(self) -> String {
        match self {
            WindowInstance::Rolling => "rolling".to_owned(),
            WindowInstance::From(at) if at.time() == chrono::NaiveTime::MIN => at.date().to_string(),
            WindowInstance::From(at) => at.format("%Y-%m-%dT%H:%M").to_string(),
            WindowInstance::Ever => "ever".to_owned(),
        }
    }
}

/// Whose spending: the account, and for an API key its owner's name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Spender {
    User,
    Key { owner: String },
    Provider,
}

impl Spender {
    pub fn account(&self) -> Account {
        match self {
            Spender::User => Account::User,
            Spender::Key { .. } => Account::Key,
            Spender::Provider => Account::Provider,
        }
    }
}

/// Who is over the threshold in which window.
#[derive(Clone, Debug, PartialEq)]
pub struct Overrun {
    pub spender: Spender,
    pub id: i64,
    pub name: String,
    pub window: UsageWindow,
    /// How the day is cut (for the 今日 label).
    pub reset: DailyReset,
    pub instance: WindowInstance,
    pub current_usd: Decimal,
    pub limit_usd: Decimal,
    pub level: UsageLevel,
}

fn level_rank(level: UsageLevel) -> u8 {
    match level {
        UsageLevel::Green => 1,
        UsageLevel::Yellow => 2,
        UsageLevel::Red => 3,
    }
}

/// KEYS: one level key per overrun. ARGV: level, ttl_secs per key, in pairs. → per key 1 when
/// its level is above the remembered one (now remembered), 0 otherwise (the memory is kept
/// alive). One call for a whole check: a round trip per overrun would dominate it.
const RAISE_LEVELS: &str = r#"
local out = {}
for i, key in ipairs(KEYS) do
  local level = tonumber(ARGV[2 * i - 1])
  local ttl = ARGV[2 * i]
  local seen = tonumber(redis.call('GET', key) or '0')
  if level > seen then
    redis.call('SET', key, level, 'EX', ttl)
    out[i] = 1
  else
    redis.call('EXPIRE', key, ttl)
    out[i] = 0
  end
end
return out
"#;

/// Overruns per script call: bounds one call's time inside Redis.
const LEVELS_PER_CALL: usize = 1000;

#[derive(Clone)]
pub struct CostChecker {
    db: PgPool,
    redis: Pool,
    keys: Keys,
    script: std::sync::Arc<LuaScript>,
}

#[derive(Debug, thiserror::Error)]
pub enum CostCheckError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("Redis: {0}")]
    Redis(#[from] fred::error::Error),
}

impl CostChecker {
    pub fn new(db: PgPool, redis: Pool, keys: Keys) -> Self {
        CostChecker {
            db,
            redis,
            keys,
            script: std::sync::Arc::new(LuaScript::new("cost_levels", "", RAISE_LEVELS)),
        }
    }

    /// Every entity and window at or over `threshold_percent` at `now`.
    pub async fn overruns(
        &self,
        now: DateTime<Utc>,
        tz: Tz,
        threshold_percent: i32,
    ) -> Result<Vec<Overrun>, CostCheckError> {
        let windows = Windows::at(now, tz);
        let scope = Scope::AtOrOver(threshold_percent);
        let (users, keys, providers) = tokio::try_join!(
            spending::users(&self.db, &windows, scope),
            spending::keys(&self.db, &windows, scope),
            spending::providers(&self.db, &windows, scope),
        )?;
        let mut out = Vec::new();
        for u in users {
            out.extend(overruns_of(
                Spender::User,
                u.id,
                &u.name,
                &u.windows,
                &windows,
                threshold_percent,
            ));
        }
        for k in keys {
            let spender = Spender::Key {
                owner: k.of.owner_name.clone(),
            };
            out.extend(overruns_of(
                spender,
                k.id,
                &k.name,
                &k.windows,
                &windows,
                threshold_percent,
            ));
        }
        for p in providers {
            out.extend(overruns_of(
                Spender::Provider,
                p.id,
                &p.name,
                &p.windows,
                &windows,
                threshold_percent,
            ));
        }
        Ok(out)
    }

    /// Keeps the overruns that reached a level not yet alerted in their window instance, and
    /// remembers it (atomically, so concurrent checks alert once).
    pub async fn newly_alerted(&self, overruns: Vec<Overrun>) -> Result<Vec<Overrun>, CostCheckError> {
        let mut fresh = Vec::new();
        let mut overruns = overruns.into_iter().peekable();
        while overruns.peek().is_some() {
            let chunk: Vec<Overrun> = overruns.by_ref().take(LEVELS_PER_CALL).collect();
            let mut keys = Vec::with_capacity(chunk.len());
            let mut args = Vec::with_capacity(2 * chunk.len());
            for o in &chunk {
                keys.push(self.level_key(o));
                // Calendar windows are forgotten after they end (a month at most); a rolling
                // window's memory lives as long as the window after usage was last seen high;
                // the total's a year after.
                let ttl = match (o.window, o.instance) {
                    (UsageWindow::FiveHours, _) => 5 * 3600,
                    (_, WindowInstance::Rolling) => 24 * 3600,
                    (_, WindowInstance::Ever) => 366 * 86_400,
                    _ => 32 * 86_400,
                };
                args.push(level_rank(o.level).to_string());
                args.push(ttl.to_string());
            }
            let raised: Vec<i64> = self.script.call(&self.redis, keys, args).await?;
            fresh.extend(
                chunk
                    .into_iter()
                    .zip(raised)
                    .filter_map(|(o, raised)| (raised == 1).then_some(o)),
            );
        }
        Ok(fresh)
    }

    /// Forgets the levels [`CostChecker::newly_alerted`] remembered for overruns whose alert was
    /// then not raised, so the next check alerts them.
    pub async fn forget(&self, overruns: &[Overrun]) -> Result<(), CostCheckError> {
        for chunk in overruns.chunks(LEVELS_PER_CALL) {
            let keys: Vec<String> = chunk.iter().map(|o| self.level_key(o)).collect();
            let _: i64 = self.redis.del(keys).await?;
        }
        Ok(())
    }

    fn level_key(&self, o: &Overrun) -> String {
        self.keys.key(&[
            "cost-level",
            o.spender.account().key(),
            &o.id.to_string(),
            o.window.key(),
            &o.instance.key(),
        ])
    }
}

fn overruns_of(
    spender: Spender,
    id: i64,
    name: &str,
    spent: &[WindowSpending],
    windows: &Windows,
    threshold_percent: i32,
) -> Vec<Overrun> {
    spent
        .iter()
        .filter(|w| w.at_or_over(threshold_percent))
        .filter_map(|w| {
            let limit_usd = w.limit_usd?;
            let instance = match windows.began(w.window, w.reset) {
                Some(at) => WindowInstance::From(at),
                None if w.window == UsageWindow::Total => WindowInstance::Ever,
                None => WindowInstance::Rolling,
            };
            Some(Overrun {
                spender: spender.clone(),
                id,
                name: name.to_owned(),
                window: w.window,
                reset: w.reset,
                instance,
                current_usd: w.spent_usd,
                limit_usd,
                // A zero quota has no percentage: it is exceeded.
                level: level_of(usage_percent(w.spent_usd, limit_usd).unwrap_or(Decimal::ONE_HUNDRED)),
            })
        })
        .collect()
}
