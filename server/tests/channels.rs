//! Native channels end to end, against local receivers that answer and verify as the platforms
//! do (signatures recomputed in `common::receiver`, independently of the server's code): Feishu
//! and DingTalk with and without signing secrets, secrets write-only, a throttled platform
//! waited out as it asks.
#![allow(clippy::unwrap_used)] // a panic is the test's failure report

mod common;

use std::time::Duration;

use common::receiver::{Answer, Receiver};
use common::{eventually, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

const TARGETS: &str = "/api/v1/notifications/targets";

async fn app_for(receiver: &Receiver) -> TestApp {
    TestApp::spawn_with(&[("WEBHOOK_ALLOWLIST", &receiver.allowlist_entry())]).await
}

async fn create(app: &TestApp, body: Value) -> i64 {
    let (status, created) = app.admin_call(Method::POST, TARGETS, Some(&body)).await;
    assert_eq!(status, 201, "{created}");
    created["id"].as_i64().unwrap()
}

async fn test_target(app: &TestApp, id: i64, kind: &str) -> (u16, Value) {
    app.admin_call(
        Method::POST,
        &format!("{TARGETS}/{id}/test"),
        Some(&json!({"type": kind})),
    )
    .await
}

#[tokio::test]
async fn feishu_gets_a_signed_card_and_says_when_the_sign_is_wrong() {
    let receiver = Receiver::start(Answer::Feishu {
        secret: Some("SECfeishu-right"),
    })
    .await;
    let app = app_for(&receiver).await;
    let hook = format!(
        "http://{}/open-apis/bot/v2/hook/0f1e-token-9a8b",
        receiver.allowlist_entry()
    );
    let id = create(
        &app,
        json!({"name": "飞书告警群", "channel": "feishu", "webhookUrl": hook, "secret": "SECfeishu-right"}),
    )
    .await;

    let (status, answer) = test_target(&app, id, "circuitBreaker").await;
    assert_eq!(status, 200, "{answer}");
    let card = &receiver.received()[0].body;
    assert_eq!(card["msg_type"], "interactive");
    assert_eq!(card["card"]["header"]["title"]["content"], "供应商熔断告警");
    assert_eq!(card["card"]["header"]["template"], "red");
    assert!(card["sign"].is_string() && card["timestamp"].is_string(), "{card}");

    // The secret is write-only: shown as set, never returned, kept by an edit without it.
    let (_, shown) = app.admin_call(Method::GET, &format!("{TARGETS}/{id}"), None).await;
    assert_eq!(shown["hasSecret"], true);
    assert!(!shown.to_string().contains("SECfeishu-right"), "{shown}");
    let (status, _) = app
        .admin_call(
            Method::PUT,
            &format!("{TARGETS}/{id}"),
            Some(&json!({"name": "飞书告警群 2"})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        test_target(&app, id, "costAlert").await.0,
        200,
        "the kept secret still signs"
    );

    // A wrong secret: Feishu's own code, and the reason.
    let (status, _) = app
        .admin_call(
            Method::PUT,
            &format!("{TARGETS}/{id}"),
            Some(&json!({"name": "飞书告警群", "secret": "SECwrong"})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, answer) = test_target(&app, id, "dailyLeaderboard").await;
    assert_eq!(status, 502, "{answer}");
    assert_eq!(answer["reason"], "errcode");
    let error = answer["error"].as_str().unwrap();
    assert!(error.starts_with("errcode 19021"), "{error}");
    assert!(
        !error.contains("0f1e-token-9a8b") && !error.contains("SECwrong"),
        "{error}"
    );

    // Without a secret, a bot that checks signatures refuses.
    let (status, _) = app
        .admin_call(
            Method::PUT,
            &format!("{TARGETS}/{id}"),
            Some(&json!({"name": "飞书告警群", "secret": ""})),
        )
        .await;
    assert_eq!(status, 200);
    let (_, shown) = app.admin_call(Method::GET, &format!("{TARGETS}/{id}"), None).await;
    assert_eq!(shown["hasSecret"], false);
    assert_eq!(test_target(&app, id, "costAlert").await.0, 502);
}

#[tokio::test]
async fn dingtalk_gets_signed_markdown_through_the_delivery_path() {
    let receiver = Receiver::start(Answer::DingTalk {
        secret: Some("SECdingtalk0123456789"),
    })
    .await;
    let app = app_for(&receiver).await;
    let robot = format!(
        "http://{}/robot/send?access_token=ding-token-4242",
        receiver.allowlist_entry()
    );
    let id = create(
        &app,
        json!({"name": "钉钉财务群", "channel": "dingtalk", "webhookUrl": robot, "secret": "SECdingtalk0123456789"}),
    )
    .await;
    app.save_settings(&json!({
        "enabled": true,
        "circuitBreaker": {"enabled": false, "webhookUrl": null},
        "dailyLeaderboard": {"enabled": true, "webhookUrl": null, "targetIds": [id], "time": "09:00", "topN": 5},
        "costAlert": {"enabled": false, "webhookUrl": null, "thresholdPercent": 80, "checkIntervalMinutes": 60}
    }))
    .await;
    let _engine = app.start_engine();
    let (status, report) = app
        .admin_call(Method::POST, "/api/v1/notifications/run/dailyLeaderboard", None)
        .await;
    assert_eq!(status, 200, "{report}");
    let row = report["deliveries"][0].as_i64().unwrap();
    let status: String = eventually(Duration::from_secs(10), "the leaderboard to be delivered", || async {
        let status: String = sqlx::query_scalar("SELECT status FROM notification_deliveries WHERE id = $1")
            .bind(row)
            .fetch_one(&app.db)
            .await
            .unwrap();
        (status != "pending" && status != "sending").then_some(status)
    })
    .await;
    assert_eq!(status, "delivered");
    let received = receiver.received();
    assert_eq!(received.len(), 1);
    assert!(received[0].path_and_query.contains("&timestamp=") && received[0].path_and_query.contains("&sign="));
    assert_eq!(received[0].body["markdown"]["title"], "今日用户消费排行榜");

    // A wrong secret: DingTalk's code, the token and the secret masked.
    let (status, _) = app
        .admin_call(
            Method::PUT,
            &format!("{TARGETS}/{id}"),
            Some(&json!({"name": "钉钉财务群", "secret": "SECnot-this-one"})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, answer) = test_target(&app, id, "costAlert").await;
    assert_eq!(status, 502, "{answer}");
    let error = answer["error"].as_str().unwrap();
    assert!(error.starts_with("errcode 310000"), "{error}");
    assert!(
        !error.contains("ding-token-4242") && !error.contains("SECnot-this-one"),
        "{error}"
    );
}

#[tokio::test]
async fn a_throttled_target_waits_as_the_platform_asks_and_then_delivers() {
    let receiver = Receiver::start(Answer::ThrottleFirst(2)).await;
    let app = app_for(&receiver).await;
    let target = app.wecom_target(&receiver.url()).await;
    let _engine = app.start_engine();
    let raised = app
        .state
        .deliveries
        .raise(&server::delivery::outbox::NewDelivery {
            kind: app::notifications::NotificationKind::CircuitBreaker,
            target,
            message: server::channels::message::Message::plain(
                server::channels::message::Event::CircuitBreakerOpened,
                &[],
                chrono::Utc::now().fixed_offset(),
            ),
            dedup_key: "throttled".into(),
        })
        .await
        .unwrap();
    let server::delivery::engine::Raised::Queued(id) = raised else {
        panic!("{raised:?}")
    };
    let (attempts, error): (i32, Option<String>) = eventually(Duration::from_secs(15), "delivered", || async {
        let row = app.delivery_row(id).await;
        (row.0 == "delivered").then_some((row.1, row.2))
    })
    .await;
    let received = receiver.received();
    assert_eq!(received.len(), 2, "one throttled request, one delivered");
    let waited = received[1].at - received[0].at;
    assert!(waited >= Duration::from_secs(2), "waited {waited:?}, not the 1 s retry");
    assert_eq!(attempts, 1, "the throttled request spent no attempt");
    assert_eq!(error, None);
}

#[tokio::test]
async fn slack_and_discord_get_their_own_shapes_within_their_limits() {
    for (answer, channel, path) in [
        (Answer::Slack, "slack", "/services/T000/B000/slack-secret-token"),
        (Answer::Discord, "discord", "/api/webhooks/1234/discord-secret-token"),
    ] {
        let receiver = Receiver::start(answer).await;
        let app = app_for(&receiver).await;
        let url = format!("http://{}{path}", receiver.allowlist_entry());
        let id = create(&app, json!({"name": channel, "channel": channel, "webhookUrl": url})).await;
        for kind in ["circuitBreaker", "dailyLeaderboard", "costAlert"] {
            let (status, answer) = test_target(&app, id, kind).await;
            assert_eq!(status, 200, "{channel} {kind}: {answer}");
        }
        let first = &receiver.received()[0].body;
        match channel {
            "slack" => {
                assert_eq!(first["blocks"][0]["text"]["text"], "供应商熔断告警");
                assert!(first["text"].as_str().unwrap().contains("*Anthropic 官方*"), "{first}");
            }
            _ => {
                assert_eq!(first["embeds"][0]["title"], "供应商熔断告警");
                assert_eq!(first["allowed_mentions"], json!({"parse": []}));
            }
        }
        // What the platform says back about a refused body never shows the URL's token.
        receiver.set_answer(Answer::EchoInBody(404));
        let (status, answer) = test_target(&app, id, "costAlert").await;
        assert_eq!(status, 502, "{answer}");
        assert!(!answer["error"].as_str().unwrap().contains("secret-token"), "{answer}");
    }
}

const BOT_TOKEN: &str = "123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";
const CHAT: i64 = -1_001_234_567_890;

#[tokio::test]
async fn telegram_gets_html_on_its_own_bot_api_server_and_waits_when_told() {
    let receiver = Receiver::start(Answer::Telegram {
        token: BOT_TOKEN,
        chat: CHAT,
        throttle_first: None,
    })
    .await;
    let app = app_for(&receiver).await;
    let base = format!("http://{}", receiver.allowlist_entry());
    let id = create(
        &app,
        json!({"name": "TG 值班", "channel": "telegram", "botToken": BOT_TOKEN, "chatId": CHAT.to_string(), "apiBaseUrl": base}),
    )
    .await;
    let (status, answer) = test_target(&app, id, "circuitBreaker").await;
    assert_eq!(status, 200, "{answer}");
    let sent = &receiver.received()[0];
    assert_eq!(sent.path_and_query, format!("/bot{BOT_TOKEN}/sendMessage"));
    assert!(
        sent.body["text"]
            .as_str()
            .unwrap()
            .starts_with("<b>供应商熔断告警</b>\n<blockquote>"),
        "{}",
        sent.body
    );
    assert_eq!(sent.body["disable_web_page_preview"], true);

    let (_, shown) = app.admin_call(Method::GET, &format!("{TARGETS}/{id}"), None).await;
    assert_eq!(
        (shown["hasBotToken"].as_bool(), shown["endpoint"].as_str()),
        (Some(true), Some(base.as_str()))
    );
    assert!(
        !shown.to_string().contains("AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"),
        "{shown}"
    );

    // Another chat: Telegram's words, the token nowhere; an edit without the token keeps it.
    let (status, _) = app
        .admin_call(
            Method::PUT,
            &format!("{TARGETS}/{id}"),
            Some(&json!({"name": "TG 值班", "chatId": "-1009", "apiBaseUrl": base})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, answer) = test_target(&app, id, "costAlert").await;
    assert_eq!(status, 502, "{answer}");
    let error = answer["error"].as_str().unwrap();
    assert!(
        error.contains("chat not found") && !error.contains("AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"),
        "{error}"
    );

    // Throttled with `parameters.retry_after` only: the delivery waits that long, then delivers.
    receiver.set_answer(Answer::Telegram {
        token: BOT_TOKEN,
        chat: CHAT,
        throttle_first: Some(2),
    });
    let (status, _) = app
        .admin_call(
            Method::PUT,
            &format!("{TARGETS}/{id}"),
            Some(&json!({"name": "TG 值班", "chatId": CHAT.to_string(), "apiBaseUrl": base})),
        )
        .await;
    assert_eq!(status, 200);
    let _engine = app.start_engine();
    let raised = app
        .state
        .deliveries
        .raise(&server::delivery::outbox::NewDelivery {
            kind: app::notifications::NotificationKind::CostAlert,
            target: server::channels::targets::TargetRef {
                id,
                endpoint_host: base.clone(),
            },
            message: {
                use server::channels::blocks::{Block, Inline};
                server::channels::message::Message::of_blocks(
                    server::channels::message::Event::CostAlert,
                    vec![Block::quote(vec![
                        Inline::text("用户 "),
                        Inline::bold("节流测试"),
                        Inline::text(" 的消费已达到预警阈值"),
                    ])],
                    Vec::new(),
                    chrono::Utc::now().fixed_offset(),
                )
            },
            dedup_key: "tg-throttled".into(),
        })
        .await
        .unwrap();
    let server::delivery::engine::Raised::Queued(row) = raised else {
        panic!("{raised:?}")
    };
    let (status, attempts, _) = eventually(Duration::from_secs(15), "delivered", || async {
        let row = app.delivery_row(row).await;
        (row.0 == "delivered").then_some(row)
    })
    .await;
    assert_eq!((status.as_str(), attempts), ("delivered", 1));
    let tries: Vec<_> = receiver
        .received()
        .into_iter()
        .filter(|r| {
            r.body["text"]
                .as_str()
                .is_some_and(|t| t.starts_with("<b>成本预警提醒</b>\n<blockquote>用户 <b>节流测试</b>"))
        })
        .collect();
    assert_eq!(tries.len(), 2);
    assert!(
        tries[1].at - tries[0].at >= Duration::from_secs(2),
        "waited as Telegram asked"
    );
}

/// Raises one notification of `kind` to target `id` through the delivery path; the row's id.
async fn raise(app: &TestApp, id: i64, kind: app::notifications::NotificationKind, key: &str) -> i64 {
    let mut message =
        server::notifications::samples::sample(kind, chrono::Utc::now().with_timezone(&chrono_tz::Asia::Shanghai));
    message.test = false;
    let raised = app
        .state
        .deliveries
        .raise_to_each(
            kind,
            &message,
            key,
            &[server::channels::targets::TargetRef {
                id,
                endpoint_host: "(test)".into(),
            }],
        )
        .await
        .unwrap();
    match raised[0] {
        server::delivery::engine::Raised::Queued(row) => row,
        other => panic!("{other:?}"),
    }
}

async fn delivered(app: &TestApp, row: i64, within: Duration) -> (i32, Option<String>) {
    eventually(within, "delivered", || async {
        let r = app.delivery_row(row).await;
        (r.0 == "delivered").then_some((r.1, r.2))
    })
    .await
}

#[tokio::test]
async fn a_signed_webhook_event_verifies_with_an_independent_standard_webhooks_library() {
    let receiver = Receiver::start(Answer::Status(500)).await;
    let app = app_for(&receiver).await;
    let url = format!(
        "http://{}/hooks/hub-notify?token=hook-secret-token",
        receiver.allowlist_entry()
    );
    // No secret given: one is generated and shown in this answer only.
    let (status, created) = app
        .admin_call(
            Method::POST,
            TARGETS,
            Some(&json!({"name": "内部告警服务", "channel": "webhook", "webhookUrl": url})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_i64().unwrap();
    let secret = created["generatedSecret"].as_str().unwrap().to_owned();
    assert!(
        secret.starts_with("whsec_") && created["hasSecret"] == true,
        "{created}"
    );
    let (_, shown) = app.admin_call(Method::GET, &format!("{TARGETS}/{id}"), None).await;
    assert!(
        shown.get("generatedSecret").is_none() && !shown.to_string().contains(&secret[6..]),
        "{shown}"
    );
    receiver.set_answer(Answer::StandardWebhook { secret: secret.clone() });

    let (status, answer) = test_target(&app, id, "costAlert").await;
    assert_eq!(status, 200, "{answer}");
    let event = &receiver.received()[0];
    assert_eq!(event.body["type"], "costAlert.triggered");
    assert_eq!(event.body["version"], 1);
    assert_eq!(event.body["test"], true, "a target test says so");
    assert_eq!(event.body["data"]["alerts"][0]["name"], "张三");
    assert_eq!(event.body["data"]["alerts"][0]["usagePercent"], 85.0);
    assert_eq!(event.body["title"], "成本预警提醒");
    assert!(event.body["markdown"].as_str().unwrap().starts_with("## 成本预警提醒"));
    assert_eq!(
        event.headers["webhook-id"].to_str().unwrap(),
        event.body["id"].as_str().unwrap()
    );

    // A real delivery keeps one message id across its retries, and a wrong secret is refused by
    // the receiver's verification.
    receiver.set_answer(Answer::StandardWebhook {
        secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
    });
    let _engine = app.start_engine();
    let row = raise(
        &app,
        id,
        app::notifications::NotificationKind::CircuitBreaker,
        "signed-1",
    )
    .await;
    eventually(Duration::from_secs(10), "a retry", || async {
        (receiver.received().len() >= 3).then_some(())
    })
    .await;
    receiver.set_answer(Answer::StandardWebhook { secret });
    let (attempts, _) = delivered(&app, row, Duration::from_secs(15)).await;
    assert!(attempts >= 2, "{attempts}");
    let sent: Vec<_> = receiver.received().into_iter().skip(1).collect();
    let ids: std::collections::HashSet<_> = sent.iter().map(|r| r.headers["webhook-id"].clone()).collect();
    assert_eq!(ids.len(), 1, "one id for every attempt of one delivery");
    assert_eq!(sent[0].body["type"], "circuitBreaker.opened");
    assert_eq!(sent[0].body["test"], false);

    // Secrets of the webhook channel: a malformed one is refused by name.
    let (status, answer) = app
        .admin_call(
            Method::PUT,
            &format!("{TARGETS}/{id}"),
            Some(&json!({"name": "内部告警服务", "secret": "whsec_short"})),
        )
        .await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["fields"]["secret"].as_str().unwrap().contains("whsec_"),
        "{answer}"
    );
}

#[tokio::test]
async fn a_custom_template_is_filled_in_and_its_headers_stay_write_only() {
    let receiver = Receiver::start(Answer::WithHeader {
        name: "authorization",
        value: "Bearer custom-header-secret",
    })
    .await;
    let app = app_for(&receiver).await;
    let url = format!("http://{}/notify", receiver.allowlist_entry());
    let template = json!({
        "event": "{{type}}",
        "summary": "{{title}} · {{providerName}} 失败 {{failureCount}} 次",
        "failures": "{{failureCount}}",
        "detail": {"text": "{{text}}", "rows": "{{entries}}"},
        "fixed": [1, true, null]
    });
    // Unknown placeholders and reserved headers are refused by name, nothing saved.
    let (status, answer) = app
        .admin_call(
            Method::POST,
            TARGETS,
            Some(&json!({"name": "自建", "channel": "custom", "webhookUrl": url,
                "template": {"a": "{{apiKey}}"}, "headers": {"Host": "evil"}})),
        )
        .await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["fields"]["template"].as_str().unwrap().contains("{{apiKey}}"),
        "{answer}"
    );
    assert!(answer["fields"]["headers.Host"].is_string(), "{answer}");
    let (_, all) = app.admin_call(Method::GET, TARGETS, None).await;
    assert_eq!(all, json!([]));

    let id = create(
        &app,
        json!({"name": "自建", "channel": "custom", "webhookUrl": url, "template": template,
            "headers": {"Authorization": "Bearer custom-header-secret", "X-Team": "ops"}}),
    )
    .await;
    let (status, answer) = test_target(&app, id, "circuitBreaker").await;
    assert_eq!(status, 200, "{answer}");
    let body = &receiver.received()[0].body;
    assert_eq!(body["event"], "circuitBreaker.opened");
    assert_eq!(body["summary"], "供应商熔断告警 · Anthropic 官方 失败 5 次");
    assert_eq!(body["failures"], 5, "a whole placeholder keeps its number");
    assert_eq!(body["detail"]["rows"], Value::Null, "a field the kind lacks is null");
    assert!(body["detail"]["text"]
        .as_str()
        .unwrap()
        .contains("最后错误: rate_limit_exceeded"));
    assert_eq!(body["fixed"], json!([1, true, null]));

    // Header values are write-only: names shown, values never; an edit with `null` keeps one.
    let (_, shown) = app.admin_call(Method::GET, &format!("{TARGETS}/{id}"), None).await;
    assert_eq!(shown["headerNames"], json!(["Authorization", "X-Team"]));
    assert!(!shown.to_string().contains("custom-header-secret"), "{shown}");
    let (status, _) = app
        .admin_call(
            Method::PUT,
            &format!("{TARGETS}/{id}"),
            Some(&json!({"name": "自建", "headers": {"Authorization": null}})),
        )
        .await;
    assert_eq!(status, 200);
    let (_, shown) = app.admin_call(Method::GET, &format!("{TARGETS}/{id}"), None).await;
    assert_eq!(shown["headerNames"], json!(["Authorization"]), "X-Team removed");
    assert_eq!(
        test_target(&app, id, "dailyLeaderboard").await.0,
        200,
        "the kept value still sends"
    );
    let board = &receiver.received()[1].body;
    assert_eq!(board["detail"]["rows"][0]["userName"], "张三");

    // A receiver answering in WeCom's mould with a non-zero errcode fails the send; what it
    // says is masked of the header's value.
    receiver.set_answer(Answer::ErrCode(40001, "bad token Bearer custom-header-secret"));
    let (status, answer) = test_target(&app, id, "costAlert").await;
    assert_eq!(status, 502, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().starts_with("errcode 40001"),
        "{answer}"
    );
    assert!(!answer.to_string().contains("custom-header-secret"), "{answer}");
}

#[tokio::test]
async fn discord_rests_as_its_rate_limit_headers_say_instead_of_meeting_a_429() {
    let receiver = Receiver::start(Answer::DiscordBucket { reset_after: 2.0 }).await;
    let app = app_for(&receiver).await;
    let url = format!("http://{}/api/webhooks/1/bucket-token", receiver.allowlist_entry());
    let id = create(
        &app,
        json!({"name": "Discord", "channel": "discord", "webhookUrl": url}),
    )
    .await;
    let _engine = app.start_engine();
    let first = raise(
        &app,
        id,
        app::notifications::NotificationKind::CircuitBreaker,
        "bucket-1",
    )
    .await;
    delivered(&app, first, Duration::from_secs(10)).await;
    let second = raise(&app, id, app::notifications::NotificationKind::CostAlert, "bucket-2").await;
    let (attempts, _) = delivered(&app, second, Duration::from_secs(10)).await;
    let received = receiver.received();
    assert_eq!(received.len(), 2, "no request met a 429");
    let gap = received[1].at - received[0].at;
    assert!(gap >= Duration::from_millis(1900), "rested only {gap:?}");
    assert_eq!(attempts, 1);
}

#[tokio::test]
async fn a_targets_own_send_budget_holds_back_the_second_message() {
    let receiver = Receiver::start(Answer::Slack).await;
    let app = app_for(&receiver).await;
    let url = format!("http://{}/services/T/B/budget-token", receiver.allowlist_entry());
    let id = create(
        &app,
        json!({"name": "Slack", "channel": "slack", "webhookUrl": url, "rateLimit": {"sends": 1, "perSeconds": 3}}),
    )
    .await;
    let (_, shown) = app.admin_call(Method::GET, &format!("{TARGETS}/{id}"), None).await;
    assert_eq!(shown["rateLimit"], json!({"sends": 1, "perSeconds": 3}));
    // The tests run with WEBHOOK_RATE_LIMIT=off: the target's own budget holds all the same.
    assert_eq!(shown["defaultRateLimit"], Value::Null);
    let _engine = app.start_engine();
    let a = raise(
        &app,
        id,
        app::notifications::NotificationKind::CircuitBreaker,
        "budget-1",
    )
    .await;
    let b = raise(&app, id, app::notifications::NotificationKind::CostAlert, "budget-2").await;
    delivered(&app, a, Duration::from_secs(10)).await;
    let (attempts, _) = delivered(&app, b, Duration::from_secs(10)).await;
    let received = receiver.received();
    assert_eq!(received.len(), 2);
    let gap = received[1].at - received[0].at;
    assert!(gap >= Duration::from_millis(2900), "only {gap:?} apart");
    assert_eq!(attempts, 1, "waiting for the budget spends no attempt");
}
