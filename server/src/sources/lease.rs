//! One instance at a time: a lease in Redis, taken with `SET NX PX` and renewed by its holder
//! while it works. When the holder dies the lease runs out, and the next instance to ask takes it.
use std::sync::Arc;
use std::time::Duration;

use fred::prelude::*;

use crate::platform::redis::{Keys, LuaScript};

/// Renews the lease when this instance holds it, takes it when nobody does.
/// KEYS: the lease. ARGV: this instance's token, ttl in ms. → 1 held, 0 another holds it.
const TAKE: &str = r#"
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if holder then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"#;

/// Gives the lease up when this instance holds it. KEYS: the lease. ARGV: the token.
const RELEASE: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"#;

#[derive(Clone)]
pub struct Lease {
    pool: Pool,
    key: String,
    token: String,
    ttl: Duration,
    take: Arc<LuaScript>,
    release: Arc<LuaScript>,
}

impl Lease {
    /// The lease named `name` for this process (`token`: who it is, as shown to admins).
    pub fn new(pool: Pool, keys: &Keys, name: &str, token: String, ttl: Duration) -> Self {
        Lease {
            pool,
            key: keys.key(&["lease", name]),
            token,
            ttl,
            take: Arc::new(LuaScript::new("lease_take", "", TAKE)),
            release: Arc::new(LuaScript::new("lease_release", "", RELEASE)),
        }
    }

    pub fn token(&self) -> &str {
        &self.token
    }

    /// Takes or renews the lease: whether this instance holds it now.
    pub async fn hold(&self) -> Result<bool, fred::error::Error> {
        let held: i64 = self
            .take
            .call(
                &self.pool,
                vec![self.key.clone()],
                vec![self.token.clone(), self.ttl.as_millis().to_string()],
            )
            .await?;
        Ok(held == 1)
    }

    /// Lets another instance take over at once.
    pub async fn release(&self) -> Result<(), fred::error::Error> {
        let _: i64 = self
            .release
            .call(&self.pool, vec![self.key.clone()], vec![self.token.clone()])
            .await?;
        Ok(())
    }

    /// Who holds the lease now, if anyone.
    pub async fn holder(&self) -> Result<Option<String>, fred::error::Error> {
        self.pool.get(&self.key).await
    }
}

/// A holder's name for this instance: the host, the process id, and a random tag (two
/// instances in one process, or pid 1 of two containers on one host, stay apart).
pub fn this_instance() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default();
    let host = if host.is_empty() {
        "unknown-host".to_owned()
    } else {
        host
    };
    let tag = hex::encode(crate::platform::secrets::random_bytes::<3>());
    format!("{host}#{}-{tag}", std::process::id())
}
