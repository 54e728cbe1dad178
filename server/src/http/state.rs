//! Everything a request handler may need, built once at startup.
use std::sync::Arc;

use app::error::AppError;
use app::ports::{Services, UserDirectory};
use app::users::UserSummary;
use async_trait::async_trait;
use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use sqlx::PgPool;

use crate::channels::sender::WebhookSender;
use crate::channels::ssrf::{Allowlist, AllowlistError, SsrfGuard};
use crate::channels::targets::PushTargets;
use crate::delivery::engine::{Deliveries, DeliveryHandler, QUEUE_NAME};
use crate::delivery::metrics::Metrics;
use crate::delivery::outbox::Outbox;
use crate::delivery::queue::{Queue, QueueConfig};
use crate::delivery::runner::{Engine, EngineConfig};
use crate::http::auth::Authenticator;
use crate::http::ports::History;
use crate::http::sessions::SessionStore;
use crate::notifications::kinds::breaker_alerts::BreakerAlerts;
use crate::notifications::schedule::runs::Runs;
use crate::notifications::schedule::scheduler::Scheduler;
use crate::notifications::settings_service::SettingsService;
use crate::notifications::targets::TargetService;
use crate::platform::config::Config;
use crate::platform::redis::Keys;
use crate::sources::metrics::SourceMetrics;
use crate::sources::Sources;
use crate::usage::breaker::Breakers;
use crate::usage::directory::UsageDirectoryService;
use crate::usage::ingest::Ingestor;

/// Why the state could not be built from a configuration.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Allowlist(#[from] AllowlistError),
    #[error("HTTP client: {0}")]
    HttpClient(#[from] reqwest::Error),
    #[error("WEBHOOK_CA_FILE {path}: {reason}")]
    CaFile { path: String, reason: String },
}

/// The certificates of `WEBHOOK_CA_FILE`, if set: at least one, or a start-up error.
fn extra_roots(config: &Config) -> Result<Vec<reqwest::Certificate>, StartError> {
    let Some(path) = &config.webhook_ca_file else {
        return Ok(Vec::new());
    };
    let error = |reason: String| StartError::CaFile {
        path: path.display().to_string(),
        reason,
    };
    let pem = std::fs::read(path).map_err(|e| error(e.to_string()))?;
    let roots = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| error(e.to_string()))?;
    if roots.is_empty() {
        return Err(error("holds no PEM certificate".into()));
    }
    Ok(roots)
}

#[derive(Clone)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub config: Arc<Config>,
    pub db: PgPool,
    pub redis: fred::clients::Pool,
    pub keys: Keys,
    pub auth: Authenticator,
    pub settings: SettingsService,
    pub sender: WebhookSender,
    pub targets: PushTargets,
    pub target_service: TargetService,
    pub deliveries: Deliveries,
    pub metrics: Metrics,
    pub breakers: Breakers,
    pub ingestor: Ingestor,
    pub sources: Sources,
    pub runs: Runs,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

impl AppState {
    pub fn new(
        config: Config,
        leptos_options: LeptosOptions,
        db: PgPool,
        redis: fred::clients::Pool,
    ) -> Result<Self, StartError> {
        let keys = Keys::new(config.redis.key_prefix.clone());
        let sessions = SessionStore::new(redis.clone(), keys.clone(), config.session_ttl, config.cookie_secure);
        let auth = Authenticator::new(
            config.admin_token.clone(),
            config.ingest_token.clone(),
            db.clone(),
            redis.clone(),
            keys.clone(),
            sessions,
        );
        let sender = WebhookSender::with_roots(
            SsrfGuard::new(Allowlist::parse(&config.webhook_allowlist)?),
            config
                .webhook_timeout
                .unwrap_or(crate::channels::sender::DEFAULT_TIMEOUT),
            extra_roots(&config)?,
        )?;
        let mut queue_config = QueueConfig::new(QUEUE_NAME);
        queue_config.lock_ttl = config.delivery_lock_ttl;
        let deliveries = Deliveries::new(
            Outbox::new(db.clone()),
            Queue::new(redis.clone(), keys.clone(), queue_config),
        );
        let targets = PushTargets::new(db.clone(), config.secrets.current.clone());
        let runs = Runs::new(
            targets.clone(),
            redis.clone(),
            keys.clone(),
            deliveries.clone(),
            config.timezone,
        );
        let scheduler = Scheduler::new(config.app_env, runs.clone());
        let settings = SettingsService::new(targets.clone(), sender.clone(), scheduler, config.timezone);
        let breakers = Breakers::new(redis.clone(), keys.clone());
        let alerts = BreakerAlerts::new(
            targets.clone(),
            redis.clone(),
            keys.clone(),
            deliveries.clone(),
            config.timezone,
            config
                .breaker_alert_cooldown
                .unwrap_or(crate::notifications::kinds::breaker_alerts::DEFAULT_COOLDOWN),
        );
        let ingestor = Ingestor::new(db.clone(), config.timezone, breakers.clone(), Arc::new(alerts));
        let cch_lease = config.cch.as_ref().map(|_| {
            crate::sources::lease::Lease::new(
                redis.clone(),
                &keys,
                "cch-tail",
                crate::sources::lease::this_instance(),
                crate::sources::cch::LEASE_TTL,
            )
        });
        let sources = Sources::new(
            db.clone(),
            ingestor.clone(),
            SourceMetrics::new(),
            cch_lease,
            config.ingest_token.is_some(),
        );
        let target_service = TargetService::new(
            targets.clone(),
            sender.clone(),
            config.timezone,
            config.webhook_rate_limit,
        );
        Ok(AppState {
            leptos_options,
            config: Arc::new(config),
            db,
            redis,
            keys,
            auth,
            settings,
            sender,
            target_service,
            targets,
            deliveries,
            metrics: Metrics::new(),
            breakers,
            ingestor,
            sources,
            runs,
        })
    }

    /// Starts this process's delivery worker, outbox sweeper, breaker-backlog replay and the
    /// pruning of usage buckets.
    pub fn start_delivery_engine(&self) -> Result<Engine, fred::error::Error> {
        let redis_config = fred::types::config::Config::from_url(self.config.redis.url.expose())?;
        // The limiter always runs: even with `WEBHOOK_RATE_LIMIT=off`, a target's own budget and
        // a platform's request to rest hold.
        let handler = DeliveryHandler::new(
            self.deliveries.outbox().clone(),
            self.sender.clone(),
            self.targets.clone(),
            self.metrics.clone(),
            self.deliveries.queue().config().max_attempts,
        )
        .with_rate_limiter(
            crate::delivery::rate_limit::WebhookRateLimiter::new(self.redis.clone(), self.keys.clone()),
            self.config.webhook_rate_limit,
        );
        let engine_config = EngineConfig {
            concurrency: self.config.delivery_concurrency,
            history_retention: self.config.delivery_history_retention,
        };
        let mut engine = Engine::start(
            self.deliveries.clone(),
            std::sync::Arc::new(handler),
            redis_config,
            &engine_config,
        );
        let ingestor = self.ingestor.clone();
        engine.run_alongside(move |stop| crate::usage::breaker_replay::run(ingestor, stop));
        let db = self.db.clone();
        engine.run_alongside(move |stop| crate::usage::ingest::prune_loop(db, stop));
        let db = self.db.clone();
        engine.run_alongside(move |stop| crate::sources::activity::prune_loop(db, stop));
        if let Some(cch) = self.config.cch.as_ref().and_then(|config| self.sources.cch(config)) {
            engine.run_alongside(move |stop| cch.run(stop));
        }
        Ok(engine)
    }

    /// The ports server functions use, put in their context.
    pub fn services(&self) -> Services {
        Services {
            sessions: Arc::new(self.auth.clone()),
            users: Arc::new(PgUserDirectory(self.db.clone())),
            notifications: Arc::new(self.settings.clone()),
            deliveries: Arc::new(History {
                outbox: self.deliveries.outbox().clone(),
                timezone: self.config.timezone,
            }),
            usage: Arc::new(UsageDirectoryService::new(
                self.db.clone(),
                self.breakers.clone(),
                self.config.timezone,
            )),
            targets: Arc::new(self.target_service.clone()),
            sources: Arc::new(self.sources.clone()),
        }
    }
}

struct PgUserDirectory(PgPool);

#[async_trait]
impl UserDirectory for PgUserDirectory {
    async fn list(&self) -> Result<Vec<UserSummary>, AppError> {
        crate::usage::users::list(&self.0).await.map_err(|e| {
            tracing::error!(error = %e, "listing users failed");
            AppError::Unavailable
        })
    }
}
