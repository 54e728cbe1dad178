//! Redis through fred: a pool with a reconnect policy, and the key namespace of this deployment.
use std::sync::Mutex;
use std::time::Duration;

use fred::prelude::*;

use crate::platform::config::RedisConfig;

#[derive(Debug, thiserror::Error)]
pub enum RedisError {
    #[error("REDIS_URL is invalid: {0}")]
    Url(fred::error::Error),
    #[error("cannot connect to Redis: {0}")]
    Connect(fred::error::Error),
}

/// Every key this deployment writes starts with the configured prefix, so tests (one prefix each)
/// and several deployments can share one Redis.
#[derive(Clone, Debug)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    pub fn new(prefix: impl Into<String>) -> Self {
        Keys { prefix: prefix.into() }
    }
    pub fn key(&self, parts: &[&str]) -> String {
        let mut key = self.prefix.clone();
        key.push_str(&parts.join(":"));
        key
    }
}

/// The settings every Redis client of this deployment uses: bounded connects and commands (a
/// request must fail, not hang, while Redis is away) and reconnection forever, with backoff.
pub fn builder(config: Config, command_timeout: Duration) -> Builder {
    let mut builder = Builder::from_config(config);
    builder
        .with_connection_config(|c| {
            c.connection_timeout = Duration::from_secs(5);
        })
        .with_performance_config(|p| {
            p.default_command_timeout = command_timeout;
        })
        .set_policy(ReconnectPolicy::new_exponential(0, 100, 10_000, 2));
    builder
}

/// Waits at most 10 s for a client's first connection (`init`).
pub async fn first_connection<T>(
    init: impl std::future::Future<Output = Result<T, fred::error::Error>>,
) -> Result<(), fred::error::Error> {
    match tokio::time::timeout(Duration::from_secs(10), init).await {
        Ok(result) => result.map(|_connection_task| ()),
        Err(_) => Err(fred::error::Error::new(
            fred::error::ErrorKind::Timeout,
            "no connection within 10 s",
        )),
    }
}

pub async fn connect(config: &RedisConfig) -> Result<Pool, RedisError> {
    let redis_config = Config::from_url(config.url.expose()).map_err(RedisError::Url)?;
    let pool = builder(redis_config, Duration::from_secs(5))
        .build_pool(config.pool_size)
        .map_err(RedisError::Connect)?;
    first_connection(pool.init()).await.map_err(RedisError::Connect)?;
    Ok(pool)
}

/// A Lua script run by `EVALSHA`, loaded on first use and again after `NOSCRIPT` (Redis restarted
/// or its script cache was flushed). The SHA comes from `SCRIPT LOAD`, so no SHA-1 code is needed.
pub struct LuaScript {
    name: &'static str,
    source: String,
    sha: Mutex<Option<String>>,
}

impl LuaScript {
    /// `prelude` (shared helper functions) is prepended to `body`.
    pub fn new(name: &'static str, prelude: &str, body: &str) -> Self {
        LuaScript {
            name,
            source: format!("{prelude}{body}"),
            sha: Mutex::new(None),
        }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    fn cached_sha(&self) -> Option<String> {
        self.sha.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    async fn load(&self, pool: &Pool) -> Result<String, fred::error::Error> {
        let sha: String = pool.script_load(self.source.as_str()).await?;
        *self.sha.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(sha.clone());
        Ok(sha)
    }

    pub async fn call<R: FromValue>(
        &self,
        pool: &Pool,
        keys: Vec<String>,
        args: Vec<String>,
    ) -> Result<R, fred::error::Error> {
        let sha = match self.cached_sha() {
            Some(sha) => sha,
            None => self.load(pool).await?,
        };
        match pool.evalsha(sha, keys.clone(), args.clone()).await {
            Err(e) if e.details().starts_with("NOSCRIPT") => {
                let sha = self.load(pool).await?;
                pool.evalsha(sha, keys, args).await
            }
            result => result,
        }
    }
}
