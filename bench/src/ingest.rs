//! `bench ingest`: the same usage events through `POST /api/v1/usage` (Hub Notify's own shape)
//! and `POST /api/v1/ingest/litellm` (LiteLLM's `StandardLoggingPayload`s, as its proxy's
//! callback sends them), over HTTP to a real server in this process, side by side in every
//! round: events per second with concurrent senders, then each 512-event batch's latency with
//! one sender (a proxy sends its batches one after another, and waits on each). Writes its
//! report to `bench/RESULTS.md` as well as stdout.
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::{json, Value};

use crate::delivery::Database;
use crate::support::{met, per_second, publish, thousands, Percentiles};

/// What LiteLLM's callback sends: a payload captured from LiteLLM 1.108.7.
const LITELLM_PAYLOADS: &str = include_str!("../../server/tests/fixtures/litellm/batch.json");
const INGEST_TOKEN: &str = "bench-ingest-token-0123456789";
/// LiteLLM's own ≥ 80 % of `/api/v1/usage`'s rate, and the p99 of one of its batches.
const TARGET_RATIO: f64 = 0.8;
const TARGET_P99: Duration = Duration::from_millis(50);

#[derive(Clone, Debug)]
pub(crate) struct IngestSetup {
    pub events: usize,
    pub batch: usize,
    pub senders: usize,
    /// Batches sent one after another for the latency.
    pub latency_batches: usize,
    pub runs: usize,
    pub users: usize,
    pub providers: usize,
}

impl Default for IngestSetup {
    fn default() -> Self {
        IngestSetup {
            events: 102_400,
            // LiteLLM's batch size.
            batch: 512,
            senders: 4,
            latency_batches: 50,
            runs: 3,
            users: 1_000,
            providers: 20,
        }
    }
}

/// One route's figures in one round: the rate with concurrent senders, the batch latency with one.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Side {
    pub events_per_second: f64,
    pub p50: Duration,
    pub p99: Duration,
}

/// The same `events` events (numbered from `first`), as each route takes them, in batches.
struct Bodies {
    usage: Vec<Vec<u8>>,
    litellm: Vec<Vec<u8>>,
}

impl Bodies {
    fn new(s: &IngestSetup, template: &Value, tag: &str, events: usize) -> Bodies {
        let now = Utc::now();
        let batches = |each: &dyn Fn(usize) -> Value, wrap: &dyn Fn(&[Value]) -> Value| -> Vec<Vec<u8>> {
            (0..events)
                .map(each)
                .collect::<Vec<_>>()
                .chunks(s.batch)
                .map(|chunk| serde_json::to_vec(&wrap(chunk)).expect("JSON"))
                .collect()
        };
        Bodies {
            usage: batches(&|i| usage_event(s, tag, i, now), &|events| json!({ "events": events })),
            litellm: batches(&|i| litellm_payload(template, s, tag, i, now), &|payloads| {
                json!(payloads)
            }),
        }
    }
}

pub(crate) struct Report {
    pub setup: IngestSetup,
    pub postgres: String,
    /// The bytes of one batch: (`/api/v1/usage`, LiteLLM's).
    pub batch_bytes: (usize, usize),
    /// (`/api/v1/usage`, `/api/v1/ingest/litellm`) per round.
    pub rounds: Vec<(Side, Side)>,
}

/// Event `i` of round `round` in Hub Notify's shape.
/// Event `i`'s time: spread over the last hour.
fn event_time(i: usize, now: chrono::DateTime<Utc>) -> chrono::DateTime<Utc> {
    now - chrono::Duration::seconds(i64::try_from(i % 3600).unwrap_or(0))
}

fn usage_event(s: &IngestSetup, tag: &str, i: usize, now: chrono::DateTime<Utc>) -> Value {
    let (user, provider) = (1 + (i * 7919) % s.users, 1 + i % s.providers);
    json!({
        "requestId": format!("u{tag}-{i}"),
        "userId": user, "userName": format!("user {user}"),
        "providerId": provider, "providerName": format!("provider {provider}"),
        "model": "openai/gpt-4o-mini", "costUsd": 0.00123,
        "inputTokens": 1200, "outputTokens": 300, "cacheCreationInputTokens": 0, "cacheReadInputTokens": 0,
        "success": true, "statusCode": 200, "error": null,
        "createdAt": event_time(i, now).to_rfc3339(),
    })
}

/// The same event as LiteLLM's payload (its captured success, with this event's facts).
fn litellm_payload(template: &Value, s: &IngestSetup, tag: &str, i: usize, now: chrono::DateTime<Utc>) -> Value {
    let (user, provider) = (1 + (i * 7919) % s.users, 1 + i % s.providers);
    let mut p = template.clone();
    p["litellm_call_id"] = json!(format!("l{tag}-{i}"));
    p["end_user"] = json!(format!("user {user}"));
    p["model_id"] = json!(format!("{provider:064x}"));
    p["model_group"] = json!(format!("group-{provider}"));
    p["prompt_tokens"] = json!(1200);
    p["completion_tokens"] = json!(300);
    p["total_tokens"] = json!(1500);
    p["response_cost"] = json!(0.00123);
    p["metadata"]["usage_object"] = json!({"prompt_tokens": 1200, "completion_tokens": 300, "total_tokens": 1500});
    p["startTime"] = json!(event_time(i, now).timestamp_micros() as f64 / 1e6);
    p
}

pub(crate) async fn run(
    setup: &IngestSetup,
    database: &Database,
    redis_url: &str,
    prefix: &str,
) -> Result<Report, String> {
    let postgres = database.create().await?;
    let db_url = database.url()?;
    let env: std::collections::HashMap<&str, String> = [
        ("DATABASE_URL", db_url),
        ("REDIS_URL", redis_url.to_owned()),
        ("REDIS_KEY_PREFIX", prefix.to_owned()),
        ("ADMIN_TOKEN", "bench-admin-token-0123456789".to_owned()),
        ("SECRETS_KEY", server::platform::encryption::SecretsKey::generate()),
        ("INGEST_TOKEN", INGEST_TOKEN.to_owned()),
    ]
    .into();
    let config =
        server::platform::config::Config::from_lookup(&|name| env.get(name).cloned()).map_err(|e| e.to_string())?;
    let db = server::platform::db::connect_and_migrate(&config.database)
        .await
        .map_err(|e| e.to_string())?;
    server::platform::encryption::check_key(&db, &config.secrets)
        .await
        .map_err(|e| e.to_string())?;
    server::usage::ingest::align_daily_rollups(&db, config.timezone)
        .await
        .map_err(|e| e.to_string())?;
    let redis = server::platform::redis::connect(&config.redis)
        .await
        .map_err(|e| e.to_string())?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let options = server::leptos_options(addr)?;
    let state = server::http::state::AppState::new(config, options, db.clone(), redis).map_err(|e| e.to_string())?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server::http::router::serve(listener, state, async {
        let _ = stopped.await;
    }));
    let base = format!("http://{addr}");
    let result = rounds(setup, &base).await;
    let _ = stop.send(());
    let _ = serving.await;
    db.close().await;
    let (rounds, batch_bytes) = result?;
    Ok(Report {
        setup: setup.clone(),
        postgres,
        batch_bytes,
        rounds,
    })
}

/// The rounds, and the bytes of a batch of each route.
async fn rounds(s: &IngestSetup, base: &str) -> Result<(Vec<(Side, Side)>, (usize, usize)), String> {
    let template = serde_json::from_str::<Vec<Value>>(LITELLM_PAYLOADS).map_err(|e| e.to_string())?[0].clone();
    let client = reqwest::Client::new();
    let mut rounds = Vec::new();
    let mut batch_bytes = (0, 0);
    // Round 0 warms up (connections, the users and providers created).
    for round in 0..=s.runs {
        let (usage_url, litellm_url) = (format!("{base}/api/v1/usage"), format!("{base}/api/v1/ingest/litellm"));
        let rate = Bodies::new(s, &template, &format!("{round}r"), s.events);
        batch_bytes = (rate.usage[0].len(), rate.litellm[0].len());
        // Each route goes first in every other round: the second meets a table that has grown,
        // and autovacuum at work on the first one's rows.
        let (usage_rate, litellm_rate) = if round % 2 == 0 {
            let usage = send(&client, &usage_url, rate.usage, s.senders, s.events).await?;
            (
                usage,
                send(&client, &litellm_url, rate.litellm, s.senders, s.events).await?,
            )
        } else {
            let litellm = send(&client, &litellm_url, rate.litellm, s.senders, s.events).await?;
            (
                send(&client, &usage_url, rate.usage, s.senders, s.events).await?,
                litellm,
            )
        };
        let events = s.latency_batches * s.batch;
        let latency = Bodies::new(s, &template, &format!("{round}l"), events);
        let usage_latency = send(&client, &usage_url, latency.usage, 1, events).await?;
        let litellm_latency = send(&client, &litellm_url, latency.litellm, 1, events).await?;
        let usage = Side {
            events_per_second: usage_rate.0,
            p50: usage_latency.1.p50,
            p99: usage_latency.1.p99,
        };
        let litellm = Side {
            events_per_second: litellm_rate.0,
            p50: litellm_latency.1.p50,
            p99: litellm_latency.1.p99,
        };
        eprintln!(
            "ingest round {round}{}: usage {:.0} events/s (batch p99 {:?}), litellm {:.0} events/s (batch p99 {:?})",
            if round == 0 { " (warm-up)" } else { "" },
            usage.events_per_second,
            usage.p99,
            litellm.events_per_second,
            litellm.p99
        );
        if round > 0 {
            rounds.push((usage, litellm));
        }
    }
    Ok((rounds, batch_bytes))
}

/// Posts every body with `senders` concurrent senders; each answer must have stored its whole
/// batch, `events` in all. The rate, and the batches' latencies.
async fn send(
    client: &reqwest::Client,
    url: &str,
    bodies: Vec<Vec<u8>>,
    senders: usize,
    events: usize,
) -> Result<(f64, Percentiles), String> {
    let queue = Arc::new(Mutex::new(bodies));
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..senders {
        let (client, url, queue, latencies) = (client.clone(), url.to_owned(), queue.clone(), latencies.clone());
        tasks.spawn(async move {
            let mut accepted = 0_u64;
            loop {
                let Some(body) = queue.lock().expect("not poisoned").pop() else {
                    return Ok::<u64, String>(accepted);
                };
                let sent = Instant::now();
                let res = client
                    .post(&url)
                    .bearer_auth(INGEST_TOKEN)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .map_err(|e| format!("{url}: {e}"))?;
                let status = res.status();
                let answer: Value = res.json().await.map_err(|e| format!("{url}: {e}"))?;
                latencies.lock().expect("not poisoned").push(sent.elapsed());
                if !status.is_success() || answer["rejected"].as_array().is_none_or(|r| !r.is_empty()) {
                    return Err(format!("{url} answered {status}: {answer}"));
                }
                accepted += answer["accepted"].as_u64().unwrap_or(0);
            }
        });
    }
    let mut accepted = 0;
    while let Some(done) = tasks.join_next().await {
        accepted += done.map_err(|e| e.to_string())??;
    }
    let took = started.elapsed();
    if accepted != events as u64 {
        return Err(format!("{url} stored {accepted} of {events} events"));
    }
    let latencies = Arc::try_unwrap(latencies)
        .map_err(|_| "senders still hold the latencies")?
        .into_inner()
        .expect("not poisoned");
    Ok((
        per_second(events, took),
        Percentiles::of(latencies).ok_or("no batch was sent")?,
    ))
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// The report as Markdown.
pub(crate) fn render(r: &Report, machine: &str) -> String {
    let s = &r.setup;
    let mut out = crate::support::heading("ingest");
    out += &format!(
        "\n{machine}; PostgreSQL {}. Per route and round: {} events from {} concurrent \
         senders for the rate, then {} batches one after another for the latency (batches of {}; {} users, {} \
         providers); every round both routes on the same events (each route first in every other round), a warm-up round first. \
         A batch is {} KB to `/api/v1/usage` and {} KB to the LiteLLM route: LiteLLM 1.108.7's payload as it sends \
         it, ~12.8 KB an event, 8 KB of it the model's price entry (`model_map_information`).\n\n| round | \
         `/api/v1/usage` | `/api/v1/ingest/litellm` | LiteLLM / usage (target ≥ {:.0} %) | LiteLLM batch p50 · p99 \
         (target p99 ≤ {}) | usage batch p50 · p99 |\n|---|---|---|---|---|---|\n",
        r.postgres,
        thousands(s.events as f64),
        s.senders,
        s.latency_batches,
        s.batch,
        thousands(s.users as f64),
        s.providers,
        thousands(r.batch_bytes.0 as f64 / 1024.0),
        thousands(r.batch_bytes.1 as f64 / 1024.0),
        TARGET_RATIO * 100.0,
        ms(TARGET_P99),
    );
    for (i, (usage, litellm)) in r.rounds.iter().enumerate() {
        let ratio = litellm.events_per_second / usage.events_per_second;
        out.push_str(&format!(
            "| {} | {} events/s | {} events/s | {:.1} % — {} | {} · {} — {} | {} · {} |\n",
            i + 1,
            thousands(usage.events_per_second),
            thousands(litellm.events_per_second),
            ratio * 100.0,
            met(ratio >= TARGET_RATIO),
            ms(litellm.p50),
            ms(litellm.p99),
            met(litellm.p99 <= TARGET_P99),
            ms(usage.p50),
            ms(usage.p99),
        ));
    }
    out
}

/// Prints the report and writes it to `bench/RESULTS.md`.
pub(crate) fn print(r: &Report, machine: &str) -> Result<(), String> {
    publish("ingest", &render(r, machine))
}
