//! Push targets: the per-kind URLs of the schema before targets become sealed WeCom targets
//! and keep delivering; the settings' `webhookUrl` and `targetIds` bind targets; a notification
//! goes to each bound target once, on its own; secrets are nowhere in clear in the database.
#![allow(clippy::unwrap_used)] // a panic is the test's failure report

mod common;

use std::time::Duration;

use common::receiver::{Answer, Receiver};
use common::{create_database, eventually, TestApp};
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::{Connection, PgConnection};

const SETTINGS: &str = "/api/v1/notifications/settings";

async fn app_for(receivers: &[&Receiver]) -> TestApp {
    let allow: Vec<String> = receivers.iter().map(|r| r.allowlist_entry()).collect();
    TestApp::spawn_with(&[("WEBHOOK_ALLOWLIST", &allow.join(","))]).await
}

async fn put(app: &TestApp, body: &Value) -> (u16, Value) {
    app.admin_call(Method::PUT, SETTINGS, Some(body)).await
}

async fn get(app: &TestApp) -> Value {
    app.admin_call(Method::GET, SETTINGS, None).await.1
}

/// 立即发送 of the leaderboard: how many deliveries it raised.
async fn run_leaderboard(app: &TestApp) -> usize {
    let (status, report) = app
        .admin_call(Method::POST, "/api/v1/notifications/run/dailyLeaderboard", None)
        .await;
    assert_eq!(status, 200, "{report}");
    report["deliveries"].as_array().unwrap().len()
}

async fn bindings(app: &TestApp, kind: &str) -> Vec<(i64, bool)> {
    sqlx::query_as("SELECT target_id, from_webhook_url FROM push_target_bindings WHERE kind = $1 ORDER BY target_id")
        .bind(kind)
        .fetch_all(&app.db)
        .await
        .unwrap()
}

async fn target_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM push_targets")
        .fetch_one(&app.db)
        .await
        .unwrap()
}

/// Only cost alerts on, with `cost` as given.
fn cost_only(cost: Value) -> Value {
    json!({
        "enabled": true,
        "circuitBreaker": {"enabled": false, "webhookUrl": null},
        "dailyLeaderboard": {"enabled": false, "webhookUrl": null, "time": "09:00", "topN": 5},
        "costAlert": cost,
    })
}

#[tokio::test]
async fn webhook_urls_of_the_old_schema_become_sealed_targets_that_keep_delivering() {
    let receiver = Receiver::start(Answer::Ok).await;
    let shared = receiver.url();
    let board = format!("{}&group=finance", receiver.url());

    // The schema and data of the release before push targets.
    let db_url = create_database().await;
    let mut conn = PgConnection::connect(db_url.as_str()).await.unwrap();
    let before = sqlx::migrate::Migrator {
        migrations: server::platform::db::MIGRATOR
            .iter()
            .filter(|m| m.version <= 9)
            .cloned()
            .collect::<Vec<_>>()
            .into(),
        ..sqlx::migrate::Migrator::DEFAULT
    };
    before.run(&mut conn).await.unwrap();
    sqlx::query(
        "INSERT INTO notification_settings (id, enabled, circuit_breaker_enabled, circuit_breaker_webhook_url,
            daily_leaderboard_enabled, daily_leaderboard_webhook_url, cost_alert_enabled, cost_alert_webhook_url)
         VALUES (1, true, true, $1, true, $2, true, $1)",
    )
    .bind(&shared)
    .bind(&board)
    .execute(&mut conn)
    .await
    .unwrap();
    // A cost alert raised before the upgrade that never reached Redis.
    sqlx::query(
        "INSERT INTO notification_deliveries (kind, target_url, target_host, content, dedup_key)
         VALUES ('costAlert', $1, $2, '## 成本预警 (before the upgrade)', 'cost:user:1:daily:d:Red:0')",
    )
    .bind(&shared)
    .bind(format!("http://{}", receiver.allowlist_entry()))
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();

    let app = TestApp::spawn_on(db_url, &[("WEBHOOK_ALLOWLIST", &receiver.allowlist_entry())]).await;

    // Two URLs, two targets: the kinds that shared a URL share a target.
    assert_eq!(target_count(&app).await, 2);
    let cb = bindings(&app, "circuitBreaker").await;
    assert_eq!(cb.len(), 1);
    assert_eq!(bindings(&app, "costAlert").await, cb);
    assert_ne!(bindings(&app, "dailyLeaderboard").await, cb);
    assert!(cb[0].1, "the binding stands for the kind's webhookUrl");
    let clear: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM notification_deliveries WHERE target_url IS NOT NULL)
              + (SELECT count(*) FROM notification_settings WHERE circuit_breaker_webhook_url IS NOT NULL
                    OR daily_leaderboard_webhook_url IS NOT NULL OR cost_alert_webhook_url IS NOT NULL)",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(clear, 0, "no URL is left in clear");

    // The settings read as before.
    let settings = get(&app).await;
    assert_eq!(settings["circuitBreaker"]["webhookUrl"], masked(&shared));
    assert_eq!(settings["costAlert"]["webhookUrl"], masked(&shared));
    assert_eq!(settings["dailyLeaderboard"]["webhookUrl"], masked(&board));
    assert_eq!(settings["costAlert"]["targetIds"], json!([cb[0].0]));

    // The row raised before the upgrade is delivered, under its key with its target.
    let _engine = app.start_engine();
    let key = format!("cost:user:1:daily:d:Red:0@t{}", cb[0].0);
    eventually(Duration::from_secs(30), "the old row to be delivered", || async {
        receiver.requests_by_key().get(&key).copied()
    })
    .await;
    assert!(receiver.received()[0].path_and_query.ends_with("key=test-key-123"));

    // A second start finds nothing left to move.
    let again = server::notifications::bindings::adopt_legacy_urls(&app.db, &app.state.config.secrets.current)
        .await
        .unwrap();
    assert_eq!(again, Default::default());
    assert_eq!(target_count(&app).await, 2);
}

#[tokio::test]
async fn webhook_url_and_target_ids_bind_targets() {
    let receiver = Receiver::start(Answer::Ok).await;
    let app = app_for(&[&receiver]).await;
    let a = receiver.url();
    let b = format!("{a}&robot=b");
    let c = format!("{a}&robot=c");

    // The specification's flow: one URL per kind; kinds with one URL share one target.
    let mut body =
        cost_only(json!({"enabled": true, "webhookUrl": a, "thresholdPercent": 80, "checkIntervalMinutes": 60}));
    body["circuitBreaker"] = json!({"enabled": true, "webhookUrl": a});
    let (status, saved) = put(&app, &body).await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!(target_count(&app).await, 1);
    let t_a = saved["costAlert"]["targetIds"][0].as_i64().unwrap();
    assert_eq!(saved["circuitBreaker"]["targetIds"], json!([t_a]));
    assert_eq!(saved["costAlert"]["webhookUrl"], masked(&a));

    // Another target bound by id beside the URL's.
    let t_c = app.state.targets.wecom(&c).await.unwrap();
    body["costAlert"]["targetIds"] = json!([t_a, t_c]);
    let (status, saved) = put(&app, &body).await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!(bindings(&app, "costAlert").await, vec![(t_a, true), (t_c, false)]);

    // A script that knows only webhookUrl: a new URL replaces the old one's target, the other stays.
    let (status, saved) = put(
        &app,
        &cost_only(json!({"enabled": true, "webhookUrl": b, "thresholdPercent": 80, "checkIntervalMinutes": 60})),
    )
    .await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!(saved["costAlert"]["webhookUrl"], masked(&b));
    let cost = bindings(&app, "costAlert").await;
    assert_eq!(cost.len(), 2);
    assert!(cost.contains(&(t_c, false)), "{cost:?}");
    assert!(!cost.iter().any(|(id, _)| *id == t_a), "{cost:?}");
    let t_b = cost.iter().find(|(_, url)| *url).unwrap().0;
    assert_eq!(get(&app).await["costAlert"]["targetIds"], json!([t_c, t_b]));

    // Unknown ids and an enabled kind with nowhere to go are refused, and change nothing.
    let (status, answer) = put(
        &app,
        &cost_only(json!({"enabled": true, "webhookUrl": b, "targetIds": [t_c, 999_999],
            "thresholdPercent": 80, "checkIntervalMinutes": 60})),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        answer["fields"]["costAlert.targetIds"],
        "no push target has the id 999999"
    );
    let (status, answer) = put(
        &app,
        &cost_only(json!({"enabled": true, "webhookUrl": null, "targetIds": [],
            "thresholdPercent": 80, "checkIntervalMinutes": 60})),
    )
    .await;
    assert_eq!(status, 400);
    assert!(answer["fields"]["costAlert.webhookUrl"].is_string(), "{answer}");
    assert_eq!(
        bindings(&app, "costAlert").await,
        cost,
        "a refused save changes nothing"
    );

    // Without a URL, a kind may go to targets by id alone.
    let (status, saved) = put(
        &app,
        &cost_only(json!({"enabled": true, "webhookUrl": null, "targetIds": [t_c],
            "thresholdPercent": 80, "checkIntervalMinutes": 60})),
    )
    .await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!(saved["costAlert"]["webhookUrl"], Value::Null);
    assert_eq!(bindings(&app, "costAlert").await, vec![(t_c, false)]);
    assert_eq!(
        bindings(&app, "circuitBreaker").await,
        vec![],
        "the breaker's URL was cleared"
    );
}

#[tokio::test]
async fn a_notification_goes_to_each_bound_target_once_and_a_failing_one_holds_back_no_other() {
    let ok = Receiver::start(Answer::Ok).await;
    let failing = Receiver::start(Answer::Status(500)).await;
    let app = app_for(&[&ok, &failing]).await;
    let t_failing = app.state.targets.wecom(&failing.url()).await.unwrap();
    let (status, saved) = put(
        &app,
        &json!({
            "enabled": true,
            "circuitBreaker": {"enabled": false, "webhookUrl": null},
            "dailyLeaderboard": {"enabled": true, "webhookUrl": ok.url(), "targetIds": [t_failing], "time": "09:00", "topN": 5},
            "costAlert": {"enabled": false, "webhookUrl": null, "thresholdPercent": 80, "checkIntervalMinutes": 60}
        }),
    )
    .await;
    assert_eq!(status, 200, "{saved}");
    let _engine = app.start_engine();
    assert_eq!(run_leaderboard(&app).await, 2);

    eventually(Duration::from_secs(20), "the failing target's 4 attempts", || async {
        (failing.received().len() == 4).then_some(())
    })
    .await;
    let delivered = ok.requests_by_key();
    assert_eq!(delivered.len(), 1, "{delivered:?}");
    assert_eq!(delivered.values().sum::<usize>(), 1, "the good target got it once");
    let (ok_key, failing_key) = (
        delivered.keys().next().unwrap().clone(),
        failing.received()[0].idempotency_key.clone().unwrap(),
    );
    assert_ne!(ok_key, failing_key, "each target has its own idempotency key");
    assert!(failing_key.ends_with(&format!("@t{t_failing}")), "{failing_key}");
    // The last attempt's answer arrives before its row says so.
    let statuses = eventually(Duration::from_secs(10), "one row delivered, one failed", || async {
        let statuses: Vec<(String, String)> =
            sqlx::query_as("SELECT status, target_host FROM notification_deliveries ORDER BY target_id")
                .fetch_all(&app.db)
                .await
                .unwrap();
        (statuses.iter().any(|(s, _)| s == "delivered") && statuses.iter().any(|(s, _)| s == "failed"))
            .then_some(statuses)
    })
    .await;
    assert_eq!(statuses.len(), 2);

    // The history names each row's target and filters by it.
    let path = format!("/api/v1/notifications/deliveries?targetId={t_failing}");
    let (status, page) = app.admin_call(Method::GET, &path, None).await;
    assert_eq!(status, 200, "{page}");
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{page}");
    assert_eq!(
        (
            items[0]["targetId"].as_i64(),
            items[0]["channel"].as_str(),
            items[0]["status"].as_str()
        ),
        (Some(t_failing), Some("wecom"), Some("failed"))
    );
    assert!(
        items[0]["targetName"].as_str().unwrap().starts_with("企业微信 · "),
        "{page}"
    );
    let (status, answer) = app
        .admin_call(Method::GET, "/api/v1/notifications/deliveries?targetId=x", None)
        .await;
    assert_eq!(status, 400);
    assert!(answer["fields"]["targetId"].is_string(), "{answer}");
}

#[tokio::test]
async fn a_deleted_or_disabled_target_fails_its_waiting_deliveries_at_once() {
    let receiver = Receiver::start(Answer::Ok).await;
    let app = app_for(&[&receiver]).await;
    let deleted = app.wecom_target(&receiver.url()).await;
    let disabled = app.wecom_target(&format!("{}&off=1", receiver.url())).await;
    let mut ids = Vec::new();
    for (target, key) in [(&deleted, "gone"), (&disabled, "off")] {
        let raised = app
            .state
            .deliveries
            .raise(&server::delivery::outbox::NewDelivery {
                kind: app::notifications::NotificationKind::CostAlert,
                target: target.clone(),
                message: server::channels::message::Message::plain(
                    server::channels::message::Event::CostAlert,
                    &[],
                    chrono::Utc::now().fixed_offset(),
                ),
                dedup_key: key.into(),
            })
            .await
            .unwrap();
        ids.push(match raised {
            server::delivery::engine::Raised::Queued(id) => id,
            other => panic!("{other:?}"),
        });
    }
    sqlx::query("DELETE FROM push_targets WHERE id = $1")
        .bind(deleted.id)
        .execute(&app.db)
        .await
        .unwrap();
    sqlx::query("UPDATE push_targets SET enabled = false WHERE id = $1")
        .bind(disabled.id)
        .execute(&app.db)
        .await
        .unwrap();
    let _engine = app.start_engine();
    for (id, reason) in ids.into_iter().zip(["its push target was deleted", "is disabled"]) {
        let (status, attempts, error): (String, i32, Option<String>) =
            eventually(Duration::from_secs(10), "the row to fail", || async {
                let row = app.delivery_row(id).await;
                (row.0 == "failed").then_some(row)
            })
            .await;
        assert_eq!((status.as_str(), attempts), ("failed", 1));
        assert!(error.unwrap().contains(reason));
    }
    assert!(receiver.received().is_empty());
}

#[tokio::test]
async fn no_webhook_key_is_in_clear_in_a_dump_of_the_database() {
    let receiver = Receiver::start(Answer::Ok).await;
    let app = app_for(&[&receiver]).await;
    let key = "Zq8sRobotKey-7f3e9a";
    let url = format!("http://{}/cgi-bin/webhook/send?key={key}", receiver.allowlist_entry());
    let (status, saved) = put(
        &app,
        &json!({
            "enabled": true,
            "circuitBreaker": {"enabled": false, "webhookUrl": null},
            "dailyLeaderboard": {"enabled": true, "webhookUrl": url, "time": "09:00", "topN": 5},
            "costAlert": {"enabled": false, "webhookUrl": null, "thresholdPercent": 80, "checkIntervalMinutes": 60}
        }),
    )
    .await;
    assert_eq!(status, 200, "{saved}");
    let _engine = app.start_engine();
    assert_eq!(run_leaderboard(&app).await, 1);
    eventually(Duration::from_secs(10), "the leaderboard to arrive", || async {
        (!receiver.received().is_empty()).then_some(())
    })
    .await;
    assert!(
        receiver.received()[0].path_and_query.contains(key),
        "it was sent with its key"
    );

    let db_url = app.state.config.database.url.expose().to_owned();
    let dump = tokio::process::Command::new("pg_dump")
        .arg("--data-only")
        .arg(&db_url)
        .output()
        .await
        .expect("pg_dump (postgresql-client) is installed");
    assert!(dump.status.success(), "{}", String::from_utf8_lossy(&dump.stderr));
    let dump = String::from_utf8(dump.stdout).unwrap();
    assert!(dump.contains("push_targets"), "the dump holds the targets");
    assert!(!dump.contains(key), "the robot's key is in clear in the dump");
}

/// A URL as answers show it: query values of 4 or more characters masked.
fn masked(url: &str) -> String {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let pairs: Vec<String> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) if v.len() >= 4 => format!("{k}=***"),
            _ => p.to_owned(),
        })
        .collect();
    if pairs.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", pairs.join("&"))
    }
}

async fn call(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    app.admin_call(method, path, body.as_ref()).await
}

const TARGETS: &str = "/api/v1/notifications/targets";

#[tokio::test]
async fn targets_are_created_edited_tested_and_deleted_through_the_api() {
    let receiver = Receiver::start(Answer::Ok).await;
    let app = app_for(&[&receiver]).await;

    // Invalid input: one message per field, nothing saved.
    let (status, answer) = call(
        &app,
        Method::POST,
        TARGETS,
        Some(json!({"name": " ", "webhookUrl": "ftp://x"})),
    )
    .await;
    assert_eq!(status, 400, "{answer}");
    let fields = answer["fields"].as_object().unwrap();
    assert!(
        fields.contains_key("name") && fields.contains_key("webhookUrl") && fields.contains_key("channel"),
        "{answer}"
    );
    let (status, answer) = call(
        &app,
        Method::POST,
        TARGETS,
        Some(json!({"name": "Custom", "channel": "custom", "webhookUrl": "https://example.com/x"})),
    )
    .await;
    assert_eq!(
        (status, answer["fields"]["template"].as_str()),
        (400, Some("is required for this channel"))
    );
    let (status, answer) = call(
        &app,
        Method::POST,
        TARGETS,
        Some(json!({"name": "内网", "channel": "wecom", "webhookUrl": "http://10.1.2.3/hook"})),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        answer["fields"]["webhookUrl"]
            .as_str()
            .unwrap()
            .starts_with("not allowed"),
        "{answer}"
    );
    let (status, answer) = call(&app, Method::POST, TARGETS, Some(json!({"name": "x", "botTokn": "1"}))).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(target_count(&app).await, 0);

    // Created: 201, the URL's host picks the channel (here a local receiver: named).
    let (status, created) = call(
        &app,
        Method::POST,
        TARGETS,
        Some(json!({"name": " 值班群 ", "channel": "wecom", "webhookUrl": receiver.url()})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_i64().unwrap();
    assert_eq!(created["name"], "值班群");
    assert_eq!(created["channel"], "wecom");
    assert_eq!(created["enabled"], true);
    assert_eq!(created["endpoint"], format!("http://{}", receiver.allowlist_entry()));
    assert_eq!(created["kinds"], json!([]));
    assert_eq!(created["lastTest"], Value::Null);

    // An edit without the URL keeps it; the channel stays.
    let (status, edited) = call(
        &app,
        Method::PUT,
        &format!("{TARGETS}/{id}"),
        Some(json!({"name": "财务群", "enabled": false})),
    )
    .await;
    assert_eq!(status, 200, "{edited}");
    assert_eq!(
        (edited["name"].as_str(), edited["enabled"].as_bool()),
        (Some("财务群"), Some(false))
    );
    // The URL kept, its key masked in every answer; sent back as shown, it still means the
    // stored one, and a masked URL that is not the stored one is refused.
    let masked = receiver.url().replace("test-key-123", "***");
    assert_eq!(edited["webhookUrl"], masked.as_str());
    let (status, edited) = call(
        &app,
        Method::PUT,
        &format!("{TARGETS}/{id}"),
        Some(json!({"name": "财务群", "enabled": true, "webhookUrl": masked})),
    )
    .await;
    assert_eq!((status, edited["enabled"].as_bool()), (200, Some(true)), "{edited}");
    assert_eq!(
        call(
            &app,
            Method::POST,
            &format!("{TARGETS}/{id}/test"),
            Some(json!({"type": "costAlert"}))
        )
        .await
        .0,
        200
    );
    assert!(receiver
        .received()
        .last()
        .unwrap()
        .path_and_query
        .ends_with("key=test-key-123"));
    let (status, answer) = call(
        &app,
        Method::PUT,
        &format!("{TARGETS}/{id}"),
        Some(json!({"name": "财务群", "webhookUrl": format!("{masked}&x=1")})),
    )
    .await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["fields"]["webhookUrl"].as_str().unwrap().contains("masked"),
        "{answer}"
    );
    let (status, _) = call(
        &app,
        Method::PUT,
        &format!("{TARGETS}/{id}"),
        Some(json!({"name": "财务群", "enabled": false})),
    )
    .await;
    assert_eq!(status, 200);
    let (status, answer) = call(
        &app,
        Method::PUT,
        &format!("{TARGETS}/{id}"),
        Some(json!({"name": "财务群", "channel": "slack"})),
    )
    .await;
    assert_eq!(status, 400);
    assert!(answer["fields"]["channel"].is_string(), "{answer}");

    // Bound to a kind through the settings, the target lists it.
    let (status, saved) = put(
        &app,
        &cost_only(json!({"enabled": false, "webhookUrl": null, "targetIds": [id], "thresholdPercent": 80, "checkIntervalMinutes": 60})),
    )
    .await;
    assert_eq!(status, 200, "{saved}");
    let (_, list) = call(&app, Method::GET, TARGETS, None).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["kinds"], json!(["costAlert"]));

    // A test sends the kind's example through the real path and is remembered.
    let (status, tested) = call(
        &app,
        Method::POST,
        &format!("{TARGETS}/{id}/test"),
        Some(json!({"type": "costAlert"})),
    )
    .await;
    assert_eq!(status, 200, "{tested}");
    assert_eq!(tested["ok"], true);
    assert!(tested["latencyMs"].is_u64());
    let sent = &receiver.received()[0].body;
    assert_eq!(sent["msgtype"], "markdown");
    assert!(
        sent["markdown"]["content"]
            .as_str()
            .unwrap()
            .starts_with("## 成本预警提醒\n> 用户 **张三**"),
        "{sent}"
    );
    let (_, one) = call(&app, Method::GET, &format!("{TARGETS}/{id}"), None).await;
    assert_eq!(one["lastTest"]["ok"], true);

    receiver.set_answer(Answer::ErrCode(93000, "invalid webhook url"));
    let (status, tested) = call(
        &app,
        Method::POST,
        &format!("{TARGETS}/{id}/test"),
        Some(json!({"type": "circuitBreaker"})),
    )
    .await;
    assert_eq!(status, 502, "{tested}");
    assert_eq!(
        (tested["ok"].as_bool(), tested["reason"].as_str()),
        (Some(false), Some("errcode"))
    );
    let (_, one) = call(&app, Method::GET, &format!("{TARGETS}/{id}"), None).await;
    assert_eq!(one["lastTest"]["ok"], false);
    assert!(one["lastTest"]["error"].as_str().unwrap().contains("93000"), "{one}");
    let (status, _) = call(
        &app,
        Method::POST,
        &format!("{TARGETS}/{id}/test"),
        Some(json!({"type": "weekly"})),
    )
    .await;
    assert_eq!(status, 400);

    // Deleted: says which kinds lose it; then gone.
    let (status, deleted) = call(&app, Method::DELETE, &format!("{TARGETS}/{id}"), None).await;
    assert_eq!(status, 200, "{deleted}");
    assert_eq!(deleted["unboundKinds"], json!(["costAlert"]));
    for method in [Method::GET, Method::DELETE] {
        let (status, _) = call(&app, method, &format!("{TARGETS}/{id}"), None).await;
        assert_eq!(status, 404);
    }
    let (status, _) = call(&app, Method::GET, &format!("{TARGETS}/abc"), None).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn only_admins_reach_the_targets_api() {
    let app = TestApp::spawn().await;
    let key = app.create_user(42, "user").await;
    for (method, path) in [
        (reqwest::Method::GET, TARGETS.to_owned()),
        (reqwest::Method::POST, TARGETS.to_owned()),
        (reqwest::Method::DELETE, format!("{TARGETS}/1")),
    ] {
        let res = app
            .client()
            .request(method.clone(), app.url(&path))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403, "{method} {path}");
        let res = app
            .client()
            .request(method.clone(), app.url(&path))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401, "{method} {path}");
    }
}
