//! `bench cch`: the Claude Code Hub tail against a CCH database of its own (the tests' fixture
//! schema, CCH v0.9.2's columns), written the way CCH writes: a row inserted as each request
//! starts, its status, tokens and cost flushed in batches every 250 ms as it finishes (CCH's write
//! buffer), requests lasting from 0.2 s to 3 s so they finish out of id order. Two phases, the
//! tail running in this process as the server runs it (lease, cursor, mirror, ingest):
//! - **catch-up**: a backlog of finished requests written while no tail runs, then the time the
//!   tail takes to store them all: the rows per second it can tail;
//! - **live**: a gateway doing `--rate` requests a second (1,000 by default) for `--seconds`, and
//!   each request's lag from its finish in CCH (`updated_at`) to its row here (`ingested_at`),
//!   both on the one PostgreSQL clock.
//!
//! Writes its report as its section of `bench/RESULTS.md` as well as to stdout.
use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sqlx::{Executor, PgPool};

use crate::delivery::Database;
use crate::support::{met, ms, per_second, publish, thousands, Percentiles};

/// CCH's tables as the tests build them.
const CCH_SCHEMA: &str = include_str!("../../server/tests/fixtures/cch/schema.sql");
/// The tail must keep up with this many requests a second with room to spare, and store a
/// finished request within this long (two polls of 2 s and the time one takes).
const TARGET_HEADROOM: f64 = 2.0;
const TARGET_LAG_P99: Duration = Duration::from_secs(5);
/// CCH's write buffer flushes this often.
const FLUSH_EVERY: Duration = Duration::from_millis(250);

#[derive(Clone, Debug)]
pub(crate) struct CchSetup {
    /// Finished requests waiting when the tail starts.
    pub backlog: usize,
    /// Requests a second in the live phase.
    pub rate: usize,
    pub seconds: usize,
    pub users: usize,
    pub providers: usize,
}

impl Default for CchSetup {
    fn default() -> Self {
        CchSetup {
            backlog: 100_000,
            rate: 1_000,
            seconds: 30,
            users: 500,
            providers: 10,
        }
    }
}

pub(crate) struct Report {
    setup: CchSetup,
    postgres: String,
    catch_up_rows_per_second: f64,
    /// Requests written per second in the live phase (what the writer achieved).
    offered: f64,
    /// From the last live request's finish to its row here.
    drained_after: Duration,
    lag: Percentiles,
}

/// Writes requests into CCH's tables as CCH does.
struct Gateway {
    pool: PgPool,
    users: Vec<i32>,
    providers: Vec<i32>,
    next: usize,
}

impl Gateway {
    async fn new(pool: PgPool, s: &CchSetup) -> Result<Gateway, String> {
        let users: Vec<i32> = sqlx::query_scalar(
            "INSERT INTO users (name, daily_limit_usd) SELECT 'user ' || n, 50 FROM generate_series(1, $1) n
             RETURNING id",
        )
        .bind(i32::try_from(s.users).map_err(|e| e.to_string())?)
        .fetch_all(&pool)
        .await
        .map_err(|e| format!("CCH users: {e}"))?;
        let providers: Vec<i32> = sqlx::query_scalar(
            "INSERT INTO providers (name, url, key) SELECT 'provider ' || n, 'https://api.example.com', 'sk-upstream'
               FROM generate_series(1, $1) n RETURNING id",
        )
        .bind(i32::try_from(s.providers).map_err(|e| e.to_string())?)
        .fetch_all(&pool)
        .await
        .map_err(|e| format!("CCH providers: {e}"))?;
        Ok(Gateway {
            pool,
            users,
            providers,
            next: 0,
        })
    }

    /// `n` requests starting now; their ids.
    async fn start(&mut self, n: usize) -> Result<Vec<i32>, String> {
        let users: Vec<i32> = (0..n).map(|i| self.users[(self.next + i) % self.users.len()]).collect();
        let providers: Vec<i32> = (0..n)
            .map(|i| self.providers[(self.next + i) % self.providers.len()])
            .collect();
        self.next += n;
        sqlx::query_scalar(
            "INSERT INTO message_request (provider_id, user_id, key, model, original_model, endpoint, provider_chain)
             SELECT p, u, 'sk-bench', 'claude-sonnet-4', 'claude-sonnet-4', '/v1/messages',
                    jsonb_build_array(jsonb_build_object('id', p, 'reason', 'initial_selection'))
               FROM UNNEST($1::int[], $2::int[]) AS t(u, p)
             RETURNING id",
        )
        .bind(&users)
        .bind(&providers)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| format!("starting requests: {e}"))
    }

    /// The write buffer's flush: `ids` finished.
    async fn finish(&self, ids: &[i32]) -> Result<(), String> {
        if ids.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "UPDATE message_request
                SET status_code = 200, cost_usd = 0.0123, input_tokens = 1200, output_tokens = 300,
                    cache_creation_input_tokens = 10, cache_read_input_tokens = 5, duration_ms = 1200,
                    provider_chain = provider_chain || jsonb_build_array(
                        jsonb_build_object('id', provider_id, 'reason', 'request_success', 'statusCode', 200)),
                    updated_at = now()
              WHERE id = ANY($1)",
        )
        .bind(ids)
        .execute(&self.pool)
        .await
        .map_err(|e| format!("finishing requests: {e}"))?;
        Ok(())
    }
}

/// How long the `i`th request runs: 0.2 s to 3 s, spread evenly, in an order unlike the ids'.
fn duration_of(i: usize) -> Duration {
    Duration::from_millis(200 + u64::try_from(i * 7_919 % 2_801).unwrap_or(0))
}

/// Stored CCH requests here.
async fn stored(ours: &PgPool) -> Result<i64, String> {
    sqlx::query_scalar("SELECT count(*) FROM usage_records WHERE request_id LIKE 'cch:%'")
        .fetch_one(ours)
        .await
        .map_err(|e| format!("counting stored rows: {e}"))
}

async fn wait_for(ours: &PgPool, n: i64, within: Duration) -> Result<(), String> {
    let deadline = Instant::now() + within;
    loop {
        let have = stored(ours).await?;
        if have >= n {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("the tail stored {have} of {n} requests within {within:?}"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) async fn run(s: &CchSetup, database: &Database, redis_url: &str, prefix: &str) -> Result<Report, String> {
    let cch_database = Database {
        admin_url: database.admin_url.clone(),
        name: format!("{}_cch", database.name),
    };
    let result = run_with(s, database, &cch_database, redis_url, prefix).await;
    let dropped = cch_database.drop_if_exists().await;
    let report = result?;
    dropped?;
    Ok(report)
}

async fn run_with(
    s: &CchSetup,
    database: &Database,
    cch_database: &Database,
    redis_url: &str,
    prefix: &str,
) -> Result<Report, String> {
    let postgres = database.create().await?;
    cch_database.create().await?;
    let cch = PgPool::connect(&cch_database.url()?).await.map_err(|e| e.to_string())?;
    cch.execute(CCH_SCHEMA)
        .await
        .map_err(|e| format!("CCH's schema: {e}"))?;
    let mut gateway = Gateway::new(cch.clone(), s).await?;

    let env: HashMap<&str, String> = [
        ("DATABASE_URL", database.url()?),
        ("REDIS_URL", redis_url.to_owned()),
        ("REDIS_KEY_PREFIX", prefix.to_owned()),
        ("ADMIN_TOKEN", "bench-admin-token-0123456789".to_owned()),
        ("SECRETS_KEY", server::platform::encryption::SecretsKey::generate()),
        ("CCH_DATABASE_URL", cch_database.url()?),
    ]
    .into();
    let config =
        server::platform::config::Config::from_lookup(&|name| env.get(name).cloned()).map_err(|e| e.to_string())?;
    let poll_interval = config.cch.as_ref().map(|c| c.poll_interval).unwrap_or_default();
    let ours = server::platform::db::connect_and_migrate(&config.database)
        .await
        .map_err(|e| e.to_string())?;
    server::platform::encryption::check_key(&ours, &config.secrets)
        .await
        .map_err(|e| e.to_string())?;
    let redis = server::platform::redis::connect(&config.redis)
        .await
        .map_err(|e| e.to_string())?;
    let options = server::leptos_options("127.0.0.1:0".parse().expect("an address"))?;
    let state = server::http::state::AppState::new(config, options, ours.clone(), redis).map_err(|e| e.to_string())?;

    // Catch-up: a backlog finished while no tail ran.
    eprintln!(
        "cch: writing a backlog of {} finished requests",
        thousands(s.backlog as f64)
    );
    for chunk in (0..s.backlog).collect::<Vec<_>>().chunks(5_000) {
        let ids = gateway.start(chunk.len()).await?;
        gateway.finish(&ids).await?;
    }
    let started = Instant::now();
    let engine = state.start_delivery_engine().map_err(|e| e.to_string())?;
    let outcome = live(s, &mut gateway, &ours, &cch, started).await;
    engine.stop().await;
    ours.close().await;
    cch.close().await;
    let (catch_up, offered, drained_after, lag) = outcome?;
    eprintln!("cch: poll interval {poll_interval:?}");
    Ok(Report {
        setup: s.clone(),
        postgres,
        catch_up_rows_per_second: catch_up,
        offered,
        drained_after,
        lag,
    })
}

/// The catch-up's rate, then the live phase: its offered rate, how long after the writing ended
/// everything was stored, and the lag.
async fn live(
    s: &CchSetup,
    gateway: &mut Gateway,
    ours: &PgPool,
    cch: &PgPool,
    started: Instant,
) -> Result<(f64, f64, Duration, Percentiles), String> {
    let backlog = i64::try_from(s.backlog).map_err(|e| e.to_string())?;
    wait_for(ours, backlog, Duration::from_secs(600)).await?;
    let catch_up = per_second(s.backlog, started.elapsed());
    eprintln!("cch: catch-up {} rows/s", thousands(catch_up));

    // Live: every 10 ms the requests due start; every 250 ms the finished ones are flushed.
    let total = s.rate * s.seconds;
    eprintln!("cch: live, {} requests/s for {} s", thousands(s.rate as f64), s.seconds);
    let mut running: Vec<(Instant, i32)> = Vec::new();
    let mut begun = 0_usize;
    let live_started = Instant::now();
    let mut last_flush = Instant::now();
    let mut all_started = None;
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    while begun < total || !running.is_empty() {
        tick.tick().await;
        let due = (live_started.elapsed().as_millis() * s.rate as u128 / 1000).min(total as u128);
        let due = usize::try_from(due).unwrap_or(total);
        if due > begun {
            let ids = gateway.start(due - begun).await?;
            let now = Instant::now();
            running.extend(
                ids.into_iter()
                    .enumerate()
                    .map(|(k, id)| (now + duration_of(begun + k), id)),
            );
            begun = due;
            if begun == total {
                all_started = Some(live_started.elapsed());
            }
        }
        if last_flush.elapsed() >= FLUSH_EVERY {
            let now = Instant::now();
            let (done, still): (Vec<_>, Vec<_>) = running.into_iter().partition(|(at, _)| *at <= now);
            running = still;
            let ids: Vec<i32> = done.into_iter().map(|(_, id)| id).collect();
            gateway.finish(&ids).await?;
            last_flush = now;
        }
    }
    let written = live_started.elapsed();
    // The rate requests started at (the last ones finish up to 3 s later).
    let offered = per_second(total, all_started.unwrap_or(written));
    let all = backlog + i64::try_from(total).map_err(|e| e.to_string())?;
    wait_for(ours, all, Duration::from_secs(120)).await?;
    let drained_after = live_started.elapsed().saturating_sub(written);

    // The lag of each live request: its finish in CCH to its row here, on one clock.
    let first_live = i32::try_from(s.backlog).map_err(|e| e.to_string())?;
    let finished: Vec<(i32, DateTime<Utc>)> =
        sqlx::query_as("SELECT id, updated_at FROM message_request WHERE id > $1")
            .bind(first_live)
            .fetch_all(cch)
            .await
            .map_err(|e| e.to_string())?;
    let arrived: HashMap<String, DateTime<Utc>> =
        sqlx::query_as::<_, (String, DateTime<Utc>)>("SELECT request_id, ingested_at FROM usage_records")
            .fetch_all(ours)
            .await
            .map_err(|e| e.to_string())?
            .into_iter()
            .collect();
    let lags: Vec<Duration> = finished
        .iter()
        .filter_map(|(id, at)| {
            let stored = arrived.get(&format!("cch:{id}"))?;
            Some((*stored - *at).to_std().unwrap_or_default())
        })
        .collect();
    if lags.len() != total {
        return Err(format!("{} of {total} live requests matched", lags.len()));
    }
    Ok((
        catch_up,
        offered,
        drained_after,
        Percentiles::of(lags).ok_or("no live request")?,
    ))
}

/// The report as Markdown.
pub(crate) fn render(r: &Report, machine: &str) -> String {
    let s = &r.setup;
    let needed = s.rate as f64 * TARGET_HEADROOM;
    crate::support::heading("cch")
        + &format!(
            "\n{machine}; PostgreSQL {} (CCH's database and ours on the one server). The tail \
         as the server runs it (lease, cursor, users and providers mirrored, ingest with rollups), polling every 2 s, \
         {} users and {} providers. Requests are written as Claude Code Hub writes them: inserted as they start, \
         finished 0.2–3 s later out of id order, flushed every 250 ms.\n\n\
         | phase | figure | target |\n|---|---|---|\n\
         | catch-up: {} finished requests waiting | {} rows/s tailed | ≥ {} rows/s ({}× the live rate) — {} |\n\
         | live: {} requests/s for {} s | {} requests/s started; all stored {} ms after the last finished | — |\n\
         | live: finish in CCH → row here | p50 {} · p90 {} · p99 {} · max {} ms | p99 ≤ {} ms — {} |\n",
            r.postgres,
            thousands(s.users as f64),
            s.providers,
            thousands(s.backlog as f64),
            thousands(r.catch_up_rows_per_second),
            thousands(needed),
            TARGET_HEADROOM,
            met(r.catch_up_rows_per_second >= needed),
            thousands(s.rate as f64),
            s.seconds,
            thousands(r.offered),
            ms(r.drained_after),
            ms(r.lag.p50),
            ms(r.lag.p90),
            ms(r.lag.p99),
            ms(r.lag.max),
            ms(TARGET_LAG_P99),
            met(r.lag.p99 <= TARGET_LAG_P99),
        )
}

/// Prints the report and writes it as `cch`'s section of `bench/RESULTS.md`.
pub(crate) fn print(r: &Report, machine: &str) -> Result<(), String> {
    publish("cch", &render(r, machine))
}
