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

/// Appends a line (formatted as `println!` would) to a report being written.
macro_rules! say {
    ($out:expr) => {
        $out.push('\n')
    };
    ($out:expr, $($arg:tt)*) => {{
        $out.push_str(&format!($($arg)*));
        $out.push('\n');
    }};
}
pub(crate) use say;

/// A report's first line: the bench and when it ran.
pub(crate) fn heading(name: &str) -> String {
    format!(
        "## bench {name} — {}\n",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC")
    )
}

/// The benches in the order `bench/RESULTS.md` lists their reports.
pub(crate) const BENCHES: [&str; 6] = ["queue", "delivery", "usage", "ingest", "cch", "frontend"];

/// Prints a bench's Markdown report and writes it as that bench's section of `bench/RESULTS.md`,
/// keeping the other benches' sections: a re-measure rewrites the file, never a hand.
pub(crate) fn publish(name: &str, text: &str) -> Result<(), String> {
    println!("{text}");
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("RESULTS.md");
    let old = match std::fs::read_to_string(&path) {
        Ok(old) => old,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    std::fs::write(&path, results_with(&old, name, text)).map_err(|e| format!("{}: {e}", path.display()))?;
    eprintln!("written to {} ({name})", path.display());
    Ok(())
}

const RESULTS_HEADER: &str = "# Benchmark results\n\n\
Written by `scripts/bench`: each bench replaces its own section when it runs, so these are the \
last figures each measured, on the machine each names. What the benches do and what the design \
took from them: [docs/benchmarks.md](../docs/benchmarks.md).\n";

/// `results` (the file's text) with the section of bench `name` set to `report`; sections in
/// [`BENCHES`] order.
pub(crate) fn results_with(results: &str, name: &str, report: &str) -> String {
    let section = |bench: &str| -> Option<String> {
        if bench == name {
            return Some(report.trim_end().to_owned());
        }
        let start = format!("<!-- bench {bench} -->\n");
        let from = results.find(&start)? + start.len();
        let to = from + results[from..].find(&format!("<!-- /bench {bench} -->"))?;
        Some(results[from..to].trim_end().to_owned())
    };
    let mut out = RESULTS_HEADER.to_owned();
    for bench in BENCHES {
        if let Some(text) = section(bench) {
            out.push_str(&format!("\n<!-- bench {bench} -->\n{text}\n<!-- /bench {bench} -->\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_replaces_only_its_own_section() {
        let one = results_with("", "ingest", "# ingest\n\nfirst\n");
        let two = results_with(&one, "queue", "# queue\nq");
        let three = results_with(&two, "ingest", "# ingest\n\nsecond");
        assert!(three.starts_with(RESULTS_HEADER));
        let queue = three
            .find("<!-- bench queue -->\n# queue\nq\n<!-- /bench queue -->")
            .unwrap();
        let ingest = three
            .find("<!-- bench ingest -->\n# ingest\n\nsecond\n<!-- /bench ingest -->")
            .unwrap();
        assert!(queue < ingest, "in the benches' order");
        assert!(!three.contains("first"));
        assert_eq!(results_with(&three, "ingest", "# ingest\n\nsecond"), three, "stable");
    }
}
