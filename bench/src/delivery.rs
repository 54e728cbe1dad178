//! Delivery latency: from `Deliveries::raise` to the webhook's arrival at a local receiver,
//! through the whole production path (outbox row, queue, worker, send-budget check, SSRF-guarded
//! HTTP sender).
//!
//! Two phases on one engine: a steady rate (the latency a notification sees when the system
//! keeps up), then everything raised as fast as possible (how many deliveries per second one
//! process sustains, and the latency when they queue up).
use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use app::notifications::NotificationKind;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::routing::post;
use axum::Router;
use fred::interfaces::ClientLike;
use server::channels::sender::WebhookSender;
use server::channels::ssrf::{Allowlist, SsrfGuard};
use server::channels::targets::display_target;
use server::channels::targets::{PushTargets, TargetRef};
use server::delivery::engine::{Deliveries, DeliveryHandler, Raised, QUEUE_NAME};
use server::delivery::metrics::Metrics;
use server::delivery::outbox::{NewDelivery, Outbox};
use server::delivery::queue::{Queue, QueueConfig};
use server::delivery::rate_limit::WebhookRateLimiter;
use server::delivery::runner::{Engine, EngineConfig};
use server::platform::config::{DatabaseConfig, Secret, SendBudget};
use server::platform::encryption::SecretsKey;
use server::platform::redis::Keys;
use sqlx::{Connection, PgConnection};
use tokio::task::JoinSet;

use crate::args::DeliverySetup;
use crate::support::{per_second, Percentiles, RedisTarget};

/// After the last raise, how long the rest may take to arrive before the run counts as broken.
const ARRIVAL_DEADLINE: Duration = Duration::from_secs(60);

pub(crate) struct Report {
    pub postgres_version: String,
    pub steady: Percentiles,
    /// The raise rate actually achieved in the steady phase.
    pub steady_rate: f64,
    pub flood: Percentiles,
    pub flood_raised_per_second: f64,
    pub flood_delivered_per_second: f64,
    /// Raises Redis did not take at once (left to the sweeper); 0 in a healthy run.
    pub deferred: usize,
    /// Requests the receiver saw more than once for one idempotency key.
    pub repeats: usize,
}

/// The throwaway database: created by `run`, dropped by the caller's cleanup whatever happens.
pub(crate) struct Database {
    pub admin_url: String,
    pub name: String,
}

impl Database {
    pub(crate) fn url(&self) -> Result<String, String> {
        let mut url =
            url::Url::parse(&self.admin_url).map_err(|e| format!("BENCH_DATABASE_ADMIN_URL is not a URL: {e}"))?;
        url.set_path(&format!("/{}", self.name));
        Ok(url.to_string())
    }

    async fn admin(&self) -> Result<PgConnection, String> {
        PgConnection::connect(&self.admin_url)
            .await
            .map_err(|e| format!("cannot connect to PostgreSQL (BENCH_DATABASE_ADMIN_URL): {e}"))
    }

    /// Creates the database; returns PostgreSQL's version.
    pub(crate) async fn create(&self) -> Result<String, String> {
        let mut admin = self.admin().await?;
        let version: String = sqlx::query_scalar("SHOW server_version")
            .fetch_one(&mut admin)
            .await
            .map_err(|e| format!("reading the PostgreSQL version: {e}"))?;
        // The name is ours (hn_bench_<hex>), safe to quote as is.
        sqlx::query(&format!("CREATE DATABASE \"{}\"", self.name))
            .execute(&mut admin)
            .await
            .map_err(|e| format!("creating database {}: {e}", self.name))?;
        let _ = admin.close().await;
        Ok(version)
    }

    /// Creates the database for a server process, which migrates it itself; returns its URL.
    pub(crate) async fn create_for_server(&self) -> Result<String, String> {
        self.create().await?;
        self.url()
    }

    pub(crate) async fn drop_if_exists(&self) -> Result<(), String> {
        let mut admin = self.admin().await?;
        sqlx::query(&format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name))
            .execute(&mut admin)
            .await
            .map_err(|e| format!("dropping database {}: {e}", self.name))?;
        let _ = admin.close().await;
        Ok(())
    }
}

/// First arrival per idempotency key.
#[derive(Default)]
struct Arrivals {
    first: Mutex<HashMap<String, Instant>>,
    repeats: AtomicUsize,
}

impl Arrivals {
    fn count(&self) -> usize {
        self.first.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    fn snapshot(&self) -> HashMap<String, Instant> {
        self.first.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

async fn receive(
    State(arrivals): State<Arc<Arrivals>>,
    headers: HeaderMap,
    _body: Bytes,
) -> impl axum::response::IntoResponse {
    // Taken once the whole request is read: what the webhook's owner would see.
    let at = Instant::now();
    if let Some(key) = headers.get("idempotency-key").and_then(|v| v.to_str().ok()) {
        let mut first = arrivals.first.lock().unwrap_or_else(|p| p.into_inner());
        match first.entry(key.to_owned()) {
            Entry::Vacant(slot) => {
                slot.insert(at);
            }
            // The rare duplicate at-least-once delivery allows; the first arrival counts.
            Entry::Occupied(_) => {
                arrivals.repeats.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    (
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"errcode":0,"errmsg":"ok"}"#,
    )
}

async fn start_receiver(arrivals: Arc<Arrivals>) -> Result<SocketAddr, String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("cannot open the receiver's port: {e}"))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("the receiver's address: {e}"))?;
    let app = Router::new().route("/{*path}", post(receive)).with_state(arrivals);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            eprintln!("the local receiver stopped: {e}");
        }
    });
    Ok(addr)
}

/// Creates the database, runs both phases and stops the engine. Dropping the database and the
/// Redis keys is left to the caller, so it also happens when this fails half way.
pub(crate) async fn run(
    redis: &RedisTarget,
    prefix: &str,
    db: &Database,
    setup: &DeliverySetup,
) -> Result<Report, String> {
    let postgres_version = db.create().await?;
    let pg = server::platform::db::connect_and_migrate(&DatabaseConfig {
        url: Secret::new(db.url()?),
        // The server's DATABASE_MAX_CONNECTIONS default.
        max_connections: 10,
        acquire_timeout: DatabaseConfig::ACQUIRE_TIMEOUT,
    })
    .await
    .map_err(|e| e.to_string())?;
    // The server's REDIS_POOL_SIZE default.
    let pool = redis.pool(4).await?;

    let arrivals = Arc::new(Arrivals::default());
    let addr = start_receiver(arrivals.clone()).await?;
    let allowlist = Allowlist::parse(&addr.to_string()).map_err(|e| e.to_string())?;
    let sender = WebhookSender::new(SsrfGuard::new(allowlist), server::channels::sender::DEFAULT_TIMEOUT)
        .map_err(|e| format!("building the webhook client: {e}"))?;
    let outbox = Outbox::new(pg.clone());
    let queue = Queue::new(pool.clone(), Keys::new(prefix), QueueConfig::new(QUEUE_NAME));
    let max_attempts = queue.config().max_attempts;
    let deliveries = Deliveries::new(outbox.clone(), queue);
    let targets = PushTargets::new(
        pg.clone(),
        SecretsKey::from_bytes(&server::platform::secrets::random_bytes()),
    );
    let url = format!("http://{addr}/cgi-bin/webhook/send?key=bench");
    let target_id = targets.wecom(&url).await.map_err(|e| e.to_string())?;
    // The server's limiter, as with `WEBHOOK_RATE_LIMIT=off`: no budget spent (WeCom's 20 a
    // minute would measure only the wait), but the per-send Redis check for a platform's
    // request to rest is made, as the server always makes it.
    let handler = DeliveryHandler::new(outbox, sender, targets, Metrics::new(), max_attempts).with_rate_limiter(
        WebhookRateLimiter::new(pool.clone(), Keys::new(prefix)),
        SendBudget::Unlimited,
    );
    let engine = Engine::start(
        deliveries.clone(),
        Arc::new(handler),
        redis.config.clone(),
        &EngineConfig {
            concurrency: setup.concurrency,
            history_retention: Duration::from_secs(30 * 86_400),
        },
    );
    let target = Target {
        deliveries,
        target: TargetRef {
            id: target_id,
            endpoint_host: display_target(&url),
        },
        arrivals,
    };

    let phases = async {
        eprintln!("  steady: {} notifications at {}/s", setup.notifications, setup.rate);
        let steady = target.steady(setup).await?;
        eprintln!("  as fast as possible: {} notifications", setup.notifications);
        let flood = target.flood(setup).await?;
        Ok::<_, String>((steady, flood))
    };
    let outcome = phases.await;
    engine.stop().await;
    let _ = pool.quit().await;
    pg.close().await;
    let (steady, flood) = outcome?;

    let steady_latencies = target.latencies(&steady.raised)?;
    let flood_latencies = target.latencies(&flood.raised)?;
    let last_flood_arrival = target
        .arrivals
        .snapshot()
        .iter()
        .filter(|(key, _)| key.starts_with("flood-"))
        .map(|(_, at)| *at)
        .max()
        .ok_or("no delivery of the fast phase arrived")?;
    Ok(Report {
        postgres_version,
        steady: steady_latencies,
        steady_rate: per_second(setup.notifications, steady.raising),
        flood: flood_latencies,
        flood_raised_per_second: per_second(setup.notifications, flood.raising),
        flood_delivered_per_second: per_second(setup.notifications, last_flood_arrival - flood.started),
        deferred: steady.deferred + flood.deferred,
        repeats: target.arrivals.repeats.load(Ordering::Relaxed),
    })
}

struct Target {
    deliveries: Deliveries,
    target: TargetRef,
    arrivals: Arc<Arrivals>,
}

struct Phase {
    /// Idempotency key and when its raise began.
    raised: Vec<(String, Instant)>,
    started: Instant,
    /// From the first raise beginning to the last one returning.
    raising: Duration,
    deferred: usize,
}

async fn raise_one(deliveries: Deliveries, target: TargetRef, key: String) -> Result<(String, Instant, bool), String> {
    let notification = NewDelivery {
        kind: NotificationKind::CircuitBreaker,
        target,
        message: server::channels::message::Message::plain(
            server::channels::message::Event::CircuitBreakerOpened,
            &["供应商: bench", &format!("键: {key}")],
            chrono::Utc::now().fixed_offset(),
        ),
        dedup_key: key.clone(),
    };
    let at = Instant::now();
    match deliveries.raise(&notification).await {
        Ok(Raised::Queued(_)) => Ok((key, at, false)),
        Ok(Raised::Deferred(_)) => Ok((key, at, true)),
        Ok(Raised::Duplicate(_)) => Err(format!("{key} was raised twice")),
        Err(e) => Err(format!("raising {key}: {e}")),
    }
}

impl Target {
    /// One raise every 1/rate s, each in its own task so a slow raise does not delay the next.
    async fn steady(&self, setup: &DeliverySetup) -> Result<Phase, String> {
        let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(setup.rate)));
        // Burst (the default) catches up after a late tick, keeping the average rate.
        let mut raises = JoinSet::new();
        let started = Instant::now();
        for i in 0..setup.notifications {
            ticker.tick().await;
            raises.spawn(raise_one(
                self.deliveries.clone(),
                self.target.clone(),
                format!("steady-{i}"),
            ));
        }
        let phase = collect(raises, started).await?;
        self.wait_for(setup.notifications).await?;
        Ok(phase)
    }

    /// Everything at once, through `raisers` tasks raising one after another.
    async fn flood(&self, setup: &DeliverySetup) -> Result<Phase, String> {
        let already = self.arrivals.count();
        let mut raises = JoinSet::new();
        let started = Instant::now();
        let (count, step) = (setup.notifications, setup.raisers);
        for first in 0..step.min(count) {
            let (deliveries, target) = (self.deliveries.clone(), self.target.clone());
            raises.spawn(async move {
                let mut done = Vec::new();
                for i in (first..count).step_by(step) {
                    done.push(raise_one(deliveries.clone(), target.clone(), format!("flood-{i}")).await?);
                }
                Ok::<_, String>(done)
            });
        }
        let mut raised = Vec::with_capacity(count);
        let mut deferred = 0;
        while let Some(joined) = raises.join_next().await {
            for (key, at, was_deferred) in joined.map_err(|e| format!("a raising task ended abnormally: {e}"))?? {
                deferred += usize::from(was_deferred);
                raised.push((key, at));
            }
        }
        let raising = started.elapsed();
        self.wait_for(already + count).await?;
        Ok(Phase {
            raised,
            started,
            raising,
            deferred,
        })
    }

    async fn wait_for(&self, total: usize) -> Result<(), String> {
        let deadline = Instant::now() + ARRIVAL_DEADLINE;
        while self.arrivals.count() < total {
            if Instant::now() > deadline {
                return Err(format!(
                    "only {} of {total} deliveries arrived within {} s of the last raise",
                    self.arrivals.count(),
                    ARRIVAL_DEADLINE.as_secs()
                ));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(())
    }

    fn latencies(&self, raised: &[(String, Instant)]) -> Result<Percentiles, String> {
        let arrivals = self.arrivals.snapshot();
        let samples = raised
            .iter()
            .map(|(key, at)| {
                arrivals
                    .get(key)
                    .map(|arrived| arrived.saturating_duration_since(*at))
                    .ok_or_else(|| format!("{key} never arrived"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Percentiles::of(samples).ok_or_else(|| "no deliveries to measure".to_owned())
    }
}

async fn collect(
    mut raises: JoinSet<Result<(String, Instant, bool), String>>,
    started: Instant,
) -> Result<Phase, String> {
    let mut raised = Vec::with_capacity(raises.len());
    let mut deferred = 0;
    while let Some(joined) = raises.join_next().await {
        let (key, at, was_deferred) = joined.map_err(|e| format!("a raise task ended abnormally: {e}"))??;
        deferred += usize::from(was_deferred);
        raised.push((key, at));
    }
    Ok(Phase {
        raised,
        started,
        raising: started.elapsed(),
        deferred,
    })
}
