//! A real LiteLLM proxy (PyPI `litellm[proxy]`, installed by `scripts/setup --tests`; its path in
//! `TEST_LITELLM`) with its `generic_api` callback pointed at a real Hub Notify server: a priced
//! deployment with cache reads, one LiteLLM has no price for, and one that always fails (429).
//! What LiteLLM itself says a request cost (`x-litellm-response-cost`) and counted is what Hub
//! Notify stores; the unpriced deployment shows as unpriced; five failures open that
//! deployment's breaker and send one 供应商熔断告警 naming it.
#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)] // a panic is the test's failure report

mod common;

use std::process::Stdio;
use std::time::Duration;

use axum::routing::{get, post};
use axum::Json;
use common::process::{free_port, WorkDir};
use common::receiver::{Answer, Receiver};
use common::{eventually, TestApp, INGEST_TOKEN};
use rust_decimal::Decimal;
use serde_json::{json, Value};

const MASTER_KEY: &str = "sk-hubnotify-test-master-0123456789";

/// The proxy `scripts/setup --tests` installed.
fn litellm_bin() -> std::path::PathBuf {
    let path = std::env::var_os("TEST_LITELLM")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(std::env::var("HOME").unwrap_or_default())
                .join(".cache/hub-notify/litellm/bin/litellm")
        });
    assert!(
        path.is_file(),
        "no LiteLLM proxy at {} (scripts/setup --tests installs it; TEST_LITELLM names another)",
        path.display()
    );
    path
}

/// An OpenAI-compatible upstream: every chat completion used 1,200 prompt tokens, 1,000 of them
/// read from the cache, and wrote 30.
async fn upstream() -> String {
    let app = axum::Router::new()
        .route(
            "/v1/models",
            get(|| async { Json(json!({"object": "list", "data": [{"id": "gpt-4o-mini", "object": "model"}]})) }),
        )
        .route(
            "/v1/chat/completions",
            post(|Json(request): Json<Value>| async move {
                Json(json!({
                    "id": "chatcmpl-upstream", "object": "chat.completion", "created": chrono::Utc::now().timestamp(),
                    "model": request["model"],
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 1200, "completion_tokens": 30, "total_tokens": 1230,
                              "prompt_tokens_details": {"cached_tokens": 1000}}
                }))
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/v1")
}

/// `litellm --config` in a directory of its own, answering on its port.
struct Proxy {
    base: String,
    _child: tokio::process::Child,
    _dir: WorkDir,
}

async fn start_proxy(app: &TestApp, upstream: &str) -> Proxy {
    let dir = WorkDir::new();
    let port = free_port();
    let config = format!(
        "model_list:
  - model_name: priced
    litellm_params: {{model: openai/gpt-4o-mini, api_base: \"{upstream}\", api_key: sk-upstream}}
  - model_name: unpriced
    litellm_params: {{model: openai/house-model-7b, api_base: \"{upstream}\", api_key: sk-upstream}}
  - model_name: failing
    litellm_params: {{model: anthropic/claude-3-5-sonnet-20240620, mock_response: \"litellm.RateLimitError\"}}
litellm_settings:
  callbacks: [\"hubnotify\"]
  turn_off_message_logging: true
  num_retries: 0
callback_settings:
  hubnotify:
    callback_type: generic_api
    endpoint: \"{endpoint}\"
    headers: {{Authorization: \"Bearer {INGEST_TOKEN}\"}}
general_settings:
  master_key: {MASTER_KEY}
",
        endpoint = app.url("/api/v1/ingest/litellm"),
    );
    std::fs::write(dir.path().join("config.yaml"), config).unwrap();
    let log = std::fs::File::create(dir.path().join("litellm.log")).unwrap();
    let child = tokio::process::Command::new(litellm_bin())
        .args([
            "--config",
            "config.yaml",
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
        ])
        .current_dir(dir.path())
        // Offline: the price list shipped with the package, not a download.
        .env("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("start the LiteLLM proxy");
    let base = format!("http://127.0.0.1:{port}");
    let health = format!("{base}/health/liveliness");
    let log_path = dir.path().join("litellm.log");
    let started = tokio::time::Instant::now();
    while !reqwest::get(&health).await.is_ok_and(|r| r.status().is_success()) {
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "LiteLLM did not answer within 90 s:\n{}",
            std::fs::read_to_string(&log_path).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Proxy {
        base,
        _child: child,
        _dir: dir,
    }
}

impl Proxy {
    /// A chat completion by `user`: the status and what LiteLLM says it cost.
    async fn complete(&self, model: &str, user: &str) -> (u16, Option<Decimal>) {
        let res = reqwest::Client::new()
            .post(format!("{}/v1/chat/completions", self.base))
            .bearer_auth(MASTER_KEY)
            .json(&json!({"model": model, "user": user, "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .unwrap();
        let cost = res
            .headers()
            .get("x-litellm-response-cost")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<f64>().ok())
            .map(|v| Decimal::try_from(v).unwrap());
        (res.status().as_u16(), cost)
    }
}

#[tokio::test]
async fn a_real_litellm_proxy_feeds_costs_tokens_unpriced_models_and_breakers() {
    let receiver = Receiver::start(Answer::Ok).await;
    let app = TestApp::spawn_with(&[("WEBHOOK_ALLOWLIST", &receiver.allowlist_entry())]).await;
    let _engine = app.start_engine();
    app.enable_breaker_alerts(&receiver.url()).await;
    let proxy = start_proxy(&app, &upstream().await).await;

    let mut litellm_cost = Decimal::ZERO;
    for _ in 0..3 {
        let (status, cost) = proxy.complete("priced", "alice@example.com").await;
        assert_eq!(status, 200);
        let cost = cost.expect("LiteLLM prices gpt-4o-mini");
        assert!(cost > Decimal::ZERO);
        litellm_cost += cost;
    }
    assert_eq!(proxy.complete("unpriced", "alice@example.com").await.0, 200);
    for _ in 0..5 {
        assert_eq!(proxy.complete("failing", "bob").await.0, 429);
    }

    // LiteLLM flushes its batch every 5 s.
    let rows: i64 = eventually(Duration::from_secs(60), "LiteLLM's events to arrive", || async {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM usage_records")
            .fetch_one(&app.db)
            .await
            .unwrap();
        (n == 9).then_some(n)
    })
    .await;
    assert_eq!(rows, 9);

    // Alice's spend and tokens are LiteLLM's own figures.
    let (spent, tokens, input, cache_read, output): (Decimal, i64, i64, i64, i64) = sqlx::query_as(
        "SELECT sum(r.cost_usd), sum(r.input_tokens + r.output_tokens + r.cache_read_input_tokens + r.cache_creation_input_tokens)::bigint,
                sum(r.input_tokens)::bigint, sum(r.cache_read_input_tokens)::bigint, sum(r.output_tokens)::bigint
           FROM usage_records r JOIN users u ON u.id = r.user_id
          WHERE u.source = 'litellm' AND u.source_ref = 'alice@example.com'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(
        spent.normalize(),
        litellm_cost.normalize(),
        "LiteLLM's response_cost, summed"
    );
    assert_eq!(
        (tokens, input, cache_read, output),
        (4 * 1230, 4 * 200, 4 * 1000, 4 * 30)
    );
    let daily: Decimal = sqlx::query_scalar(
        "SELECT sum(d.cost_usd) FROM usage_user_daily d JOIN users u ON u.id = d.user_id WHERE u.source_ref = 'alice@example.com'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(daily.normalize(), litellm_cost.normalize(), "the rollups agree");

    // The unpriced deployment is named on the sources API (once the batch's answer is on its way:
    // the rows are stored before the batch is counted).
    let litellm = eventually(Duration::from_secs(10), "the batch counted", || async {
        let (_, sources) = app.admin_call(reqwest::Method::GET, "/api/v1/sources", None).await;
        let litellm = sources.as_array()?.iter().find(|s| s["name"] == "litellm")?.clone();
        (litellm["lastHour"]["accepted"] == 9).then_some(litellm)
    })
    .await;
    assert_eq!(litellm["lastHour"]["unpriced"], 1, "{litellm}");
    let unpriced = litellm["latestUnpriced"][0]["detail"].as_str().unwrap();
    assert!(
        unpriced.starts_with("openai/house-model-7b on unpriced · 127.0.0.1: 1230 tokens"),
        "{unpriced}"
    );

    // One breaker alert, naming the failing deployment.
    let alert = eventually(Duration::from_secs(30), "the breaker alert", || async {
        receiver.received().first().cloned()
    })
    .await;
    let content = alert.body["markdown"]["content"].as_str().unwrap();
    // Named by the id LiteLLM gives the deployment (its `model_id`), which its admins look up.
    let model_id: String = sqlx::query_scalar("SELECT source_ref FROM providers WHERE name = 'failing · anthropic'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(
        content.starts_with(&format!(
            "## 供应商熔断告警\n> 供应商 **failing · anthropic** (ID: {model_id}) 已触发熔断保护"
        )),
        "{content}"
    );
    assert!(content.contains("失败次数: 5 次"), "{content}");
    assert!(content.contains("litellm.RateLimitError"), "{content}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(receiver.received().len(), 1, "one alert");
}
