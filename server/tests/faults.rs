//! Faults with real processes: `server` processes built from this crate, a Redis of our own that
//! can be killed, and a local receiver counting deliveries by idempotency key.
#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)] // a panic is the test's failure report

mod common;

use std::time::{Duration, Instant};

use app::notifications::NotificationKind;
use common::process::{RedisServer, ServerProcess};
use common::receiver::{Answer, Receiver};
use common::{eventually, TestApp};
use server::delivery::engine::Raised;
use server::delivery::outbox::NewDelivery;

/// The test process raises notifications (as the server's own code does) through the same
/// database and Redis the server processes work from.
async fn producer(redis: &RedisServer, receiver: &Receiver) -> TestApp {
    TestApp::spawn_with(&[
        ("REDIS_URL", &redis.url()),
        ("WEBHOOK_ALLOWLIST", &receiver.allowlist_entry()),
    ])
    .await
}

fn server_vars(receiver: &Receiver) -> Vec<(&'static str, String)> {
    vec![("WEBHOOK_ALLOWLIST", receiver.allowlist_entry())]
}

async fn start_server(
    app: &TestApp,
    redis: &RedisServer,
    receiver: &Receiver,
    extra: &[(&str, &str)],
) -> ServerProcess {
    let mut vars: Vec<(&str, String)> = server_vars(receiver);
    vars.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    ServerProcess::start(app, &redis.url(), &vars).await
}

async fn notification(app: &TestApp, receiver: &Receiver, key: &str) -> NewDelivery {
    NewDelivery {
        kind: NotificationKind::CircuitBreaker,
        target: app.wecom_target(&receiver.url()).await,
        message: server::channels::message::Message::plain(
            server::channels::message::Event::CircuitBreakerOpened,
            &[key],
            chrono::Utc::now().fixed_offset(),
        ),
        dedup_key: key.to_owned(),
    }
}

async fn delivered_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM notification_deliveries WHERE status = 'delivered'")
        .fetch_one(&app.db)
        .await
        .unwrap()
}

async fn status_of(app: &TestApp, id: i64) -> String {
    sqlx::query_scalar("SELECT status FROM notification_deliveries WHERE id = $1")
        .bind(id)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_of_a_killed_worker_is_delivered_after_its_lock_expires() {
    const LOCK_TTL: Duration = Duration::from_secs(2);
    let redis = RedisServer::start().await;
    // The first call hangs: the worker that makes it is mid-job when it is killed.
    let receiver = Receiver::start(Answer::SlowFirst(Duration::from_secs(120))).await;
    let app = producer(&redis, &receiver).await;
    // The webhook timeout outlasts the test: the first attempt ends by the kill, never by
    // timing out into a retry (a slow start of the second process must not change that).
    let lock = [("DELIVERY_LOCK_TTL_SECS", "2"), ("WEBHOOK_TIMEOUT_SECS", "120")];
    let mut first = start_server(&app, &redis, &receiver, &lock).await;

    let Raised::Queued(id) = app
        .state
        .deliveries
        .raise(&notification(&app, &receiver, "kill-1").await)
        .await
        .unwrap()
    else {
        panic!("queued")
    };
    eventually(
        Duration::from_secs(10),
        "the first worker to call the receiver",
        || async { (!receiver.received().is_empty()).then_some(()) },
    )
    .await;

    // A second process joins; while the first one lives (refreshing its lock) the job stays its.
    let second = start_server(&app, &redis, &receiver, &lock).await;
    tokio::time::sleep(LOCK_TTL * 2).await;
    assert_eq!(receiver.received().len(), 1, "a live worker's job is not taken");

    first.kill().await;
    let killed_at = Instant::now();
    eventually(
        Duration::from_secs(20),
        "the job to be delivered by the second process",
        || async { (status_of(&app, id).await == "delivered").then_some(()) },
    )
    .await;
    let got = receiver.received();
    assert_eq!(got.len(), 2, "taken again exactly once");
    assert_eq!(got[1].idempotency_key.as_deref(), Some("kill-1"));
    // Not before the lock could have expired (it was refreshed every TTL/3 until the kill).
    assert!(
        got[1].at.duration_since(killed_at) >= LOCK_TTL * 2 / 3 - Duration::from_millis(100),
        "taken again {:?} after the kill",
        got[1].at.duration_since(killed_at)
    );
    assert_eq!(
        second
            .metric(r#"hub_notify_deliveries_total{kind="circuitBreaker",outcome="delivered"}"#)
            .await,
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_raised_while_redis_is_down_are_delivered_once_it_is_back() {
    let mut redis = RedisServer::start().await;
    let receiver = Receiver::start(Answer::Ok).await;
    let app = producer(&redis, &receiver).await;
    let server = start_server(&app, &redis, &receiver, &[]).await;

    let Raised::Queued(before) = app
        .state
        .deliveries
        .raise(&notification(&app, &receiver, "before").await)
        .await
        .unwrap()
    else {
        panic!("queued while Redis is up")
    };
    eventually(Duration::from_secs(10), "delivery before the outage", || async {
        (status_of(&app, before).await == "delivered").then_some(())
    })
    .await;

    redis.kill().await;
    let mut raising = Vec::new();
    for i in 0..20 {
        let deliveries = app.state.deliveries.clone();
        let n = notification(&app, &receiver, &format!("outage-{i}")).await;
        raising.push(tokio::spawn(async move { deliveries.raise(&n).await.unwrap() }));
    }
    for r in raising {
        let raised = r.await.unwrap();
        assert!(matches!(raised, Raised::Deferred(_)), "{raised:?}: kept in the outbox");
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(receiver.received().len(), 1, "nothing sent during the outage");
    assert!(
        server.log_text().contains("Hub Notify listening"),
        "the server lives on"
    );

    redis.restart().await;
    eventually(Duration::from_secs(45), "all 21 deliveries", || async {
        (delivered_count(&app).await == 21).then_some(())
    })
    .await;
    let by_key = receiver.requests_by_key();
    assert_eq!(by_key.len(), 21);
    assert!(
        by_key.values().all(|&n| n == 1),
        "one request per notification: {by_key:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_server_processes_share_1000_jobs_without_a_duplicate() {
    let redis = RedisServer::start().await;
    let receiver = Receiver::start(Answer::Ok).await;
    let app = producer(&redis, &receiver).await;
    let servers = [
        start_server(&app, &redis, &receiver, &[]).await,
        start_server(&app, &redis, &receiver, &[]).await,
    ];

    let mut raising = tokio::task::JoinSet::new();
    for chunk in 0..10 {
        let deliveries = app.state.deliveries.clone();
        let target = app.wecom_target(&receiver.url()).await;
        raising.spawn(async move {
            for i in 0..100 {
                let key = format!("job-{chunk}-{i}");
                let n = NewDelivery {
                    kind: NotificationKind::CostAlert,
                    target: target.clone(),
                    message: server::channels::message::Message::plain(
                        server::channels::message::Event::CostAlert,
                        &[&key],
                        chrono::Utc::now().fixed_offset(),
                    ),
                    dedup_key: key,
                };
                assert!(matches!(deliveries.raise(&n).await.unwrap(), Raised::Queued(_)));
            }
        });
    }
    while let Some(done) = raising.join_next().await {
        done.unwrap();
    }
    eventually(Duration::from_secs(60), "1,000 deliveries", || async {
        (delivered_count(&app).await == 1000).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let by_key = receiver.requests_by_key();
    assert_eq!(by_key.len(), 1000);
    let duplicates: Vec<_> = by_key.iter().filter(|(_, &n)| n > 1).collect();
    assert!(duplicates.is_empty(), "delivered more than once: {duplicates:?}");
    let series = r#"hub_notify_deliveries_total{kind="costAlert",outcome="delivered"}"#;
    let per_process = [servers[0].metric(series).await, servers[1].metric(series).await];
    assert_eq!(per_process[0] + per_process[1], 1000.0);
    assert!(
        per_process.iter().all(|&n| n > 0.0),
        "both processes worked: {per_process:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_an_in_flight_delivery_finish() {
    let redis = RedisServer::start().await;
    let receiver = Receiver::start(Answer::SlowFirst(Duration::from_secs(2))).await;
    let app = producer(&redis, &receiver).await;
    let mut server = start_server(&app, &redis, &receiver, &[]).await;
    let Raised::Queued(id) = app
        .state
        .deliveries
        .raise(&notification(&app, &receiver, "term-1").await)
        .await
        .unwrap()
    else {
        panic!("queued")
    };
    eventually(Duration::from_secs(10), "the call to start", || async {
        (!receiver.received().is_empty()).then_some(())
    })
    .await;
    let status = server.terminate().await;
    assert!(status.success(), "clean exit: {status}\n{}", server.log_text());
    assert_eq!(status_of(&app, id).await, "delivered", "finished before exiting");
    assert_eq!(receiver.received().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_ingested_while_redis_is_down_open_the_breaker_and_alert_once_it_is_back() {
    let mut redis = RedisServer::start().await;
    let receiver = Receiver::start(Answer::Ok).await;
    let app = producer(&redis, &receiver).await;
    let _engine = app.start_engine();
    app.enable_breaker_alerts(&receiver.url()).await;

    redis.kill().await;
    let events: Vec<serde_json::Value> = (0..5)
        .map(|i| {
            serde_json::json!({
                "requestId": format!("outage-fail-{i}"), "userId": 1, "userName": "张三",
                "providerId": 9, "providerName": "Anthropic 官方", "model": "claude-sonnet-4",
                "costUsd": 0, "success": false, "statusCode": 529, "error": "overloaded_error: Overloaded",
                "createdAt": (chrono::Utc::now() + chrono::Duration::milliseconds(i)).to_rfc3339(),
            })
        })
        .collect();
    let ingested = app
        .client()
        .post(app.url("/api/v1/usage"))
        .bearer_auth(common::INGEST_TOKEN)
        .json(&serde_json::json!({ "events": events }))
        .send()
        .await
        .unwrap();
    assert_eq!(ingested.status(), 200, "usage is stored while the breakers are away");
    let report: serde_json::Value = ingested.json().await.unwrap();
    assert_eq!(report["accepted"], 5, "{report}");
    let waiting: i64 = sqlx::query_scalar("SELECT count(*) FROM breaker_backlog WHERE provider_id = 9")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(waiting, 5, "the outcomes wait for the breaker");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(receiver.received().is_empty());

    redis.restart().await;
    let alert = eventually(
        Duration::from_secs(45),
        "the breaker alert after the outage",
        || async { receiver.received().first().cloned() },
    )
    .await;
    let content = alert.body["markdown"]["content"].as_str().unwrap();
    assert!(content.starts_with("## 供应商熔断告警"), "{content}");
    assert!(
        content.contains("(ID: 9) 已触发熔断保护") && content.contains("失败次数: 5 次"),
        "{content}"
    );
    assert!(
        content.contains("最后错误: `overloaded_error: Overloaded`"),
        "{content}"
    );
    let waiting: i64 = sqlx::query_scalar("SELECT count(*) FROM breaker_backlog")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(waiting, 0, "replayed and cleared");
    let circuit: serde_json::Value = app
        .client()
        .get(app.url("/api/v1/providers/9/circuit"))
        .bearer_auth(common::INGEST_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(circuit["state"], "OPEN", "{circuit}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(receiver.received().len(), 1);
}
