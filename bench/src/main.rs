//! `bench`: a benchmark, not a test. It pushes no-op jobs through the delivery queue and prints
//! their rate beside a bare Redis list and BullMQ 5 (the queue it replaces, run by node) doing the
//! same flow in the same run, and measures the latency from raising a notification to its arrival
//! at a local webhook receiver. The targets (≥ 5,000 jobs/s, ≥ 2× BullMQ, ≥ 75 % of the raw rate)
//! are printed with whether they are met.
//!
//! Everything it writes lives under a fresh `hn_bench_<uuid>:` Redis prefix and a throwaway
//! `hn_bench_<uuid>` database, both removed at the end, also after an error or Ctrl-C.
//! Progress goes to stderr; the report (a Markdown table) to stdout.
mod args;
mod bullmq;
mod cch;
mod delivery;
mod frontend;
mod ingest;
mod support;
mod throughput;
mod usage;

use std::io::IsTerminal;
use std::process::ExitCode;

use fred::prelude::*;
use fred::types::InfoKind;

use crate::args::Args;
use crate::support::{say, thousands, RedisTarget};

const TARGET_JOBS_PER_SECOND: f64 = 5_000.0;
/// queue / raw Redis list.
const TARGET_RATIO: f64 = 0.75;
/// queue / BullMQ.
const TARGET_BULLMQ_RATIO: f64 = 2.0;

#[tokio::main]
async fn main() -> ExitCode {
    // Warnings of the server's code (a failed attempt, a Redis error) explain a bad run; sqlx's
    // slow-statement notes (CREATE/DROP DATABASE) do not.
    let filter = tracing_subscriber::EnvFilter::try_from_env("RUST_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,sqlx=error"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();

    let args = match args::parse(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{}", args::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("bench: {e}\n\n{}", args::USAGE);
            return ExitCode::from(2);
        }
    };
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::FAILURE
        }
    }
}

struct Context {
    redis: RedisTarget,
    prefix: String,
    database: delivery::Database,
}

async fn run(args: Args) -> Result<(), String> {
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let redis_url =
        std::env::var("REDIS_URL").unwrap_or_else(|_| server::platform::config::DEFAULT_REDIS_URL.to_owned());
    let context = Context {
        redis: RedisTarget::from_url(&redis_url)?,
        prefix: format!("hn_bench_{run_id}:"),
        database: delivery::Database {
            admin_url: std::env::var("BENCH_DATABASE_ADMIN_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned()),
            name: format!("hn_bench_{run_id}"),
        },
    };
    // One pool for facts and cleanup, so a Redis that is down is reported before anything runs.
    let admin_pool = context.redis.pool(1).await?;
    match args.command {
        args::Command::Usage => {
            eprintln!("usage: database {}", context.database.name);
            let work = usage::run(
                &context.database.admin_url,
                &context.database.name,
                admin_pool.clone(),
                &context.prefix,
                &args.usage,
            );
            let (report, dropped) = alone(&context, admin_pool, work).await?;
            usage::print(&report, &machine())?;
            return dropped;
        }
        args::Command::Ingest => {
            eprintln!("ingest: database {}", context.database.name);
            let work = ingest::run(&args.ingest, &context.database, &redis_url, &context.prefix);
            let (report, dropped) = alone(&context, admin_pool, work).await?;
            ingest::print(&report, &machine())?;
            return dropped;
        }
        args::Command::Cch => {
            eprintln!("cch: databases {0} and {0}_cch", context.database.name);
            let work = cch::run(&args.cch, &context.database, &redis_url, &context.prefix);
            let (report, dropped) = alone(&context, admin_pool, work).await?;
            cch::print(&report, &machine())?;
            return dropped;
        }
        args::Command::Frontend => {
            let work = frontend::run(&args.frontend, &context.database, &redis_url, &context.prefix);
            let (report, dropped) = alone(&context, admin_pool, work).await?;
            frontend::print(&report, &machine())?;
            return dropped;
        }
        _ => {}
    }
    let facts = Facts::gather(&admin_pool).await;

    let outcome = tokio::select! {
        outcome = measure(&args, &context) => outcome,
        _ = tokio::signal::ctrl_c() => Err("interrupted".to_owned()),
    };

    // Cleanup whatever happened; its failures are reported but do not hide the outcome's.
    let mut problems = Vec::new();
    match support::delete_keys(&admin_pool, &format!("{}*", context.prefix)).await {
        Ok(n) => eprintln!("removed {n} Redis keys under {}", context.prefix),
        Err(e) => problems.push(e),
    }
    if args.command.delivery() {
        match context.database.drop_if_exists().await {
            Ok(()) => eprintln!("dropped database {}", context.database.name),
            Err(e) => problems.push(e),
        }
    }
    let _ = admin_pool.quit().await;
    for problem in &problems {
        eprintln!("bench: cleanup: {problem}");
    }

    let (queue, delivery) = outcome?;
    print_report(&args, &context, &facts, queue.as_ref(), delivery.as_ref())?;
    if problems.is_empty() {
        Ok(())
    } else {
        Err("cleanup failed (see above)".to_owned())
    }
}

/// The machine as the written reports name it.
fn machine() -> String {
    let facts = Facts::gather_without_redis();
    format!(
        "{} cores, load average {} at the end",
        facts.cores,
        facts.load.unwrap_or_default()
    )
}

/// Runs a bench that has the database and Redis prefix to itself, then removes both, whatever
/// happened. The database's removal is
/// returned beside the report, so a report is printed even when its cleanup failed.
async fn alone<R>(
    context: &Context,
    admin_pool: Pool,
    work: impl std::future::Future<Output = Result<R, String>>,
) -> Result<(R, Result<(), String>), String> {
    let outcome = tokio::select! {
        outcome = work => outcome,
        _ = tokio::signal::ctrl_c() => Err("interrupted".to_owned()),
    };
    let dropped = context.database.drop_if_exists().await;
    // `bench cch`'s second database, also after Ctrl-C.
    let cch = delivery::Database {
        admin_url: context.database.admin_url.clone(),
        name: format!("{}_cch", context.database.name),
    };
    if let Err(e) = cch.drop_if_exists().await {
        eprintln!("bench: cleanup: {e}");
    }
    if let Err(e) = support::delete_keys(&admin_pool, &format!("{}*", context.prefix)).await {
        eprintln!("bench: cleanup: {e}");
    }
    let _ = admin_pool.quit().await;
    let report = outcome?;
    Ok((report, dropped))
}

async fn measure(
    args: &Args,
    context: &Context,
) -> Result<(Option<throughput::Report>, Option<delivery::Report>), String> {
    let queue = if args.command.queue() {
        let q = &args.queue;
        eprintln!(
            "queue: {} no-op jobs per run, {} producers, {} workers × {} in flight, pool of {}",
            q.jobs, q.producers, q.workers, q.concurrency, q.pool_size
        );
        Some(throughput::run(&context.redis, &format!("{}q:", context.prefix), q).await?)
    } else {
        None
    };
    let delivery = if args.command.delivery() {
        eprintln!("delivery: database {}", context.database.name);
        let prefix = format!("{}d:", context.prefix);
        Some(delivery::run(&context.redis, &prefix, &context.database, &args.delivery).await?)
    } else {
        None
    };
    Ok((queue, delivery))
}

struct Facts {
    cores: String,
    cpu: Option<String>,
    load: Option<String>,
    redis_version: Option<String>,
}

impl Facts {
    fn gather_without_redis() -> Facts {
        Facts {
            cores: std::thread::available_parallelism().map_or_else(|_| "unknown".to_owned(), |n| n.to_string()),
            cpu: None,
            load: std::fs::read_to_string("/proc/loadavg")
                .ok()
                .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" ")),
            redis_version: None,
        }
    }

    async fn gather(pool: &Pool) -> Facts {
        let cores = std::thread::available_parallelism().map_or_else(|_| "unknown".to_owned(), |n| n.to_string());
        let cpu = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|info| {
            info.lines()
                .find_map(|line| line.strip_prefix("model name"))
                .map(|rest| rest.trim_start_matches([' ', '\t', ':']).trim().to_owned())
        });
        // Other builds may share the machine; the load at the start says how quiet it was.
        let load = std::fs::read_to_string("/proc/loadavg")
            .ok()
            .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "));
        let info: Option<String> = pool.info(Some(InfoKind::Server)).await.ok();
        let redis_version = info.and_then(|info| {
            info.lines()
                .find_map(|line| line.strip_prefix("redis_version:"))
                .map(|v| v.trim().to_owned())
        });
        Facts {
            cores,
            cpu,
            load,
            redis_version,
        }
    }
}

fn verdict(met: bool) -> &'static str {
    if met {
        "yes"
    } else {
        "NO"
    }
}

/// Prints the queue's and the delivery's reports and writes each as its section of
/// `bench/RESULTS.md`.
fn print_report(
    args: &Args,
    context: &Context,
    facts: &Facts,
    queue: Option<&throughput::Report>,
    delivery: Option<&delivery::Report>,
) -> Result<(), String> {
    let mut machine = format!("{} cores (available_parallelism)", facts.cores);
    if let Some(cpu) = &facts.cpu {
        machine.push_str(&format!(", {cpu}"));
    }
    if let Some(load) = &facts.load {
        machine.push_str(&format!(", load average {load} at start"));
    }
    let mut facts_lines = String::new();
    say!(facts_lines);
    say!(facts_lines, "machine:  {machine}");
    say!(
        facts_lines,
        "redis:    {} at {}",
        facts.redis_version.as_deref().unwrap_or("(version unknown)"),
        context.redis.shown
    );
    if let Some(d) = delivery {
        say!(facts_lines, "postgres: {}", d.postgres_version);
    }

    if let Some(q) = queue {
        let mut out = support::heading("queue");
        out.push_str(&facts_lines);
        let mut rows: Vec<[String; 4]> = Vec::new();
        let s = &args.queue;
        say!(
            out,
            "queue:    {} no-op jobs per run; all sides: {} producers, {} workers × {} in flight, \
             pool of {} (BullMQ: one Queue) + 1 blocking connection per worker; \
             best of {} runs after a warm-up",
            thousands(s.jobs as f64),
            s.producers,
            s.workers,
            s.concurrency,
            s.pool_size,
            s.runs
        );
        let (best_queue, best_raw) = (q.best_queue(), q.best_raw());
        let rates = |runs: &[throughput::Run]| {
            runs.iter()
                .map(|r| thousands(r.jobs_per_second))
                .collect::<Vec<_>>()
                .join(", ")
        };
        say!(
            out,
            "          queue runs:  {} jobs/s; best {best_queue}",
            rates(&q.queue_runs)
        );
        say!(
            out,
            "          raw runs:    {} jobs/s; best {best_raw}",
            rates(&q.raw_runs)
        );
        let best_bullmq = q.best_bullmq();
        match (&q.bullmq, best_bullmq) {
            (Ok(bullmq), Some(best)) => say!(
                out,
                "          BullMQ runs: {} jobs/s; best {} ({})",
                rates(&q.bullmq_runs),
                best.display_as("node"),
                bullmq.versions
            ),
            (Err(why), _) => say!(out, "          BullMQ:      not measured: {why}"),
            (Ok(_), None) => say!(out, "          BullMQ:      not measured"),
        }
        rows.push([
            "queue throughput (no-op jobs)".into(),
            format!("{} jobs/s", thousands(best_queue.jobs_per_second)),
            format!("≥ {} jobs/s", thousands(TARGET_JOBS_PER_SECOND)),
            verdict(best_queue.jobs_per_second >= TARGET_JOBS_PER_SECOND).into(),
        ]);
        rows.push([
            "raw Redis list, same flow".into(),
            format!("{} jobs/s", thousands(best_raw.jobs_per_second)),
            String::new(),
            String::new(),
        ]);
        rows.push([
            "BullMQ 5, same flow and policy".into(),
            best_bullmq.map_or_else(
                || "not measured".to_owned(),
                |b| format!("{} jobs/s", thousands(b.jobs_per_second)),
            ),
            String::new(),
            String::new(),
        ]);
        rows.push([
            "queue / BullMQ".into(),
            q.bullmq_ratio()
                .map_or_else(|| "not measured".to_owned(), |r| format!("{r:.2}×")),
            format!("≥ {TARGET_BULLMQ_RATIO:.0}×"),
            q.bullmq_ratio()
                .map_or("not measured", |r| verdict(r >= TARGET_BULLMQ_RATIO))
                .into(),
        ]);
        rows.push([
            "queue / raw".into(),
            format!("{:.1} %", q.ratio() * 100.0),
            format!("≥ {:.0} %", TARGET_RATIO * 100.0),
            verdict(q.ratio() >= TARGET_RATIO).into(),
        ]);
        say!(out);
        out.push_str(&table(&["measure", "result", "target", "met"], &rows));
        support::publish("queue", &out)?;
    }
    if let Some(d) = delivery {
        let mut out = support::heading("delivery");
        out.push_str(&facts_lines);
        let mut rows: Vec<[String; 4]> = Vec::new();
        let s = &args.delivery;
        say!(
            out,
            "delivery: {} notifications per phase, raise → arrival at a local receiver; \
             {} webhook calls in flight; steady phase raised at {}/s",
            thousands(s.notifications as f64),
            s.concurrency,
            thousands(d.steady_rate)
        );
        if d.deferred + d.repeats > 0 {
            say!(
                out,
                "          {} raises left to the sweeper, {} repeated deliveries",
                d.deferred,
                d.repeats
            );
        }
        rows.push([
            format!("delivery latency at {}/s, p50 / p90 / p99 / max", s.rate),
            d.steady.display(),
            String::new(),
            String::new(),
        ]);
        rows.push([
            "deliveries/s, raised as fast as possible".into(),
            format!(
                "{} /s (raised at {} /s)",
                thousands(d.flood_delivered_per_second),
                thousands(d.flood_raised_per_second)
            ),
            String::new(),
            String::new(),
        ]);
        rows.push([
            "  latency then, p50 / p90 / p99 / max".into(),
            d.flood.display(),
            String::new(),
            String::new(),
        ]);
        say!(out);
        out.push_str(&table(&["measure", "result", "target", "met"], &rows));
        support::publish("delivery", &out)?;
    }
    Ok(())
}

/// A Markdown table with padded columns, readable in a terminal too.
fn table(header: &[&str; 4], rows: &[[String; 4]]) -> String {
    let mut out = String::new();
    let width = |i: usize| {
        rows.iter()
            .map(|r| r[i].chars().count())
            .chain([header[i].chars().count(), 3])
            .max()
            .unwrap_or(3)
    };
    let widths: Vec<usize> = (0..4).map(width).collect();
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell}{}", " ".repeat(w - cell.chars().count())))
            .collect();
        format!("| {} |\n", padded.join(" | "))
    };
    out.push_str(&line(header.to_vec()));
    say!(
        out,
        "|{}|",
        widths.iter().map(|w| "-".repeat(w + 2)).collect::<Vec<_>>().join("|")
    );
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::Command;

    #[test]
    fn parses_commands_and_options() {
        let args = |s: &str| args::parse(s.split_whitespace().map(str::to_owned));
        let a = args("queue --jobs 1_000 --workers=3").unwrap().unwrap();
        assert_eq!(a.command, Command::Queue);
        assert_eq!((a.queue.jobs, a.queue.workers), (1000, 3));
        assert_eq!(args("").unwrap().unwrap().command, Command::All);
        assert!(args("--help").unwrap().is_none());
        assert!(args("--jobs 0").is_err());
        assert!(args("--jobs").is_err());
        assert!(args("bogus").is_err());
        assert!(args("--nope 1").is_err());
        assert!(args("queue").unwrap().unwrap().queue.bullmq);
        assert!(!args("queue --no-bullmq --runs 2").unwrap().unwrap().queue.bullmq);
    }

    #[test]
    fn formats_numbers() {
        assert_eq!(thousands(0.4), "0");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(12_345.6), "12,346");
        assert_eq!(thousands(1_234_567.0), "1,234,567");
        let p = support::Percentiles::of((1..=100).map(std::time::Duration::from_millis).collect()).unwrap();
        assert_eq!(p.p50, std::time::Duration::from_millis(50));
        assert_eq!(p.p99, std::time::Duration::from_millis(99));
        assert_eq!(p.max, std::time::Duration::from_millis(100));
    }
}
