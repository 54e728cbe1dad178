//! `POST /api/v1/ingest/litellm` through the REST API with payloads LiteLLM's proxy sent
//! (`tests/fixtures/litellm/batch.json`, captured from LiteLLM 1.108.7): storage, idempotence,
//! the three formats, bad input, users and providers by LiteLLM's ids, unpriced events, the
//! sources' API and metrics, and a breaker opened per deployment. `litellm_proxy.rs` runs the
//! real proxy.
#![allow(clippy::unwrap_used)] // a panic is the test's failure report

mod common;

use std::time::Duration;

use common::receiver::{Answer, Receiver};
use common::{eventually, TestApp, ADMIN_TOKEN, INGEST_TOKEN};
use rust_decimal::Decimal;
use serde_json::{json, Value};

const ROUTE: &str = "/api/v1/ingest/litellm";

fn captured() -> Vec<Value> {
    serde_json::from_str(include_str!("fixtures/litellm/batch.json")).unwrap()
}

/// The captured payloads with fresh call ids (`tag`), dated now.
fn fresh(tag: &str) -> Vec<Value> {
    let now = chrono::Utc::now().timestamp_micros() as f64 / 1e6;
    captured()
        .into_iter()
        .enumerate()
        .map(|(i, mut p)| {
            p["litellm_call_id"] = json!(format!("{tag}-{i}"));
            p["startTime"] = json!(now);
            p
        })
        .collect()
}

async fn post(app: &TestApp, token: &str, body: impl Into<reqwest::Body>) -> (u16, Value) {
    let res = app
        .client()
        .post(app.url(ROUTE))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap_or(Value::Null))
}

/// A stored row: request id, cost, input, output and cache-read tokens, success, status.
type Stored = (String, Decimal, i64, i64, i64, bool, Option<i32>);

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&app.db).await.unwrap()
}

#[tokio::test]
async fn a_batch_is_stored_once_with_litellms_users_providers_costs_and_tokens() {
    let app = TestApp::spawn().await;
    let batch = serde_json::to_vec(&captured()).unwrap();
    let (status, report) = post(&app, INGEST_TOKEN, batch.clone()).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        report,
        json!({"accepted": 3, "duplicates": 0, "unpriced": 1, "rejected": []})
    );
    // LiteLLM sends a batch again after a timeout: nothing counts twice.
    let (_, again) = post(&app, INGEST_TOKEN, batch).await;
    assert_eq!(
        again,
        json!({"accepted": 0, "duplicates": 3, "unpriced": 0, "rejected": []})
    );

    // One user (the end user: the proxy has no database), three deployments.
    let users: Vec<(i64, String, String, Option<String>)> =
        sqlx::query_as("SELECT id, name, source, source_ref FROM users")
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(users.len(), 1, "{users:?}");
    let (user_id, name, source, reference) = &users[0];
    assert_eq!(
        (name.as_str(), source.as_str(), reference.as_deref()),
        ("alice@example.com", "litellm", Some("alice@example.com"))
    );
    assert!(*user_id >= 1_000_000_000_000, "an id of ours, above gateways' own");
    let providers: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT name, source_ref FROM providers WHERE source = 'litellm' ORDER BY name")
            .fetch_all(&app.db)
            .await
            .unwrap();
    let names: Vec<&str> = providers.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["fake-cached · 127.0.0.1", "mock-fail · anthropic", "mock-ok · openai"]
    );
    assert!(providers.iter().all(|(_, r)| r.as_ref().is_some_and(|r| r.len() == 64)));

    // What LiteLLM reported, to the token and the cent.
    let rows: Vec<Stored> = sqlx::query_as(
        "SELECT request_id, cost_usd, input_tokens, output_tokens, cache_read_input_tokens, success, status_code
           FROM usage_records ORDER BY request_id",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(
        rows,
        [
            (
                "litellm:046040bd-d008-4167-9517-cd5e877110bd".into(),
                Decimal::ZERO,
                200,
                30,
                1000,
                true,
                Some(200)
            ),
            (
                "litellm:3ff4b4ea-e452-453c-8318-eb8a9896abe9".into(),
                Decimal::ZERO,
                0,
                0,
                0,
                false,
                Some(429)
            ),
            (
                "litellm:ecca1788-1174-4e5c-9b61-3b18e6b0699f".into(),
                Decimal::new(135, 7),
                10,
                20,
                0,
                true,
                Some(200)
            ),
        ]
    );
    let spent: Decimal = sqlx::query_scalar("SELECT sum(cost_usd) FROM usage_user_daily WHERE user_id = $1")
        .bind(user_id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(spent, Decimal::new(135, 7));
}

#[tokio::test]
async fn json_lines_and_single_payloads_are_taken_too() {
    let app = TestApp::spawn().await;
    let lines: String = fresh("nd").iter().map(|p| format!("{p}\n")).collect();
    let (status, report) = post(&app, INGEST_TOKEN, lines).await;
    assert_eq!((status, report["accepted"].clone()), (200, json!(3)), "{report}");
    let single = fresh("one").remove(0).to_string();
    let (status, report) = post(&app, INGEST_TOKEN, single).await;
    assert_eq!((status, report["accepted"].clone()), (200, json!(1)), "{report}");
    assert_eq!(count(&app, "SELECT count(*) FROM usage_records").await, 4);
}

#[tokio::test]
async fn bad_input_is_refused_and_one_bad_event_does_not_sink_the_batch() {
    let app = TestApp::spawn().await;
    for (body, error) in [
        ("", "the body is empty"),
        ("{not json", "the body is not JSON"),
        (
            "[1, 2]",
            "expected LiteLLM's logging payloads (JSON objects), got a number",
        ),
    ] {
        let (status, answer) = post(&app, INGEST_TOKEN, body).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert!(answer["error"].as_str().unwrap().starts_with(error), "{answer}");
    }
    assert_eq!(count(&app, "SELECT count(*) FROM usage_records").await, 0);
    assert_eq!(count(&app, "SELECT count(*) FROM users").await, 0, "nothing stored");

    let mut batch = fresh("mixed");
    batch[1]["status"] = json!("pending");
    batch[2].as_object_mut().unwrap().remove("litellm_call_id");
    let (status, report) = post(&app, INGEST_TOKEN, serde_json::to_vec(&batch).unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(report["accepted"], 1);
    assert_eq!(
        report["rejected"],
        json!([
            {"index": 1, "requestId": "mixed-1", "reason": "status must be success or failure, got \"pending\""},
            {"index": 2, "reason": "litellm_call_id is missing"}
        ])
    );
}

#[tokio::test]
async fn only_the_ingest_token_may_send() {
    let app = TestApp::spawn().await;
    let batch = serde_json::to_vec(&fresh("auth")).unwrap();
    assert_eq!(post(&app, "not-the-token", batch.clone()).await.0, 401);
    assert_eq!(post(&app, ADMIN_TOKEN, batch).await.0, 403);
    assert_eq!(count(&app, "SELECT count(*) FROM usage_records").await, 0);
}

#[tokio::test]
async fn the_sources_api_and_metrics_say_what_litellm_delivered() {
    let app = TestApp::spawn().await;
    let mut batch = fresh("seen");
    batch[1]["status"] = json!("pending");
    post(&app, INGEST_TOKEN, serde_json::to_vec(&batch).unwrap()).await;
    post(&app, INGEST_TOKEN, serde_json::to_vec(&batch).unwrap()).await;

    let (status, sources) = app.admin_call(reqwest::Method::GET, "/api/v1/sources", None).await;
    assert_eq!(status, 200, "{sources}");
    let litellm = sources
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "litellm")
        .unwrap();
    assert_eq!(litellm["enabled"], true);
    assert_eq!(litellm["path"], ROUTE);
    assert!(litellm["tail"].is_null());
    assert_eq!(
        litellm["lastHour"],
        json!({"accepted": 2, "duplicates": 2, "revised": 0, "rejected": 2, "unpriced": 1})
    );
    assert!(litellm["lastEventAt"].is_string());
    let unpriced = litellm["latestUnpriced"][0]["detail"].as_str().unwrap();
    assert_eq!(
        unpriced,
        "openai/claude-fake on fake-cached · 127.0.0.1: 1230 tokens, response_cost 0 — add the model's price to LiteLLM"
    );
    let rejection = litellm["latestRejections"][0]["detail"].as_str().unwrap();
    assert_eq!(
        rejection,
        "event 1 (seen-1): status must be success or failure, got \"pending\""
    );
    let http = sources
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "http")
        .unwrap();
    assert_eq!(
        http["lastHour"],
        json!({"accepted": 0, "duplicates": 0, "revised": 0, "rejected": 0, "unpriced": 0})
    );
    assert!(http["lastEventAt"].is_null());

    let metrics = app
        .client()
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for (series, value) in [
        (
            r#"hub_notify_source_events_total{outcome="accepted",source="litellm"}"#,
            "2",
        ),
        (
            r#"hub_notify_source_events_total{outcome="duplicate",source="litellm"}"#,
            "2",
        ),
        (
            r#"hub_notify_source_events_total{outcome="rejected",source="litellm"}"#,
            "2",
        ),
        (
            r#"hub_notify_source_events_total{outcome="unpriced",source="litellm"}"#,
            "1",
        ),
    ] {
        assert!(
            metrics.contains(&format!("{series} {value}\n")),
            "{series} in:\n{metrics}"
        );
    }
    assert!(metrics.contains(r#"hub_notify_source_lag_seconds{source="litellm"}"#));

    // 数据来源 shows the same, with the snippets naming this server as the browser reached it.
    let page = app.admin_page("/settings/sources").await;
    let origin = app.url("");
    let origin = origin.trim_end_matches('/');
    assert!(
        page.contains(&format!("endpoint: {origin}/api/v1/ingest/litellm")),
        "the LiteLLM snippet names this server: {page}"
    );
    assert!(page.contains(&format!("{origin}/api/v1/usage -d")), "{page}");
    assert!(page.contains("入库 2 · 重复 2 · 修订 0 · 拒绝 2 · 未定价 1"), "{page}");
    assert!(
        page.contains("response_cost 0 — add the model&#x27;s price to LiteLLM")
            || page.contains("response_cost 0 — add the model's price to LiteLLM"),
        "{page}"
    );
    assert!(page.contains("data-source=\"cch\" data-enabled=\"false\""), "{page}");

    // Admins only.
    let user = app.create_user(5, "李四").await;
    let res = app
        .client()
        .get(app.url("/api/v1/sources"))
        .bearer_auth(&user)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
}

#[tokio::test]
async fn five_failures_of_one_deployment_open_its_breaker_and_alert_naming_it() {
    let receiver = Receiver::start(Answer::Ok).await;
    let app = TestApp::spawn_with(&[("WEBHOOK_ALLOWLIST", &receiver.allowlist_entry())]).await;
    let _engine = app.start_engine();
    app.enable_breaker_alerts(&receiver.url()).await;
    let failure = captured()[1].clone();
    let now = chrono::Utc::now().timestamp_micros() as f64 / 1e6;
    let failures: Vec<Value> = (0..5)
        .map(|i| {
            let mut p = failure.clone();
            p["litellm_call_id"] = json!(format!("fail-{i}"));
            p["startTime"] = json!(now + f64::from(i) / 1000.0);
            p
        })
        .collect();
    post(&app, INGEST_TOKEN, serde_json::to_vec(&failures).unwrap()).await;
    let alert = eventually(Duration::from_secs(30), "the breaker alert", || async {
        receiver.received().first().cloned()
    })
    .await;
    let content = alert.body["markdown"]["content"].as_str().unwrap();
    assert!(
        content.starts_with(&format!(
            "## 供应商熔断告警\n> 供应商 **mock-fail · anthropic** (ID: {}) 已触发熔断保护",
            failure["model_id"].as_str().unwrap()
        )),
        "the deployment is named by LiteLLM's id for it: {content}"
    );
    assert!(content.contains("失败次数: 5 次"), "{content}");
    assert!(
        content.contains("最后错误: `litellm.RateLimitError: this is a mock rate limit error`"),
        "{content}"
    );
    // The deployment's own circuit, by our id for it.
    let deployment: i64 = sqlx::query_scalar("SELECT id FROM providers WHERE name = 'mock-fail · anthropic'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let res: Value = app
        .client()
        .get(app.url(&format!("/api/v1/providers/{deployment}/circuit")))
        .bearer_auth(INGEST_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(res["state"], "OPEN");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.received().len(), 1);
}
