//! Usage ingest and the circuit breakers it drives, through the REST API, with alerts reaching a
//! real local receiver.
#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)] // a panic is the test's failure report

mod common;

use std::time::Duration;

use common::receiver::{Answer, Receiver};
use common::{eventually, TestApp, ADMIN_TOKEN, INGEST_TOKEN};
use serde_json::{json, Value};

fn event(request_id: &str, provider_id: i64, success: bool) -> Value {
    json!({
        "requestId": request_id,
        "userId": 7, "userName": "张三",
        "providerId": provider_id, "providerName": "Anthropic 官方",
        "model": "claude-sonnet-4",
        "costUsd": 0.0123,
        "inputTokens": 1000, "outputTokens": 200,
        "cacheCreationInputTokens": 10, "cacheReadInputTokens": 5,
        "success": success,
        "statusCode": if success { 200 } else { 429 },
        "error": if success { Value::Null } else { json!("rate_limit_exceeded: You have exceeded your rate limit") },
        "createdAt": chrono::Utc::now().to_rfc3339(),
    })
}

async fn post_usage(app: &TestApp, token: &str, events: Vec<Value>) -> (u16, Value) {
    let res = app
        .client()
        .post(app.url("/api/v1/usage"))
        .bearer_auth(token)
        .json(&json!({ "events": events }))
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap_or(Value::Null))
}

async fn circuit(app: &TestApp, provider_id: i64) -> Value {
    app.client()
        .get(app.url(&format!("/api/v1/providers/{provider_id}/circuit")))
        .bearer_auth(INGEST_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn text_the_database_cannot_store_is_rejected_per_event_not_per_batch() {
    let app = TestApp::spawn().await;
    // At the limit once trimmed: stored trimmed (untrimmed it would break the column's check).
    let mut padded = event("t1", 1, true);
    padded["model"] = json!(format!("{}  ", "m".repeat(200)));
    let mut nul_model = event("t2", 1, true);
    nul_model["model"] = json!("claude\u{0}sonnet");
    let mut nul_name = event("t3", 1, true);
    nul_name["userName"] = json!("张\u{0}三");
    // The upstream's error text is kept without its NUL: the outcome still counts.
    let mut nul_error = event("t4", 1, false);
    nul_error["error"] = json!("bad\u{0}gateway");
    let (status, report) = post_usage(&app, INGEST_TOKEN, vec![padded, nul_model, nul_name, nul_error]).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["accepted"], 2, "{report}");
    let rejected: Vec<(u64, String)> = report["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["index"].as_u64().unwrap(), r["reason"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(
        rejected,
        [
            (1, "model must not contain NUL characters".to_owned()),
            (2, "userName must not contain NUL characters".to_owned())
        ]
    );
    let stored: Vec<(String, String, Option<String>)> =
        sqlx::query_as("SELECT request_id, model, error_message FROM usage_records ORDER BY request_id")
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(
        stored,
        [
            ("t1".to_owned(), "m".repeat(200), None),
            (
                "t4".to_owned(),
                "claude-sonnet-4".to_owned(),
                Some("badgateway".to_owned())
            )
        ]
    );
}

#[tokio::test]
async fn a_batch_keeps_its_valid_events_and_names_the_invalid_ones() {
    let app = TestApp::spawn().await;
    let mut bad_cost = event("r3", 1, true);
    bad_cost["costUsd"] = json!(-1);
    let mut no_user = event("r4", 1, true);
    no_user.as_object_mut().unwrap().remove("userId");
    // Ids from 10^12 on are Hub Notify's own, for the users of other sources.
    let ours = event("r5", 1_000_000_000_000, true);
    let (status, report) = post_usage(
        &app,
        INGEST_TOKEN,
        vec![
            event("r1", 1, true),
            event("r2", 1, false),
            bad_cost,
            no_user,
            event("r1", 1, true),
            ours,
        ],
    )
    .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["accepted"], 2);
    assert_eq!(report["duplicates"], 1);
    let rejected = report["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 3);
    assert_eq!(
        rejected[2]["reason"],
        "userId and providerId must be below 1000000000000"
    );
    assert_eq!(
        (rejected[0]["index"].as_u64(), rejected[0]["requestId"].as_str()),
        (Some(2), Some("r3"))
    );
    assert!(rejected[0]["reason"].as_str().unwrap().contains("costUsd"), "{report}");
    assert_eq!(rejected[1]["index"], 3);
    assert!(rejected[1]["reason"].as_str().unwrap().contains("userId"), "{report}");

    // Sent again: nothing new, nothing counted twice.
    let (_, again) = post_usage(&app, INGEST_TOKEN, vec![event("r1", 1, true), event("r2", 1, false)]).await;
    assert_eq!(
        (again["accepted"].as_u64(), again["duplicates"].as_u64()),
        (Some(0), Some(2))
    );

    let (requests, cost, tokens): (i64, rust_decimal::Decimal, i64) =
        sqlx::query_as("SELECT sum(requests)::bigint, sum(cost_usd), sum(tokens)::bigint FROM usage_user_buckets")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(
        (requests, cost.to_string().trim_end_matches('0'), tokens),
        (2, "0.0246", 2 * 1215)
    );
    let names: (String, String) =
        sqlx::query_as("SELECT u.name, p.name FROM users u, providers p WHERE u.id = 7 AND p.id = 1")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(names, ("张三".to_owned(), "Anthropic 官方".to_owned()));
}

#[tokio::test]
async fn only_the_ingest_token_may_report_usage() {
    let app = TestApp::spawn().await;
    let (status, _) = post_usage(&app, ADMIN_TOKEN, vec![event("x", 1, true)]).await;
    assert_eq!(status, 403);
    let (status, _) = post_usage(&app, "wrong-token-wrong-token", vec![event("x", 1, true)]).await;
    assert_eq!(status, 401);
    let res = app
        .client()
        .post(app.url("/api/v1/usage"))
        .bearer_auth(INGEST_TOKEN)
        .body("nope")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let key = app.create_user(9, "普通用户").await;
    let res = app
        .client()
        .get(app.url("/api/v1/providers/1/circuit"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let res = app
        .client()
        .get(app.url("/api/v1/providers/1/circuit"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn consecutive_failures_open_the_circuit_and_alert_once() {
    let receiver = Receiver::start(Answer::Ok).await;
    let app = TestApp::spawn_with(&[("WEBHOOK_ALLOWLIST", &receiver.allowlist_entry())]).await;
    let _engine = app.start_engine();
    app.enable_breaker_alerts(&receiver.url()).await;

    // Four failures, then a success: the count starts again.
    let mut events: Vec<Value> = (0..4).map(|i| event(&format!("a{i}"), 1, false)).collect();
    events.push(event("a-ok", 1, true));
    post_usage(&app, INGEST_TOKEN, events).await;
    assert_eq!(circuit(&app, 1).await["state"], "CLOSED");

    let events: Vec<Value> = (0..5).map(|i| event(&format!("b{i}"), 1, false)).collect();
    post_usage(&app, INGEST_TOKEN, events).await;
    let status = circuit(&app, 1).await;
    assert_eq!(status["state"], "OPEN", "{status}");
    assert_eq!(status["consecutiveFailures"], 5);
    assert!(status["openUntil"].is_string());

    let alert = eventually(Duration::from_secs(10), "the breaker alert", || async {
        receiver.received().first().cloned()
    })
    .await;
    let content = alert.body["markdown"]["content"].as_str().unwrap().to_owned();
    assert!(
        content.starts_with("## 供应商熔断告警\n> 供应商 **Anthropic 官方** (ID: 1) 已触发熔断保护"),
        "{content}"
    );
    assert!(content.contains("失败次数: 5 次"), "{content}");
    assert!(
        content.contains("最后错误: `rate_limit_exceeded: You have exceeded your rate limit`"),
        "{content}"
    );
    // Times in APP_TIMEZONE (Asia/Shanghai here): 预计恢复 is the circuit's openUntil, the
    // footer the time of sending.
    let shanghai = |t: chrono::DateTime<chrono::Utc>| {
        t.with_timezone(&chrono_tz::Asia::Shanghai)
            .format("%Y-%m-%d %H:%M:%S")
            .to_string()
    };
    let open_until: chrono::DateTime<chrono::Utc> = status["openUntil"].as_str().unwrap().parse().unwrap();
    assert!(
        content.contains(&format!("\n预计恢复: {}\n", shanghai(open_until))),
        "{content}"
    );
    let footer = content.lines().last().unwrap();
    let (sent, rest) = footer.split_once(" · ").unwrap();
    assert_eq!(rest, "熔断器将在预计时间后自动恢复");
    let sent = chrono::NaiveDateTime::parse_from_str(sent, "%Y-%m-%d %H:%M:%S").unwrap();
    let now = chrono::Utc::now()
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .naive_local();
    assert!(
        (now - sent).num_seconds().abs() <= 10,
        "footer {sent} is not the local time {now}"
    );

    // More failures while open change nothing and alert nobody.
    post_usage(
        &app,
        INGEST_TOKEN,
        (0..5).map(|i| event(&format!("c{i}"), 1, false)).collect(),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receiver.received().len(), 1);
}

#[tokio::test]
async fn half_open_recovers_or_reopens_and_the_cooldown_holds_repeats() {
    let receiver = Receiver::start(Answer::Ok).await;
    let app = TestApp::spawn_with(&[("WEBHOOK_ALLOWLIST", &receiver.allowlist_entry())]).await;
    let _engine = app.start_engine();
    app.enable_breaker_alerts(&receiver.url()).await;
    post_usage(&app, INGEST_TOKEN, vec![event("seed", 2, true)]).await;
    sqlx::query("UPDATE providers SET breaker_failure_threshold = 2, breaker_open_duration_ms = 1000 WHERE id = 2")
        .execute(&app.db)
        .await
        .unwrap();

    post_usage(&app, INGEST_TOKEN, vec![event("f1", 2, false), event("f2", 2, false)]).await;
    assert_eq!(circuit(&app, 2).await["state"], "OPEN");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(circuit(&app, 2).await["state"], "HALF_OPEN", "after the open duration");
    // A failure in HALF_OPEN opens again — within the cooldown, so without a second alert.
    post_usage(&app, INGEST_TOKEN, vec![event("f3", 2, false)]).await;
    assert_eq!(circuit(&app, 2).await["state"], "OPEN");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // Two successes (the default half-open threshold) close it, with a recovery message.
    post_usage(&app, INGEST_TOKEN, vec![event("s1", 2, true)]).await;
    assert_eq!(circuit(&app, 2).await["state"], "HALF_OPEN");
    post_usage(&app, INGEST_TOKEN, vec![event("s2", 2, true)]).await;
    assert_eq!(circuit(&app, 2).await["state"], "CLOSED");

    let messages = eventually(Duration::from_secs(10), "the alert and the recovery", || async {
        let got = receiver.received();
        (got.len() >= 2).then_some(got)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.received().len(), 2, "one alert (cooldown), one recovery");
    let contents: Vec<&str> = messages
        .iter()
        .map(|m| m.body["markdown"]["content"].as_str().unwrap())
        .collect();
    assert!(contents[0].starts_with("## 供应商熔断告警"), "{}", contents[0]);
    assert!(contents[1].contains("已恢复"), "{}", contents[1]);
}

#[tokio::test]
async fn a_reopening_after_the_cooldown_alerts_again_with_the_half_open_failures() {
    let receiver = Receiver::start(Answer::Ok).await;
    let app = TestApp::spawn_with(&[
        ("WEBHOOK_ALLOWLIST", &receiver.allowlist_entry()),
        ("BREAKER_ALERT_COOLDOWN_SECS", "1"),
    ])
    .await;
    let _engine = app.start_engine();
    app.enable_breaker_alerts(&receiver.url()).await;
    post_usage(&app, INGEST_TOKEN, vec![event("seed", 5, true)]).await;
    sqlx::query("UPDATE providers SET breaker_failure_threshold = 3, breaker_open_duration_ms = 1500 WHERE id = 5")
        .execute(&app.db)
        .await
        .unwrap();

    post_usage(
        &app,
        INGEST_TOKEN,
        (0..3).map(|i| event(&format!("o{i}"), 5, false)).collect(),
    )
    .await;
    assert_eq!(circuit(&app, 5).await["state"], "OPEN");
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let half_open = circuit(&app, 5).await;
    assert_eq!(half_open["state"], "HALF_OPEN");
    assert_eq!(
        half_open["consecutiveFailures"], 0,
        "the trial starts with a clean count"
    );
    // The cooldown (1 s) is over: the reopening is alerted, counting the trial's one failure.
    post_usage(&app, INGEST_TOKEN, vec![event("trial", 5, false)]).await;
    assert_eq!(circuit(&app, 5).await["state"], "OPEN");

    let alerts = eventually(Duration::from_secs(10), "two alerts", || async {
        let got = receiver.received();
        (got.len() >= 2).then_some(got)
    })
    .await;
    let contents: Vec<&str> = alerts
        .iter()
        .map(|m| m.body["markdown"]["content"].as_str().unwrap())
        .collect();
    assert!(contents[0].contains("失败次数: 3 次"), "{}", contents[0]);
    assert!(contents[1].starts_with("## 供应商熔断告警"), "{}", contents[1]);
    assert!(contents[1].contains("失败次数: 1 次"), "{}", contents[1]);
}

#[tokio::test]
async fn two_instances_racing_on_one_provider_send_one_alert() {
    let receiver = Receiver::start(Answer::Ok).await;
    // No cooldown: one alert must come from the transition happening once, not from the
    // cooldown hiding a second one.
    let app = TestApp::spawn_with(&[
        ("WEBHOOK_ALLOWLIST", &receiver.allowlist_entry()),
        ("BREAKER_ALERT_COOLDOWN_SECS", "0"),
    ])
    .await;
    let twin = app.twin().await;
    let _engines = (app.start_engine(), twin.start_engine());
    app.enable_breaker_alerts(&receiver.url()).await;

    let mut posts = tokio::task::JoinSet::new();
    for round in 0..10 {
        for (n, base) in [app.base.clone(), twin.base.clone()].into_iter().enumerate() {
            let events: Vec<Value> = (0..3)
                .map(|i| event(&format!("race-{round}-{n}-{i}"), 3, false))
                .collect();
            posts.spawn(async move {
                reqwest::Client::new()
                    .post(format!("{base}/api/v1/usage"))
                    .bearer_auth(INGEST_TOKEN)
                    .json(&json!({ "events": events }))
                    .send()
                    .await
                    .unwrap()
                    .status()
            });
        }
    }
    while let Some(status) = posts.join_next().await {
        assert_eq!(status.unwrap(), 200);
    }
    assert_eq!(circuit(&app, 3).await["state"], "OPEN");
    eventually(Duration::from_secs(10), "an alert", || async {
        (!receiver.received().is_empty()).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receiver.received().len(), 1, "exactly one alert");
}

#[tokio::test]
async fn quotas_and_breaker_settings_are_set_by_admins_and_validated() {
    let app = TestApp::spawn().await;
    post_usage(&app, INGEST_TOKEN, vec![event("q1", 4, true)]).await;
    let client = app.client();
    let put =
        |path: &str, body: Value, token: &'static str| client.put(app.url(path)).bearer_auth(token).json(&body).send();

    let res = put(
        "/api/v1/users/7",
        json!({"limit5hUsd": 2.5, "limitDailyUsd": null, "limitWeeklyUsd": 50, "limitMonthlyUsd": 150.1234}),
        ADMIN_TOKEN,
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 200);
    let limits: (Option<rust_decimal::Decimal>, Option<rust_decimal::Decimal>) =
        sqlx::query_as("SELECT limit_5h_usd, limit_daily_usd FROM users WHERE id = 7")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(limits, (Some("2.5".parse().unwrap()), None));

    let res = put(
        "/api/v1/users/7",
        json!({"limit5hUsd": -1, "limitDailyUsd": 0, "limitWeeklyUsd": 1.23456, "limitMonthlyUsd": null}),
        ADMIN_TOKEN,
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    for field in ["limit5hUsd", "limitDailyUsd", "limitWeeklyUsd"] {
        assert!(body["fields"][field].is_string(), "{field}: {body}");
    }
    let unchanged: Option<rust_decimal::Decimal> = sqlx::query_scalar("SELECT limit_5h_usd FROM users WHERE id = 7")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(unchanged, Some("2.5".parse().unwrap()), "nothing changed");
    assert_eq!(
        put(
            "/api/v1/users/999",
            json!({"limit5hUsd": null, "limitDailyUsd": null, "limitWeeklyUsd": null, "limitMonthlyUsd": null}),
            ADMIN_TOKEN
        )
        .await
        .unwrap()
        .status(),
        404
    );

    let provider = json!({"limitWeeklyUsd": 100, "limitMonthlyUsd": null,
        "circuitBreaker": {"failureThreshold": 3, "openDurationMs": 60000, "halfOpenSuccessThreshold": 1}});
    assert_eq!(
        put("/api/v1/providers/4", provider.clone(), ADMIN_TOKEN)
            .await
            .unwrap()
            .status(),
        200
    );
    let row: (i32, i64, i32) = sqlx::query_as(
        "SELECT breaker_failure_threshold, breaker_open_duration_ms, breaker_half_open_success_threshold FROM providers WHERE id = 4",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(row, (3, 60000, 1));
    let bad = json!({"limitWeeklyUsd": null, "limitMonthlyUsd": null,
        "circuitBreaker": {"failureThreshold": 0, "openDurationMs": 999, "halfOpenSuccessThreshold": 11}});
    let res = put("/api/v1/providers/4", bad, ADMIN_TOKEN).await.unwrap();
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["fields"].as_object().unwrap().len(), 3, "{body}");
    // Wrong JSON types are field errors too, never a bare 400.
    let mistyped = json!({"limitWeeklyUsd": "100", "limitMonthlyUsd": 1e40,
        "circuitBreaker": {"failureThreshold": 1.5, "openDurationMs": 1e20}});
    let res = put("/api/v1/providers/4", mistyped, ADMIN_TOKEN).await.unwrap();
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    let fields: Vec<&str> = body["fields"].as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        fields,
        [
            "circuitBreaker.failureThreshold",
            "circuitBreaker.halfOpenSuccessThreshold",
            "circuitBreaker.openDurationMs",
            "limitMonthlyUsd",
            "limitWeeklyUsd"
        ],
        "{body}"
    );
    assert_eq!(body["fields"]["circuitBreaker.halfOpenSuccessThreshold"], "is required");
    let res = put(
        "/api/v1/users/7",
        json!({"limitDailyUsd": true, "limit5hUsd": 1e20}),
        ADMIN_TOKEN,
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert!(
        body["fields"]["limitDailyUsd"].is_string() && body["fields"]["limit5hUsd"].is_string(),
        "{body}"
    );
    let row_after: (i32, i64, i32) = sqlx::query_as(
        "SELECT breaker_failure_threshold, breaker_open_duration_ms, breaker_half_open_success_threshold FROM providers WHERE id = 4",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(row_after, (3, 60000, 1), "nothing changed");
    assert_eq!(
        put("/api/v1/providers/4", provider, INGEST_TOKEN)
            .await
            .unwrap()
            .status(),
        401
    );
}

#[tokio::test]
async fn a_new_app_timezone_recuts_the_daily_rollups() {
    let app = TestApp::spawn_with(&[("APP_TIMEZONE", "UTC")]).await;
    // 20:00 UTC yesterday: the same day in UTC, the next day in Shanghai (UTC+8).
    let at = (chrono::Utc::now() - chrono::Duration::days(1))
        .date_naive()
        .and_hms_opt(20, 0, 0)
        .unwrap()
        .and_utc();
    let mut e = event("tz1", 5, true);
    e["createdAt"] = json!(at.to_rfc3339());
    post_usage(&app, INGEST_TOKEN, vec![e]).await;
    let days = |table: &'static str| {
        let db = app.db.clone();
        async move {
            sqlx::query_scalar::<_, chrono::NaiveDate>(&format!("SELECT day FROM {table}"))
                .fetch_all(&db)
                .await
                .unwrap()
        }
    };
    assert_eq!(days("usage_user_daily").await, [at.date_naive()]);
    assert!(
        !server::usage::ingest::align_daily_rollups(&app.db, chrono_tz::UTC)
            .await
            .unwrap(),
        "same zone: nothing to do"
    );
    assert!(
        server::usage::ingest::align_daily_rollups(&app.db, chrono_tz::Asia::Shanghai)
            .await
            .unwrap()
    );
    let next = at.date_naive().succ_opt().unwrap();
    assert_eq!(days("usage_user_daily").await, [next]);
    assert_eq!(days("usage_provider_daily").await, [next]);
}

#[tokio::test]
async fn old_quarter_hours_are_pruned_and_the_rolling_window_still_adds_up() {
    let app = TestApp::spawn().await;
    let now = chrono::Utc::now();
    let mut events = Vec::new();
    for (id, hours_ago) in [("old", 26), ("recent", 1)] {
        let mut e = event(id, 6, true);
        e["createdAt"] = json!((now - chrono::Duration::hours(hours_ago)).to_rfc3339());
        events.push(e);
    }
    post_usage(&app, INGEST_TOKEN, events).await;
    let buckets = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM usage_user_buckets")
            .fetch_one(&app.db)
            .await
            .unwrap()
    };
    assert_eq!(buckets().await, 2);
    // The user's and the provider's quarter-hour of the old request (no key was named).
    assert_eq!(server::usage::ingest::prune_buckets(&app.db, now).await.unwrap(), 2);
    assert_eq!(buckets().await, 1, "the 26-hour-old quarter-hour is gone");
    let windows = server::usage::spending::Windows::at(now, chrono_tz::Asia::Shanghai);
    let spent = server::usage::spending::users(&app.db, &windows, server::usage::spending::Scope::One(7))
        .await
        .unwrap();
    assert_eq!(
        spent[0].windows[0].spent_usd,
        "0.0123".parse::<rust_decimal::Decimal>().unwrap(),
        "5 小时: the recent request only"
    );
    let days: i64 = sqlx::query_scalar("SELECT count(*) FROM usage_user_daily")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(days >= 1, "the daily rollups keep everything");
}

#[tokio::test]
async fn users_and_providers_take_the_names_the_gateway_reports() {
    let app = TestApp::spawn().await;
    post_usage(&app, INGEST_TOKEN, vec![event("n1", 11, true)]).await;
    let names = || async {
        sqlx::query_as::<_, (String, String)>(
            "SELECT u.name, p.name FROM users u, providers p WHERE u.id = 7 AND p.id = 11",
        )
        .fetch_one(&app.db)
        .await
        .unwrap()
    };
    assert_eq!(names().await, ("张三".to_owned(), "Anthropic 官方".to_owned()));
    let mut renamed = event("n2", 11, true);
    renamed["userName"] = json!("张三丰");
    renamed["providerName"] = json!("Anthropic 备用");
    post_usage(&app, INGEST_TOKEN, vec![renamed]).await;
    assert_eq!(names().await, ("张三丰".to_owned(), "Anthropic 备用".to_owned()));
}

#[tokio::test]
async fn ids_in_paths_that_cannot_exist_are_refused_in_the_json_error_shape() {
    let app = TestApp::spawn().await;
    let client = app.client();
    for (method, path) in [
        (reqwest::Method::PUT, "/api/v1/users/abc"),
        (reqwest::Method::PUT, "/api/v1/users/0"),
        (reqwest::Method::PUT, "/api/v1/providers/-1"),
        (reqwest::Method::GET, "/api/v1/providers/abc/circuit"),
        (reqwest::Method::GET, "/api/v1/providers/-1/circuit"),
        (reqwest::Method::GET, "/api/v1/providers/99999999999999999999/circuit"),
    ] {
        let res = client
            .request(method.clone(), app.url(path))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({"limitWeeklyUsd": null, "limitMonthlyUsd": null}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400, "{method} {path}");
        let body: Value = res.json().await.unwrap_or(Value::Null);
        let error = body["error"].as_str().unwrap_or_default();
        assert!(error.contains("positive integer"), "{method} {path}: {body}");
    }
    let nothing: i64 = sqlx::query_scalar("SELECT count(*) FROM providers")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(nothing, 0, "nothing was created");
}

#[tokio::test]
async fn unknown_api_paths_and_methods_answer_in_the_json_error_shape() {
    let app = TestApp::spawn().await;
    let client = app.client();
    let res = client
        .get(app.url("/api/v1/no-such-thing"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let body: Value = res.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("no such API endpoint"),
        "{body}"
    );

    let res = client
        .delete(app.url("/api/v1/users"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 405);
    let allow = res.headers().get("allow").map(|v| v.to_str().unwrap().to_owned());
    assert!(allow.as_deref().is_some_and(|a| a.contains("GET")), "{allow:?}");
    let body: Value = res.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().starts_with("method not allowed"),
        "{body}"
    );
}

#[tokio::test]
async fn a_revised_event_moves_the_rollups_from_its_old_values_to_its_new_ones() {
    use server::usage::event::UsageEvent;
    use server::usage::ingest::Repeats;
    let app = TestApp::spawn().await;
    let at = chrono::Utc::now();
    let event = |cost: &str, provider: i64| UsageEvent {
        request_id: "rev-1".into(),
        user_id: 7,
        user_name: "张三".into(),
        provider_id: provider,
        provider_name: format!("provider {provider}"),
        model: "claude-sonnet-4".into(),
        cost_usd: cost.parse().unwrap(),
        input_tokens: 100,
        output_tokens: 10,
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: 0,
        success: true,
        status_code: Some(200),
        error: None,
        created_at: at,
        key_id: None,
    };
    let stored = app
        .state
        .ingestor
        .store(&[event("0", 1)], Repeats::Revise)
        .await
        .unwrap();
    assert_eq!((stored.new, stored.revised), (vec![0], vec![]));
    let again = app
        .state
        .ingestor
        .store(&[event("0", 1)], Repeats::Revise)
        .await
        .unwrap();
    assert_eq!((again.new, again.revised), (vec![], vec![]), "unchanged: nothing");
    let revised = app
        .state
        .ingestor
        .store(&[event("0.25", 2)], Repeats::Revise)
        .await
        .unwrap();
    assert_eq!((revised.new, revised.revised), (vec![], vec![0]));
    let buckets: (i64, rust_decimal::Decimal) =
        sqlx::query_as("SELECT sum(requests)::bigint, sum(cost_usd) FROM usage_user_buckets WHERE user_id = 7")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(buckets, (1, "0.25".parse().unwrap()));
    let providers: Vec<(i64, i64)> =
        sqlx::query_as("SELECT provider_id, sum(requests)::bigint FROM usage_provider_daily GROUP BY 1 ORDER BY 1")
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(
        providers,
        [(1, 0), (2, 1)],
        "the request moved to the provider that served it"
    );
    // A gateway's repeat changes nothing (Repeats::Ignore).
    let ignored = app
        .state
        .ingestor
        .store(&[event("9", 3)], Repeats::Ignore)
        .await
        .unwrap();
    assert_eq!((ignored.new, ignored.revised), (vec![], vec![]));
}

#[tokio::test]
async fn a_followed_breaker_changes_only_when_the_gateways_does() {
    use app::usage::CircuitState;
    use server::usage::breaker::{Observed, Transition};
    let app = TestApp::spawn().await;
    let breakers = &app.state.breakers;
    let provider = 4242;
    let now = chrono::Utc::now();
    let open = |until: chrono::DateTime<chrono::Utc>, failures| Observed {
        state: CircuitState::Open,
        failures,
        open_until: Some(until),
    };
    let seen = |state| Observed {
        state,
        failures: 0,
        open_until: None,
    };
    let first_until = now + chrono::Duration::minutes(30);
    // Closed as before: nothing.
    assert_eq!(
        breakers.follow(provider, seen(CircuitState::Closed)).await.unwrap(),
        None
    );
    // Opened.
    let Some(Transition::Opened {
        failures,
        opened_at,
        open_until,
        ..
    }) = breakers.follow(provider, open(first_until, 5)).await.unwrap()
    else {
        panic!("an opening");
    };
    assert_eq!(failures, 5);
    assert_eq!(open_until.timestamp_millis(), first_until.timestamp_millis());
    // Read again unchanged: nothing, and the circuit API shows the gateway's state.
    assert_eq!(breakers.follow(provider, open(first_until, 5)).await.unwrap(), None);
    let status = breakers.status(provider).await.unwrap();
    assert_eq!((status.state, status.consecutive_failures), (CircuitState::Open, 5));
    // Half-open, then a failed trial reopens it until later: an opening again, of the same
    // episode.
    assert!(matches!(
        breakers.follow(provider, seen(CircuitState::HalfOpen)).await.unwrap(),
        Some(Transition::HalfOpened { .. })
    ));
    let later = first_until + chrono::Duration::minutes(5);
    let Some(Transition::Opened { opened_at: again, .. }) = breakers.follow(provider, open(later, 1)).await.unwrap()
    else {
        panic!("a reopening");
    };
    assert_eq!(again, opened_at, "one episode");
    // A reopening between two reads (half-open never seen) shows as a later open_until.
    let latest = later + chrono::Duration::minutes(5);
    assert!(matches!(
        breakers.follow(provider, open(latest, 1)).await.unwrap(),
        Some(Transition::Opened { .. })
    ));
    // Closed (a manual reset): the recovery, from when it first opened.
    let Some(Transition::Closed { opened_at: since, .. }) =
        breakers.follow(provider, seen(CircuitState::Closed)).await.unwrap()
    else {
        panic!("a closing");
    };
    assert_eq!(since, opened_at);
    assert_eq!(
        breakers.follow(provider, seen(CircuitState::Closed)).await.unwrap(),
        None
    );
    assert_eq!(breakers.status(provider).await.unwrap().state, CircuitState::Closed);
}

/// The pool turns JIT off: compiling the spending statement cost five times what running it does
/// (docs/decisions.md).
#[tokio::test]
async fn the_pool_runs_without_jit() {
    let app = TestApp::spawn().await;
    let jit: String = sqlx::query_scalar("SHOW jit").fetch_one(&app.db).await.unwrap();
    assert_eq!(jit, "off");
}
