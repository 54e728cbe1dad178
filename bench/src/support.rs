//! Shared pieces: Redis clients built like the server's, key cleanup, percentiles, number formats.
use std::time::Duration;

use fred::prelude::*;
use futures::TryStreamExt;

/// How long a blocking `BLMOVE` waits, as the queue's workers do (`queue::BLOCK_TIMEOUT`).
pub(crate) const BLOCK_TIMEOUT: Duration = Duration::from_secs(1);

#[derive(Clone)]
pub(crate) struct RedisTarget {
    pub config: Config,
    /// As given, for the BullMQ child process.
    pub url: String,
    /// The URL without its password, for the report.
    pub shown: String,
}

impl RedisTarget {
    pub(crate) fn from_url(url: &str) -> Result<Self, String> {
        let config = Config::from_url(url).map_err(|e| format!("REDIS_URL is invalid: {e}"))?;
        Ok(RedisTarget {
            config,
            url: url.to_owned(),
            shown: without_password(url),
        })
    }

    /// A pool with the server's settings (`server::platform::redis::builder`), connected.
    pub(crate) async fn pool(&self, size: usize) -> Result<Pool, String> {
        let pool = server::platform::redis::builder(self.config.clone(), Duration::from_secs(5))
            .build_pool(size)
            .map_err(|e| format!("cannot build a Redis pool: {e}"))?;
        server::platform::redis::first_connection(pool.init())
            .await
            .map_err(|e| format!("cannot connect to Redis at {}: {e}", self.shown))?;
        Ok(pool)
    }

    /// One connection for a blocking consumer, with the timeout a queue worker uses.
    pub(crate) async fn blocking_client(&self) -> Result<Client, String> {
        let client = server::platform::redis::builder(self.config.clone(), BLOCK_TIMEOUT + Duration::from_secs(5))
            .build()
            .map_err(|e| format!("cannot build a Redis client: {e}"))?;
        server::platform::redis::first_connection(client.init())
            .await
            .map_err(|e| format!("cannot connect to Redis at {}: {e}", self.shown))?;
        Ok(client)
    }
}

pub(crate) fn without_password(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

/// CPU time used so far by this process (all threads) and by the Redis server.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CpuTimes {
    pub bench: Duration,
    pub redis: Duration,
}

impl CpuTimes {
    pub(crate) async fn now(pool: &Pool) -> Result<Self, String> {
        let info: String = pool
            .info(Some(fred::types::InfoKind::Cpu))
            .await
            .map_err(|e| format!("INFO cpu: {e}"))?;
        let seconds = |field: &str| -> f64 {
            info.lines()
                .find_map(|line| line.strip_prefix(field))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0.0)
        };
        let redis = Duration::from_secs_f64(seconds("used_cpu_user:") + seconds("used_cpu_sys:"));
        Ok(CpuTimes {
            bench: process_cpu(),
            redis,
        })
    }

    /// CPU per job between two readings, in µs: (bench process, Redis).
    pub(crate) fn per_job_since(&self, earlier: &CpuTimes, jobs: usize) -> (f64, f64) {
        let per_job =
            |later: Duration, before: Duration| later.saturating_sub(before).as_secs_f64() * 1e6 / jobs.max(1) as f64;
        (per_job(self.bench, earlier.bench), per_job(self.redis, earlier.redis))
    }
}

fn process_cpu() -> Duration {
    // SAFETY: getrusage only writes the struct it is given, which is plain data.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_SELF, &mut usage) != 0 {
            return Duration::ZERO;
        }
        usage
    };
    let time = |t: libc::timeval| {
        Duration::new(
            u64::try_from(t.tv_sec).unwrap_or(0),
            u32::try_from(t.tv_usec).unwrap_or(0) * 1000,
        )
    };
    time(usage.ru_utime) + time(usage.ru_stime)
}

/// Deletes every key matching `pattern` (SCAN, then DEL in batches); returns how many.
pub(crate) async fn delete_keys(pool: &Pool, pattern: &str) -> Result<usize, String> {
    let keys: Vec<Key> = pool
        .next()
        .scan_buffered(pattern, Some(1000), None)
        .try_collect()
        .await
        .map_err(|e| format!("scanning Redis keys {pattern}: {e}"))?;
    for batch in keys.chunks(500) {
        let _: i64 = pool
            .del(batch.to_vec())
            .await
            .map_err(|e| format!("deleting Redis keys {pattern}: {e}"))?;
    }
    Ok(keys.len())
}

/// Nearest-rank percentiles of a set of durations.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Percentiles {
    pub p50: Duration,
    pub p90: Duration,
    pub p99: Duration,
    pub max: Duration,
}

impl Percentiles {
    pub(crate) fn of(mut samples: Vec<Duration>) -> Option<Self> {
        if samples.is_empty() {
            return None;
        }
        samples.sort_unstable();
        // A rank of at most the sample count (p ≤ 1), so the cast back is exact.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let rank = |p: f64| samples[((p * samples.len() as f64).ceil() as usize).clamp(1, samples.len()) - 1];
        Some(Percentiles {
            p50: rank(0.50),
            p90: rank(0.90),
            p99: rank(0.99),
            max: samples[samples.len() - 1],
        })
    }

    pub(crate) fn display(&self) -> String {
        format!(
            "{} / {} / {} / {} ms",
            ms(self.p50),
            ms(self.p90),
            ms(self.p99),
            ms(self.max)
        )
    }
}

pub(crate) fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.1}")
    } else {
        format!("{ms:.0}")
    }
}

/// A rate rounded to a whole number, with thousands separators: `12,345`.
pub(crate) fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub(crate) fn per_second(count: usize, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64().max(f64::EPSILON)
}

/// A target's verdict, as the reports print it.
pub(crate) fn met(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "NOT met"
    }
}

/// Prints a Markdown report and writes it to `bench/results/{name}.md`.
pub(crate) fn publish(name: &str, text: &str) -> Result<(), String> {
    println!("{text}");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("results");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = dir.join(format!("{name}.md"));
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    eprintln!("written to {}", path.display());
    Ok(())
}
