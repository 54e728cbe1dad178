//! One circuit-breaker alert to eight targets of eight channels, raised and delivered by a real
//! `server` process whose log is read afterwards: every target gets exactly one message, a
//! target that keeps failing delays and repeats none of the others, a throttled one waits and
//! then delivers, and no secret of any target appears in the log, the answers, the history or
//! a dump of the database.
#![allow(clippy::unwrap_used)] // a panic is the test's failure report

mod common;

use std::time::Duration;

use common::process::ServerProcess;
use common::receiver::{Answer, Receiver};
use common::{eventually, TestApp, INGEST_TOKEN};
use reqwest::Method;
use serde_json::{json, Value};

const TARGETS: &str = "/api/v1/notifications/targets";
const TELEGRAM_TOKEN: &str = "123456:AAFanOutTelegramBotToken0123456789abcd";
const CHAT: i64 = -1_001_234_567_890;

async fn create(app: &TestApp, body: Value) -> Value {
    let (status, created) = app.admin_call(Method::POST, TARGETS, Some(&body)).await;
    assert_eq!(status, 201, "{created}");
    created
}

#[tokio::test]
async fn one_alert_reaches_eight_channels_once_each_and_no_secret_leaks() {
    let wecom = Receiver::start(Answer::Ok).await;
    let feishu = Receiver::start(Answer::Feishu {
        secret: Some("SECfeishu-fan-5a1"),
    })
    .await;
    let dingtalk = Receiver::start(Answer::DingTalk {
        secret: Some("SECding-fan-7c2"),
    })
    .await;
    let telegram = Receiver::start(Answer::Telegram {
        token: TELEGRAM_TOKEN,
        chat: CHAT,
        throttle_first: Some(5),
    })
    .await;
    let slack = Receiver::start(Answer::Slack).await;
    let discord = Receiver::start(Answer::Discord).await;
    let webhook = Receiver::start(Answer::Status(500)).await;
    let custom = Receiver::start(Answer::Status(500)).await;
    let all = [
        &wecom, &feishu, &dingtalk, &telegram, &slack, &discord, &webhook, &custom,
    ];
    let allowlist = all.iter().map(|r| r.allowlist_entry()).collect::<Vec<_>>().join(",");
    let app = TestApp::spawn_with(&[("WEBHOOK_ALLOWLIST", &allowlist)]).await;
    let at = |r: &Receiver, path: &str| format!("http://{}{path}", r.allowlist_entry());

    let mut secrets = vec![
        "wecom-KEY-8fa1d0",
        "feishu-hook-token-3e9",
        "SECfeishu-fan-5a1",
        "ding-access-token-b71",
        "SECding-fan-7c2",
        "AAFanOutTelegramBotToken0123456789abcd",
        "slack-fan-token-42e",
        "discord-fan-token-77a",
        "custom-fan-header-9d3",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect::<Vec<_>>();
    let mut ids = Vec::new();
    for body in [
        json!({"name": "企业微信", "channel": "wecom",
            "webhookUrl": at(&wecom, "/cgi-bin/webhook/send?key=wecom-KEY-8fa1d0")}),
        json!({"name": "飞书", "channel": "feishu", "secret": "SECfeishu-fan-5a1",
            "webhookUrl": at(&feishu, "/open-apis/bot/v2/hook/feishu-hook-token-3e9")}),
        json!({"name": "钉钉", "channel": "dingtalk", "secret": "SECding-fan-7c2",
            "webhookUrl": at(&dingtalk, "/robot/send?access_token=ding-access-token-b71")}),
        json!({"name": "Telegram", "channel": "telegram", "botToken": TELEGRAM_TOKEN, "chatId": CHAT.to_string(),
            "apiBaseUrl": at(&telegram, "")}),
        json!({"name": "Slack", "channel": "slack", "webhookUrl": at(&slack, "/services/T0/B0/slack-fan-token-42e")}),
        json!({"name": "Discord", "channel": "discord",
            "webhookUrl": at(&discord, "/api/webhooks/1/discord-fan-token-77a")}),
        json!({"name": "Webhook", "channel": "webhook", "webhookUrl": at(&webhook, "/events")}),
        json!({"name": "Custom", "channel": "custom", "webhookUrl": at(&custom, "/notify"),
            "template": {"text": "{{text}}", "provider": "{{providerName}}"},
            "headers": {"X-Api-Key": "custom-fan-header-9d3"}}),
    ] {
        let created = create(&app, body).await;
        if let Some(generated) = created["generatedSecret"].as_str() {
            webhook.set_answer(Answer::StandardWebhook {
                secret: generated.to_owned(),
            });
            secrets.push(generated.trim_start_matches("whsec_").to_owned());
        }
        ids.push(created["id"].as_i64().unwrap());
    }
    app.save_settings(&json!({
        "enabled": true,
        "circuitBreaker": {"enabled": true, "webhookUrl": null, "targetIds": ids},
        "dailyLeaderboard": {"enabled": false, "webhookUrl": null, "time": "09:00", "topN": 5},
        "costAlert": {"enabled": false, "webhookUrl": null, "thresholdPercent": 80, "checkIntervalMinutes": 60}
    }))
    .await;

    // A real server process takes the gateway's failures, opens the breaker and delivers.
    let server = ServerProcess::start(
        &app,
        &common::redis_url(),
        &[
            ("WEBHOOK_ALLOWLIST", &allowlist),
            ("INGEST_TOKEN", INGEST_TOKEN),
            ("RUST_LOG", ""),
        ],
    )
    .await;
    let events: Vec<Value> = (0..5)
        .map(|i| {
            json!({"requestId": format!("fan-{i}"), "userId": 7, "userName": "张三", "providerId": 1,
                "providerName": "Anthropic 官方", "model": "claude-sonnet-4", "costUsd": 0.01,
                "inputTokens": 10, "outputTokens": 2, "cacheCreationInputTokens": 0, "cacheReadInputTokens": 0,
                "success": false, "statusCode": 429, "error": "rate_limit_exceeded",
                "createdAt": chrono::Utc::now().to_rfc3339()})
        })
        .collect();
    let res = reqwest::Client::new()
        .post(format!("{}/api/v1/usage", server.base))
        .bearer_auth(INGEST_TOKEN)
        .json(&json!({ "events": events }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    // Seven deliver, the custom receiver's row fails after its four attempts.
    let rows: Vec<(i64, String, i32, f64)> = eventually(Duration::from_secs(60), "every row finished", || async {
        let rows: Vec<(i64, String, i32, f64)> = sqlx::query_as(
            "SELECT target_id, status, attempts,
                    EXTRACT(EPOCH FROM (COALESCE(delivered_at, updated_at) - created_at))::float8
               FROM notification_deliveries ORDER BY target_id",
        )
        .fetch_all(&app.db)
        .await
        .unwrap();
        (rows.len() == 8 && rows.iter().all(|r| r.1 == "delivered" || r.1 == "failed")).then_some(rows)
    })
    .await;
    let custom_id = ids[7];
    let telegram_id = ids[3];
    for (target, status, attempts, took) in &rows {
        if *target == custom_id {
            assert_eq!((status.as_str(), *attempts), ("failed", 4), "{rows:?}");
        } else if *target == telegram_id {
            assert_eq!((status.as_str(), *attempts), ("delivered", 1), "{rows:?}");
            assert!(*took >= 4.9, "the throttled target waited as asked: {rows:?}");
        } else {
            assert_eq!((status.as_str(), *attempts), ("delivered", 1), "{rows:?}");
        }
    }
    for (name, receiver, requests) in [
        ("wecom", &wecom, 1),
        ("feishu", &feishu, 1),
        ("dingtalk", &dingtalk, 1),
        ("telegram", &telegram, 2),
        ("slack", &slack, 1),
        ("discord", &discord, 1),
        ("webhook", &webhook, 1),
        ("custom", &custom, 4),
    ] {
        assert_eq!(receiver.received().len(), requests, "{name}");
    }
    // None waited for another: each arrived before the throttled target's second request (5 s
    // after its first) and the failing target's last attempt (1 + 2 + 4 s after its first).
    let (telegram_again, custom_last) = (telegram.received()[1].at, custom.received()[3].at);
    for (name, receiver) in [
        ("wecom", &wecom),
        ("feishu", &feishu),
        ("dingtalk", &dingtalk),
        ("slack", &slack),
        ("discord", &discord),
        ("webhook", &webhook),
    ] {
        let arrived = receiver.received()[0].at;
        assert!(
            arrived < telegram_again && arrived < custom_last,
            "{name} waited for another"
        );
    }
    assert_eq!(custom.received()[0].body["provider"], "Anthropic 官方");
    assert_eq!(webhook.received()[0].body["type"], "circuitBreaker.opened");

    // No secret anywhere a person or a dump sees.
    let mut seen = vec![("the server's log", server.log_text())];
    assert!(seen[0].1.contains("delivered"), "the log is read: {}", seen[0].1);
    for path in [
        TARGETS,
        "/api/v1/notifications/deliveries",
        "/api/v1/notifications/settings",
    ] {
        let (_, answer) = app.admin_call(Method::GET, path, None).await;
        seen.push(("an answer", answer.to_string()));
    }
    let dump = tokio::process::Command::new("pg_dump")
        .arg("--data-only")
        .arg(app.state.config.database.url.expose())
        .output()
        .await
        .expect("pg_dump (postgresql-client) is installed");
    assert!(dump.status.success());
    seen.push(("the database dump", String::from_utf8(dump.stdout).unwrap()));
    for (place, text) in &seen {
        for secret in &secrets {
            assert!(!text.contains(secret.as_str()), "{secret} is in {place}");
        }
    }
}
