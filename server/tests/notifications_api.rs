//! `/api/v1/notifications` and the OpenAPI document, over HTTP against a running server.
#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)] // a panic is the test's failure report

mod common;

use common::receiver::{Answer, Receiver};
use common::{TestApp, ADMIN_TOKEN};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const SETTINGS: &str = "/api/v1/notifications/settings";
const TEST: &str = "/api/v1/notifications/test";

async fn app_with(receiver: &Receiver) -> TestApp {
    TestApp::spawn_with(&[
        ("WEBHOOK_ALLOWLIST", &receiver.allowlist_entry()),
        ("WEBHOOK_TIMEOUT_SECS", "1"),
    ])
    .await
}

fn valid_settings(url: &str) -> Value {
    json!({
        "enabled": true,
        "circuitBreaker": {"enabled": true, "webhookUrl": url},
        "dailyLeaderboard": {"enabled": true, "webhookUrl": url, "time": "18:30", "topN": 10},
        "costAlert": {"enabled": false, "webhookUrl": null, "thresholdPercent": 90, "checkIntervalMinutes": 90}
    })
}

#[tokio::test]
async fn defaults_on_first_read() {
    let app = TestApp::spawn().await;
    let res = app
        .client()
        .get(app.url(SETTINGS))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body,
        json!({
            "enabled": false,
            "circuitBreaker": {"enabled": false, "webhookUrl": null, "targetIds": []},
            "dailyLeaderboard": {"enabled": false, "webhookUrl": null, "targetIds": [], "time": "09:00", "topN": 5},
            "costAlert": {"enabled": false, "webhookUrl": null, "targetIds": [], "thresholdPercent": 80, "checkIntervalMinutes": 60}
        })
    );
}

#[tokio::test]
async fn authentication_and_roles() {
    let app = TestApp::spawn().await;
    let key = app.create_user(3, "王五").await;
    let client = app.client();
    for (method, path) in [("GET", SETTINGS), ("PUT", SETTINGS), ("POST", TEST)] {
        let req = |c: &reqwest::Client| c.request(method.parse().unwrap(), app.url(path)).json(&json!({}));
        assert_eq!(
            req(&client).send().await.unwrap().status(),
            StatusCode::UNAUTHORIZED,
            "{method} {path}"
        );
        assert_eq!(
            req(&client).bearer_auth("wrong-token").send().await.unwrap().status(),
            StatusCode::UNAUTHORIZED,
            "{method} {path}"
        );
        assert_eq!(
            req(&client).bearer_auth(&key).send().await.unwrap().status(),
            StatusCode::FORBIDDEN,
            "{method} {path}"
        );
    }
    // A signed-in user's browser session gets 403 too.
    let browser = app.client();
    app.sign_in(&browser, &key).await;
    assert_eq!(
        browser.get(app.url(SETTINGS)).send().await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn save_and_load_round_trip() {
    let receiver = Receiver::start(Answer::Ok).await;
    let app = app_with(&receiver).await;
    let client = app.client();
    let settings = valid_settings(&receiver.url());
    let res = client
        .put(app.url(SETTINGS))
        .bearer_auth(ADMIN_TOKEN)
        .json(&settings)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let answer: Value = res.json().await.unwrap();
    // The answer is what was saved, with the targets the URLs became: one URL, one target.
    let target = answer["circuitBreaker"]["targetIds"][0].as_i64().unwrap();
    // Answers mask each URL's key.
    let masked = receiver.url().replace("test-key-123", "***");
    let mut expected = settings.clone();
    for kind in ["circuitBreaker", "dailyLeaderboard", "costAlert"] {
        if expected[kind]["webhookUrl"] == receiver.url().as_str() {
            expected[kind]["webhookUrl"] = json!(masked);
        }
    }
    expected["circuitBreaker"]["targetIds"] = json!([target]);
    expected["dailyLeaderboard"]["targetIds"] = json!([target]);
    expected["costAlert"]["targetIds"] = json!([]);
    assert_eq!(answer, expected);
    assert!(!answer.to_string().contains("test-key-123"), "{answer}");
    let loaded: Value = client
        .get(app.url(SETTINGS))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(loaded, expected);
    // What a script read and sends back unchanged keeps the stored URLs: same target, and the
    // test connection of the masked URL reaches the robot with its key.
    let (_, again) = app.admin_call(Method::PUT, SETTINGS, Some(&loaded)).await;
    assert_eq!(again, expected);
    let (status, _) = app
        .admin_call(
            Method::POST,
            TEST,
            Some(&json!({"type": "circuitBreaker", "webhookUrl": masked})),
        )
        .await;
    assert_eq!(status, 200);
    assert!(receiver
        .received()
        .last()
        .unwrap()
        .path_and_query
        .ends_with("key=test-key-123"));
    // A masked URL that is not the stored one is refused: the whole URL is needed.
    let mut other = loaded.clone();
    other["costAlert"]["webhookUrl"] = json!(format!("{masked}&x=1"));
    let (status, _) = app.admin_call(Method::PUT, SETTINGS, Some(&other)).await;
    assert_eq!(status, 400);
    let (by,): (Option<String>,) = sqlx::query_as("SELECT updated_by FROM notification_settings")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(by.as_deref(), Some("admin"));
}

#[tokio::test]
async fn invalid_input_is_rejected_whole_with_one_message_per_field() {
    let receiver = Receiver::start(Answer::Ok).await;
    let app = app_with(&receiver).await;
    let client = app.client();
    let mut bad = valid_settings(&receiver.url());
    bad["dailyLeaderboard"]["time"] = json!("24:00");
    bad["dailyLeaderboard"]["topN"] = json!(21);
    bad["costAlert"]["thresholdPercent"] = json!(49);
    bad["costAlert"]["checkIntervalMinutes"] = json!(9);
    bad["costAlert"]["enabled"] = json!(true);
    bad["circuitBreaker"]["webhookUrl"] = json!("http://127.0.0.1:9/hook");
    let res = client
        .put(app.url(SETTINGS))
        .bearer_auth(ADMIN_TOKEN)
        .json(&bad)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "invalid settings");
    let fields = body["fields"].as_object().unwrap();
    let mut keys: Vec<&str> = fields.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "circuitBreaker.webhookUrl",
            "costAlert.checkIntervalMinutes",
            "costAlert.thresholdPercent",
            "costAlert.webhookUrl",
            "dailyLeaderboard.time",
            "dailyLeaderboard.topN"
        ]
    );
    assert_eq!(fields["costAlert.thresholdPercent"], "must be between 50 and 100");
    assert!(
        fields["circuitBreaker.webhookUrl"]
            .as_str()
            .unwrap()
            .contains("loopback"),
        "{fields:?}"
    );
    // Nothing was saved.
    let loaded: Value = client
        .get(app.url(SETTINGS))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(loaded["enabled"], false);

    let res = client
        .put(app.url(SETTINGS))
        .bearer_auth(ADMIN_TOKEN)
        .body("{not json")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let mut missing = valid_settings(&receiver.url());
    missing.as_object_mut().unwrap().remove("costAlert");
    let res = client
        .put(app.url(SETTINGS))
        .bearer_auth(ADMIN_TOKEN)
        .json(&missing)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.json::<Value>().await.unwrap()["error"]
        .as_str()
        .unwrap()
        .contains("costAlert"));
}

#[tokio::test]
async fn test_connection_delivers_the_spec_message() {
    let receiver = Receiver::start(Answer::Ok).await;
    let app = app_with(&receiver).await;
    let res = app
        .client()
        .post(app.url(TEST))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"type": "dailyLeaderboard", "webhookUrl": receiver.url()}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap(), json!({"ok": true}));
    let got = receiver.received();
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].body["markdown"]["content"],
        "**测试消息**\n企业微信机器人连接成功!"
    );
}

#[tokio::test]
async fn test_connection_failures_name_their_cause() {
    let receiver = Receiver::start(Answer::Ok).await;
    let app = app_with(&receiver).await;
    let client = app.client();
    let cases: Vec<(Answer, StatusCode, &str, &str)> = vec![
        (
            Answer::ErrCode(93000, "invalid webhook url"),
            StatusCode::BAD_GATEWAY,
            "errcode",
            "errcode 93000: invalid webhook url",
        ),
        (Answer::Status(403), StatusCode::BAD_GATEWAY, "http_status", "HTTP 403"),
        (Answer::Status(502), StatusCode::BAD_GATEWAY, "http_status", "HTTP 502"),
        (
            Answer::Slow(std::time::Duration::from_secs(3)),
            StatusCode::BAD_GATEWAY,
            "timeout",
            "timed out",
        ),
    ];
    for (answer, status, reason, text) in cases {
        receiver.set_answer(answer.clone());
        let res = client
            .post(app.url(TEST))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({"type": "costAlert", "webhookUrl": receiver.url()}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), status, "{answer:?}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["ok"], false);
        assert_eq!(body["reason"], reason, "{answer:?}");
        assert!(body["error"].as_str().unwrap().contains(text), "{answer:?}: {body}");
    }
    // Refused by the SSRF guard: 400, and the rule is named.
    let res = client
        .post(app.url(TEST))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"type": "circuitBreaker", "webhookUrl": "http://169.254.169.254/latest/meta-data"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["reason"], "refused");
    assert!(body["error"].as_str().unwrap().contains("link-local"), "{body}");
    // Unknown type or missing URL: 400.
    for bad in [
        json!({"type": "sms", "webhookUrl": receiver.url()}),
        json!({"type": "costAlert", "webhookUrl": ""}),
    ] {
        let res = client
            .post(app.url(TEST))
            .bearer_auth(ADMIN_TOKEN)
            .json(&bad)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    // Connection refused: an allowlisted port with nobody listening.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let app = TestApp::spawn_with(&[("WEBHOOK_ALLOWLIST", &closed.to_string())]).await;
    let res = app
        .client()
        .post(app.url(TEST))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"type": "costAlert", "webhookUrl": format!("http://{closed}/hook")}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(res.json::<Value>().await.unwrap()["reason"], "connect");
}

#[tokio::test]
async fn openapi_document_describes_every_endpoint() {
    let app = TestApp::spawn().await;
    let client = app.client();
    let doc: Value = client
        .get(app.url(server::http::api::OPENAPI_PATH))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    let mut operations: Vec<String> = paths
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |m| format!("{} {path}", m.to_uppercase()))
        })
        .collect();
    operations.sort();
    assert_eq!(
        operations,
        [
            "DELETE /api/v1/notifications/targets/{id}",
            "GET /api/v1/notifications/deliveries",
            "GET /api/v1/notifications/settings",
            "GET /api/v1/notifications/targets",
            "GET /api/v1/notifications/targets/{id}",
            "GET /api/v1/providers/{id}/circuit",
            "GET /api/v1/session",
            "GET /api/v1/sources",
            "GET /api/v1/usage/keys",
            "GET /api/v1/usage/providers",
            "GET /api/v1/usage/users",
            "GET /api/v1/users",
            "POST /api/v1/ingest/litellm",
            "POST /api/v1/notifications/run/{type}",
            "POST /api/v1/notifications/targets",
            "POST /api/v1/notifications/targets/{id}/test",
            "POST /api/v1/notifications/test",
            "POST /api/v1/usage",
            "PUT /api/v1/notifications/settings",
            "PUT /api/v1/notifications/targets/{id}",
            "PUT /api/v1/providers/{id}",
            "PUT /api/v1/users/{id}",
        ]
    );
    // Every documented operation is served (unauthenticated: 401, never 404/405).
    for op in &operations {
        let (method, path) = op.split_once(' ').unwrap();
        let res = client
            .request(method.parse().unwrap(), app.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{op}");
    }
    // The documented schema of the settings matches what the API returns.
    let schema = &doc["components"]["schemas"]["NotificationSettings"]["properties"];
    let served: Value = client
        .get(app.url("/api/v1/notifications/settings"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut documented: Vec<&String> = schema.as_object().unwrap().keys().collect();
    let mut actual: Vec<&String> = served.as_object().unwrap().keys().collect();
    documented.sort();
    actual.sort();
    assert_eq!(documented, actual);
    // A target is documented in its flat wire form, as it is served.
    let created: Value = client
        .post(app.url("/api/v1/notifications/targets"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"name": "TG", "channel": "telegram", "chatId": "-100",
            "botToken": "123456:ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let schema = &doc["components"]["schemas"]["PushTargetView"]["properties"];
    let mut documented: Vec<&String> = schema.as_object().unwrap().keys().collect();
    let mut actual: Vec<&String> = created.as_object().unwrap().keys().collect();
    documented.retain(|k| *k != "generatedSecret");
    documented.sort();
    actual.sort();
    assert_eq!(documented, actual);
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}
