//! A real server per test: its own PostgreSQL database and Redis key prefix, listening on an
//! ephemeral port, reached over HTTP. Tests therefore run in parallel without sharing state.
// Each test crate uses part of this module, privately: its items are `pub` for the crates that
// use them, which rustc cannot see from one crate.
#![allow(dead_code, unreachable_pub)]

pub mod cch;
pub mod process;
pub mod proxy;
pub mod receiver;

use std::collections::HashMap;
use std::net::SocketAddr;

use leptos::config::LeptosOptions;
use server::http::state::AppState;
use server::platform::config::Config;
use sqlx::{Connection, Executor, PgConnection, PgPool};

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";
/// The tests' `SECRETS_KEY` (32 bytes of 0x2a).
pub const SECRETS_KEY: &str = "KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=";
pub const INGEST_TOKEN: &str = "test-ingest-token-0123456789";

/// The server's PostgreSQL, for creating the per-test databases.
fn admin_database_url() -> String {
    std::env::var("TEST_DATABASE_ADMIN_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/0".into())
}

/// A new, empty database of its own.
pub async fn create_database() -> url::Url {
    let db_name = format!("hn_test_{}", uuid::Uuid::new_v4().simple());
    let admin_url = admin_database_url();
    let mut conn = PgConnection::connect(&admin_url)
        .await
        .expect("connect to PostgreSQL (is it running?)");
    conn.execute(format!("CREATE DATABASE \"{db_name}\"").as_str())
        .await
        .expect("create test database");
    conn.close().await.ok();
    let mut db_url = url::Url::parse(&admin_url).unwrap();
    db_url.set_path(&db_name);
    db_url
}

pub struct TestApp {
    pub base: String,
    pub state: AppState,
    pub db: PgPool,
    pub key_prefix: String,
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(&[]).await
    }

    /// `vars` override the test configuration (e.g. `APP_ENV`).
    pub async fn spawn_with(vars: &[(&str, &str)]) -> TestApp {
        Self::spawn_on(create_database().await, vars).await
    }

    /// A server on a database the test prepared (e.g. with an older schema).
    pub async fn spawn_on(db_url: url::Url, vars: &[(&str, &str)]) -> TestApp {
        init_logs();
        let id = uuid::Uuid::new_v4().simple().to_string();
        let key_prefix = format!("hn_test_{id}:");
        let mut env: HashMap<String, String> = HashMap::from([
            ("DATABASE_URL".into(), db_url.to_string()),
            ("DATABASE_MAX_CONNECTIONS".into(), "4".into()),
            ("REDIS_URL".into(), redis_url()),
            ("REDIS_KEY_PREFIX".into(), key_prefix.clone()),
            ("REDIS_POOL_SIZE".into(), "2".into()),
            ("ADMIN_TOKEN".into(), ADMIN_TOKEN.into()),
            ("SECRETS_KEY".into(), SECRETS_KEY.into()),
            ("INGEST_TOKEN".into(), INGEST_TOKEN.into()),
            // Tests send bursts to one local receiver; the limit has a test of its own.
            ("WEBHOOK_RATE_LIMIT".into(), "off".into()),
        ]);
        for (k, v) in vars {
            env.insert(k.to_string(), v.to_string());
        }
        let config = Config::from_lookup(&move |name| env.get(name).cloned()).expect("test configuration");
        Self::serve(config, key_prefix).await
    }

    /// A second instance on the same database and Redis keys, as a second server process of
    /// one deployment would be.
    pub async fn twin(&self) -> TestApp {
        Self::serve((*self.state.config).clone(), self.key_prefix.clone()).await
    }

    /// A second instance whose PostgreSQL is reached through `proxy` (the same database), so the
    /// test can take the database away from this instance alone.
    pub async fn twin_through(&self, proxy: &proxy::TcpProxy) -> TestApp {
        self.twin_through_with(proxy, |_| {}).await
    }

    /// As [`TestApp::twin_through`], its configuration changed by `change` first.
    pub async fn twin_through_with(&self, proxy: &proxy::TcpProxy, change: impl FnOnce(&mut Config)) -> TestApp {
        let mut config = (*self.state.config).clone();
        change(&mut config);
        let mut url = url::Url::parse(config.database.url.expose()).unwrap();
        url.set_host(Some("127.0.0.1")).unwrap();
        url.set_port(Some(proxy.port())).unwrap();
        config.database.url = server::platform::config::Secret::new(url.to_string());
        Self::serve(config, self.key_prefix.clone()).await
    }

    /// Where the test databases live (`host:port`), for a proxy in front of them.
    pub fn database_address(&self) -> String {
        let url = url::Url::parse(self.state.config.database.url.expose()).unwrap();
        format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432))
    }

    async fn serve(config: Config, key_prefix: String) -> TestApp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let options = LeptosOptions::builder()
            .output_name("hub-notify")
            .site_root("target/site")
            .site_addr(addr)
            .build();
        let db = server::platform::db::connect_and_migrate(&config.database)
            .await
            .expect("migrate test database");
        server::platform::encryption::check_key(&db, &config.secrets)
            .await
            .expect("SECRETS_KEY check");
        server::notifications::bindings::adopt_legacy_urls(&db, &config.secrets.current)
            .await
            .expect("adopting legacy webhook URLs");
        server::usage::ingest::align_daily_rollups(&db, config.timezone)
            .await
            .expect("daily rollups");
        let redis = server::platform::redis::connect(&config.redis)
            .await
            .expect("connect to Redis (is it running?)");
        let state = AppState::new(config, options, db.clone(), redis).expect("app state");
        let serving = state.clone();
        tokio::spawn(async move {
            server::http::router::serve(listener, serving, std::future::pending())
                .await
                .expect("serve")
        });
        TestApp {
            base: format!("http://{addr}"),
            state,
            db,
            key_prefix,
        }
    }

    /// The WeCom push target sending to `url` (created on first use).
    pub async fn wecom_target(&self, url: &str) -> server::channels::targets::TargetRef {
        let id = self.state.targets.wecom(url).await.expect("push target");
        server::channels::targets::TargetRef {
            id,
            endpoint_host: server::channels::targets::display_target(url),
        }
    }

    /// Starts the delivery worker and sweeper of this app (stopped when the handle is dropped).
    pub fn start_engine(&self) -> EngineGuard {
        EngineGuard(Some(self.state.start_delivery_engine().expect("delivery engine")))
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A browser-like client: keeps cookies, does not follow redirects (tests inspect them).
    pub fn client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .cookie_store(true)
            // A hung response fails its test instead of hanging the run.
            .timeout(std::time::Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }

    /// An outbox row's status, attempts and last error.
    pub async fn delivery_row(&self, id: i64) -> (String, i32, Option<String>) {
        sqlx::query_as("SELECT status, attempts, last_error FROM notification_deliveries WHERE id = $1")
            .bind(id)
            .fetch_one(&self.db)
            .await
            .unwrap()
    }

    /// An admin's API call: the status and the JSON answer (`null` when there is none).
    pub async fn admin_call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut request = self.client().request(method, self.url(path)).bearer_auth(ADMIN_TOKEN);
        if let Some(body) = body {
            request = request.json(body);
        }
        let res = request.send().await.unwrap();
        (
            res.status().as_u16(),
            res.json().await.unwrap_or(serde_json::Value::Null),
        )
    }

    /// A page as a signed-in admin's browser gets it: the server-rendered HTML.
    pub async fn admin_page(&self, path: &str) -> String {
        let client = self.client();
        let res = self.sign_in(&client, ADMIN_TOKEN).await;
        assert!(res.status().is_redirection(), "sign-in: {}", res.status());
        client.get(self.url(path)).send().await.unwrap().text().await.unwrap()
    }

    /// Saves the 消息推送 settings through the REST API, as an admin; they must be accepted.
    pub async fn save_settings(&self, settings: &serde_json::Value) {
        let res = self
            .client()
            .put(self.url("/api/v1/notifications/settings"))
            .bearer_auth(ADMIN_TOKEN)
            .json(settings)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    }

    /// Turns circuit-breaker alerts on, to `url`, and nothing else.
    pub async fn enable_breaker_alerts(&self, url: &str) {
        self.save_settings(&serde_json::json!({
            "enabled": true,
            "circuitBreaker": {"enabled": true, "webhookUrl": url},
            "dailyLeaderboard": {"enabled": false, "webhookUrl": null, "time": "09:00", "topN": 5},
            "costAlert": {"enabled": false, "webhookUrl": null, "thresholdPercent": 80, "checkIntervalMinutes": 60}
        }))
        .await;
    }

    pub async fn create_user(&self, id: i64, name: &str) -> String {
        server::usage::users::issue_api_key(&self.db, id, name, app::session::Role::User)
            .await
            .unwrap()
    }

    /// Signs in through the real `sign_in` server function, posted as a browser posts the form
    /// without JavaScript.
    pub async fn sign_in(&self, client: &reqwest::Client, token: &str) -> reqwest::Response {
        client
            .post(self.url(&sign_in_path()))
            .header("accept", "text/html")
            .form(&[("token", token), ("next", "")])
            .send()
            .await
            .unwrap()
    }
}

pub fn sign_in_path() -> String {
    use leptos::server_fn::ServerFn;
    app::api::auth::SignIn::PATH.to_string()
}

pub fn location(res: &reqwest::Response) -> String {
    res.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

/// Stops the engine in the background when dropped.
pub struct EngineGuard(Option<server::delivery::runner::Engine>);

impl EngineGuard {
    pub async fn stop(mut self) {
        if let Some(engine) = self.0.take() {
            engine.stop().await;
        }
    }
}

impl Drop for EngineGuard {
    fn drop(&mut self) {
        if let Some(engine) = self.0.take() {
            tokio::spawn(engine.stop());
        }
    }
}

/// Polls `check` every 50 ms until it returns `Some`, or panics naming `what` after `within`.
pub async fn eventually<T, F, Fut>(within: std::time::Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {within:?} waiting for {what}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Server logs in test output when `TEST_LOG` is set (an `EnvFilter`, e.g. `server=debug`).
fn init_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if let Ok(filter) = std::env::var("TEST_LOG") {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
                .with_test_writer()
                .try_init();
        }
    });
}
