//! The delivery engine end to end, in process: outbox → Redis queue → worker → a real local
//! receiver; retries with the spec's backoff; history through the REST API; `/metrics`.
#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)] // a panic is the test's failure report

mod common;

use std::time::Duration;

use app::notifications::NotificationKind;
use common::receiver::{Answer, Receiver};
use common::{eventually, TestApp, ADMIN_TOKEN};
use serde_json::Value;
use server::delivery::engine::Raised;
use server::delivery::outbox::NewDelivery;

async fn app_for(receiver: &Receiver) -> TestApp {
    TestApp::spawn_with(&[("WEBHOOK_ALLOWLIST", &receiver.allowlist_entry())]).await
}

/// An event of `kind`.
fn event_of(kind: NotificationKind) -> server::channels::message::Event {
    use server::channels::message::Event;
    match kind {
        NotificationKind::CircuitBreaker => Event::CircuitBreakerOpened,
        NotificationKind::DailyLeaderboard => Event::DailyLeaderboard,
        NotificationKind::CostAlert => Event::CostAlert,
    }
}

/// A notification to a WeCom target sending to `url`.
async fn notification(app: &TestApp, kind: NotificationKind, url: &str, key: &str) -> NewDelivery {
    NewDelivery {
        kind,
        target: app.wecom_target(url).await,
        message: server::channels::message::Message::plain(
            event_of(kind),
            &[&format!("测试 {key}"), "内容"],
            chrono::Utc::now().fixed_offset(),
        ),
        dedup_key: key.to_owned(),
    }
}

async fn row(app: &TestApp, id: i64) -> (String, i32, Option<String>) {
    app.delivery_row(id).await
}

async fn wait_for_status(app: &TestApp, id: i64, status: &str, within: Duration) -> (String, i32, Option<String>) {
    eventually(within, &format!("delivery {id} to be {status}"), || async {
        let r = row(app, id).await;
        (r.0 == status).then_some(r)
    })
    .await
}

async fn get_json(app: &TestApp, path: &str) -> (u16, Value) {
    let res = app
        .client()
        .get(app.url(path))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_raised_notification_is_delivered_once_with_its_idempotency_key() {
    let receiver = Receiver::start(Answer::Ok).await;
    let app = app_for(&receiver).await;
    let _engine = app.start_engine();

    let n = notification(&app, NotificationKind::CircuitBreaker, &receiver.url(), "breaker:7:1").await;
    let raised = app.state.deliveries.raise(&n).await.unwrap();
    let Raised::Queued(id) = raised else {
        panic!("expected Queued, got {raised:?}")
    };
    let (_, attempts, last_error) = wait_for_status(&app, id, "delivered", Duration::from_secs(10)).await;
    assert_eq!((attempts, last_error), (1, None));

    // The same key again: nothing new is written or sent.
    assert_eq!(app.state.deliveries.raise(&n).await.unwrap(), Raised::Duplicate(id));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got = receiver.received();
    assert_eq!(got.len(), 1, "one request");
    assert_eq!(got[0].idempotency_key.as_deref(), Some("breaker:7:1"));
    assert_eq!(got[0].body["msgtype"], "markdown");
    assert_eq!(
        got[0].body["markdown"]["content"],
        server::channels::wecom::markdown(&n.message)
    );
    assert_eq!(got[0].path_and_query, "/cgi-bin/webhook/send?key=test-key-123");
}

/// The gaps between attempts, measured at the receiver: none shorter than the specification's
/// backoff (an attempt cannot come before its retry is due), however slow the machine. That the
/// queue schedules exactly 1 s, 2 s, 4 s is its own test (`delivery::queue`,
/// `each_failure_schedules_its_retry_after_1_then_2_then_4_seconds`).
fn assert_backoff_gaps(receiver: &Receiver, expected: &[f64]) {
    let times: Vec<_> = receiver.received().iter().map(|r| r.at).collect();
    assert_eq!(times.len(), expected.len() + 1, "attempts");
    let gaps: Vec<f64> = times.windows(2).map(|w| (w[1] - w[0]).as_secs_f64()).collect();
    for (gap, want) in gaps.iter().zip(expected) {
        assert!(
            *gap >= want - 0.01,
            "gaps {gaps:.3?} s, none shorter than {expected:?} s"
        );
    }
}

#[tokio::test]
async fn failed_attempts_are_retried_after_1_then_2_seconds_and_then_delivered() {
    let receiver = Receiver::start(Answer::FailFirst(2)).await;
    let app = app_for(&receiver).await;
    let _engine = app.start_engine();

    let n = notification(&app, NotificationKind::CostAlert, &receiver.url(), "cost:1").await;
    let id = app.state.deliveries.raise(&n).await.unwrap();
    let Raised::Queued(id) = id else { panic!("{id:?}") };
    // Between the attempts the row says sending, with the last error.
    let error = eventually(Duration::from_secs(5), "a failed attempt on record", || async {
        let (status, _, error) = row(&app, id).await;
        (status == "sending").then_some(error).flatten()
    })
    .await;
    assert_eq!(error, "HTTP 500: try again");
    let (_, attempts, last_error) = wait_for_status(&app, id, "delivered", Duration::from_secs(15)).await;
    assert_eq!((attempts, last_error), (3, None));
    assert_backoff_gaps(&receiver, &[1.0, 2.0]);
}

#[tokio::test]
async fn a_delivery_that_always_fails_is_tried_four_times_then_failed() {
    let receiver = Receiver::start(Answer::ErrCode(93000, "invalid webhook url")).await;
    let app = app_for(&receiver).await;
    let _engine = app.start_engine();

    let n = notification(
        &app,
        NotificationKind::DailyLeaderboard,
        &receiver.url(),
        "board:2026-11-25",
    )
    .await;
    let Raised::Queued(id) = app.state.deliveries.raise(&n).await.unwrap() else {
        panic!()
    };
    let (_, attempts, last_error) = wait_for_status(&app, id, "failed", Duration::from_secs(20)).await;
    assert_eq!(attempts, 4);
    assert_eq!(last_error.as_deref(), Some("errcode 93000: invalid webhook url"));
    assert_backoff_gaps(&receiver, &[1.0, 2.0, 4.0]);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receiver.received().len(), 4, "no fifth attempt");
}

#[tokio::test]
async fn queue_history_is_trimmed_to_100_succeeded_and_50_failed() {
    let ok = Receiver::start(Answer::Ok).await;
    let failing = Receiver::start(Answer::Status(500)).await;
    let app = TestApp::spawn_with(&[(
        "WEBHOOK_ALLOWLIST",
        &format!("{},{}", ok.allowlist_entry(), failing.allowlist_entry()),
    )])
    .await;
    let _engine = app.start_engine();
    for i in 0..110 {
        let n = notification(&app, NotificationKind::CostAlert, &ok.url(), &format!("ok:{i}")).await;
        app.state.deliveries.raise(&n).await.unwrap();
    }
    for i in 0..55 {
        let n = notification(&app, NotificationKind::CostAlert, &failing.url(), &format!("bad:{i}")).await;
        app.state.deliveries.raise(&n).await.unwrap();
    }
    let queue = app.state.deliveries.queue();
    let counts = eventually(Duration::from_secs(30), "every job to finish", || async {
        let c = queue.counts().await.unwrap();
        (c.wait + c.active + c.delayed == 0 && c.failed > 0).then_some(c)
    })
    .await;
    assert_eq!((counts.completed, counts.failed), (100, 50));
    // The outbox keeps every row (its own retention is in days).
    let statuses: Vec<(String, i64)> =
        sqlx::query_as("SELECT status, count(*) FROM notification_deliveries GROUP BY status ORDER BY status")
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(statuses, vec![("delivered".into(), 110), ("failed".into(), 55)]);
}

#[tokio::test]
async fn history_api_filters_pages_and_never_shows_the_key() {
    let receiver = Receiver::start(Answer::Ok).await;
    let app = app_for(&receiver).await;
    let outbox = app.state.deliveries.outbox();
    // Rows only (no engine): they stay pending.
    for i in 0..5 {
        let kind = if i % 2 == 0 {
            NotificationKind::CostAlert
        } else {
            NotificationKind::CircuitBreaker
        };
        outbox
            .insert(&notification(&app, kind, &receiver.url(), &format!("k{i}")).await)
            .await
            .unwrap();
    }

    let (status, page) = get_json(&app, "/api/v1/notifications/deliveries?limit=2").await;
    assert_eq!(status, 200, "{page}");
    let ids: Vec<i64> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(ids[0] > ids[1], "newest first");
    assert_eq!(page["items"][0]["target"], format!("http://{}", receiver.addr));
    assert_eq!(page["items"][0]["status"], "pending");
    assert!(
        !page.to_string().contains("test-key-123"),
        "the key never leaves: {page}"
    );

    let next = page["nextBefore"].as_i64().expect("a next page");
    let (_, page2) = get_json(&app, &format!("/api/v1/notifications/deliveries?limit=2&before={next}")).await;
    let (_, page3) = get_json(
        &app,
        &format!(
            "/api/v1/notifications/deliveries?limit=2&before={}",
            page2["nextBefore"]
        ),
    )
    .await;
    assert_eq!(page2["items"].as_array().unwrap().len(), 2);
    assert_eq!(page3["items"].as_array().unwrap().len(), 1);
    assert!(page3["nextBefore"].is_null(), "last page");

    let (_, alerts) = get_json(&app, "/api/v1/notifications/deliveries?kind=costAlert&status=pending").await;
    let alerts = alerts["items"].as_array().unwrap();
    assert_eq!(alerts.len(), 3);
    assert!(alerts.iter().all(|r| r["kind"] == "costAlert"));
    let (_, none) = get_json(&app, "/api/v1/notifications/deliveries?status=delivered").await;
    assert_eq!(none["items"].as_array().unwrap().len(), 0);

    let (status, body) = get_json(
        &app,
        "/api/v1/notifications/deliveries?kind=sms&status=done&limit=500&before=x",
    )
    .await;
    assert_eq!(status, 400);
    for field in ["kind", "status", "limit", "before"] {
        assert!(body["fields"][field].is_string(), "{field} named: {body}");
    }
}

#[tokio::test]
async fn history_api_is_admin_only_and_documented() {
    let app = TestApp::spawn().await;
    let key = app.create_user(42, "普通用户").await;
    let url = app.url("/api/v1/notifications/deliveries");
    let anonymous = app.client().get(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let user = app.client().get(&url).bearer_auth(&key).send().await.unwrap();
    assert_eq!(user.status(), 403);

    let (_, doc) = get_json(&app, server::http::api::OPENAPI_PATH).await;
    let op = &doc["paths"]["/api/v1/notifications/deliveries"]["get"];
    let params: Vec<&str> = op["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(params, ["kind", "status", "limit", "before", "targetId"]);
    assert!(doc["components"]["schemas"]["DeliveryPage"].is_object());
}

/// A cost alert written to the outbox only (not enqueued), as during a Redis outage.
async fn outbox_row(app: &TestApp, receiver: &Receiver, key: &str) -> i64 {
    app.state
        .deliveries
        .outbox()
        .insert(&notification(app, NotificationKind::CostAlert, &receiver.url(), key).await)
        .await
        .unwrap()
        .id()
}

async fn metrics_text(app: &TestApp) -> String {
    app.client()
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
        .unwrap_or_else(|| panic!("{series} missing from:\n{text}"))
}

#[tokio::test]
async fn metrics_count_deliveries_attempts_latency_and_queue_depth() {
    let receiver = Receiver::start(Answer::FailFirst(1)).await;
    let app = app_for(&receiver).await;
    let _engine = app.start_engine();
    let Raised::Queued(id) = app
        .state
        .deliveries
        .raise(&notification(&app, NotificationKind::CostAlert, &receiver.url(), "m1").await)
        .await
        .unwrap()
    else {
        panic!()
    };
    wait_for_status(&app, id, "delivered", Duration::from_secs(10)).await;

    let res = app.client().get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = res.text().await.unwrap();
    assert_eq!(
        metric(
            &text,
            r#"hub_notify_deliveries_total{kind="costAlert",outcome="delivered"}"#
        ),
        1.0
    );
    assert_eq!(
        metric(
            &text,
            r#"hub_notify_deliveries_total{kind="costAlert",outcome="failed"}"#
        ),
        0.0
    );
    assert_eq!(
        metric(
            &text,
            r#"hub_notify_delivery_attempts_total{kind="costAlert",result="error"}"#
        ),
        1.0
    );
    assert_eq!(
        metric(
            &text,
            r#"hub_notify_delivery_attempts_total{kind="costAlert",result="success"}"#
        ),
        1.0
    );
    assert_eq!(
        metric(&text, r#"hub_notify_delivery_latency_seconds_count{kind="costAlert"}"#),
        1.0
    );
    // Delivered after the 1 s backoff.
    assert_eq!(
        metric(
            &text,
            r#"hub_notify_delivery_latency_seconds_bucket{kind="costAlert",le="0.5"}"#
        ),
        0.0
    );
    assert_eq!(
        metric(
            &text,
            r#"hub_notify_delivery_latency_seconds_bucket{kind="costAlert",le="2.5"}"#
        ),
        1.0
    );
    for state in ["wait", "active", "delayed"] {
        assert_eq!(
            metric(&text, &format!(r#"hub_notify_queue_jobs{{state="{state}"}}"#)),
            0.0
        );
    }
    assert_eq!(metric(&text, r#"hub_notify_outbox_unfinished{status="pending"}"#), 0.0);
}

#[tokio::test]
async fn metrics_report_queue_depth_and_unfinished_rows_by_state() {
    let hanging = Receiver::start(Answer::Slow(Duration::from_secs(60))).await;
    let failing = Receiver::start(Answer::Status(500)).await;
    let allow = format!("{},{}", hanging.allowlist_entry(), failing.allowlist_entry());
    let app = TestApp::spawn_with(&[("WEBHOOK_ALLOWLIST", &allow), ("WEBHOOK_TIMEOUT_SECS", "60")]).await;
    let gauges = || async {
        let text = metrics_text(&app).await;
        let queue =
            ["wait", "active", "delayed"].map(|s| metric(&text, &format!(r#"hub_notify_queue_jobs{{state="{s}"}}"#)));
        let rows =
            ["pending", "sending"].map(|s| metric(&text, &format!(r#"hub_notify_outbox_unfinished{{status="{s}"}}"#)));
        (queue, rows)
    };
    for (url, key) in [(hanging.url(), "g-hang"), (failing.url(), "g-fail")] {
        app.state
            .deliveries
            .raise(&notification(&app, NotificationKind::CostAlert, &url, key).await)
            .await
            .unwrap();
    }
    // No worker yet: both wait, neither row has been attempted.
    assert_eq!(gauges().await, ([2.0, 0.0, 0.0], [2.0, 0.0]));

    let _engine = app.start_engine();
    // One held by its receiver (active), one waiting for its retry (delayed); both rows sending.
    eventually(Duration::from_secs(10), "one active and one delayed job", || async {
        let g = gauges().await;
        (g == ([0.0, 1.0, 1.0], [0.0, 2.0])).then_some(())
    })
    .await;
}

#[tokio::test]
async fn metrics_token_guards_the_endpoint_when_set() {
    let app = TestApp::spawn_with(&[("METRICS_TOKEN", "scrape-secret")]).await;
    let url = app.url("/metrics");
    assert_eq!(app.client().get(&url).send().await.unwrap().status(), 401);
    let wrong = app.client().get(&url).bearer_auth("nope").send().await.unwrap();
    assert_eq!(wrong.status(), 401);
    let right = app
        .client()
        .get(&url)
        .bearer_auth("scrape-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), 200);
}

#[tokio::test]
async fn the_sweeper_enqueues_rows_redis_never_saw_and_jobs_redis_lost() {
    let receiver = Receiver::start(Answer::Ok).await;
    let app = app_for(&receiver).await;
    let outbox = app.state.deliveries.outbox();
    // Written while Redis was away: in the outbox only.
    let unqueued = outbox_row(&app, &receiver, "s1").await;
    // Enqueued, then Redis lost it (a restart of a Redis that keeps nothing).
    let lost = outbox_row(&app, &receiver, "s2").await;
    outbox.mark_enqueued(lost).await.unwrap();

    let sweeper = server::delivery::sweeper::Sweeper::new(
        app.state.deliveries.clone(),
        Duration::from_secs(86_400),
        app.state.metrics.clone(),
    )
    .with_idle_after(Duration::from_millis(200));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sweep = sweeper.sweep().await.unwrap();
    assert_eq!((sweep.enqueued, sweep.requeued), (1, 1));
    // A second pass finds both in the queue: nothing to do.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        sweeper.sweep().await.unwrap(),
        server::delivery::sweeper::Sweep::default()
    );

    let _engine = app.start_engine();
    wait_for_status(&app, unqueued, "delivered", Duration::from_secs(10)).await;
    wait_for_status(&app, lost, "delivered", Duration::from_secs(10)).await;
    assert_eq!(receiver.received().len(), 2);
}

#[tokio::test]
async fn a_row_whose_last_attempt_never_ended_is_failed_without_another_call() {
    let receiver = Receiver::start(Answer::Ok).await;
    let app = app_for(&receiver).await;
    let id = outbox_row(&app, &receiver, "spent").await;
    // Four attempts started, the last by a worker that died mid-send (no outcome recorded);
    // its job comes back, as after a crash or a Redis that lost its data.
    sqlx::query("UPDATE notification_deliveries SET status = 'sending', attempts = 4 WHERE id = $1")
        .bind(id)
        .execute(&app.db)
        .await
        .unwrap();
    assert!(app.state.deliveries.enqueue(id).await);
    let _engine = app.start_engine();
    let (_, attempts, last_error) = wait_for_status(&app, id, "failed", Duration::from_secs(10)).await;
    assert_eq!(attempts, 4, "no fifth attempt");
    assert!(last_error.unwrap().contains("without an outcome"));
    assert!(receiver.received().is_empty(), "the receiver got no fifth call");
    let text = metrics_text(&app).await;
    assert_eq!(
        metric(
            &text,
            r#"hub_notify_deliveries_total{kind="costAlert",outcome="failed"}"#
        ),
        1.0
    );
}

#[tokio::test]
async fn a_short_database_outage_delays_a_delivery_without_spending_its_attempts() {
    let receiver = Receiver::start(Answer::Ok).await;
    let app = app_for(&receiver).await;
    let proxy = common::proxy::TcpProxy::start(&app.database_address()).await;
    // The only worker is the instance whose database goes away.
    let worker = app.twin_through(&proxy).await;
    let _engine = worker.start_engine();

    proxy.cut();
    let id = app
        .state
        .deliveries
        .raise(&notification(&app, NotificationKind::CostAlert, &receiver.url(), "outage-short").await)
        .await
        .unwrap();
    let Raised::Queued(id) = id else {
        panic!("queued: {id:?}")
    };
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(receiver.received().is_empty(), "nothing can be sent without the row");
    proxy.restore();

    let (_, attempts, _) = wait_for_status(&app, id, "delivered", Duration::from_secs(30)).await;
    assert_eq!(attempts, 1, "one webhook attempt");
    let job = app
        .state
        .deliveries
        .queue()
        .job(&server::delivery::engine::job_id(id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        job.attempts, 1,
        "the outage was waited out, not counted as failed attempts"
    );
    assert_eq!(receiver.received().len(), 1);
}

#[tokio::test]
async fn a_job_failed_by_a_long_database_outage_gets_its_attempts_back_from_the_sweeper() {
    let receiver = Receiver::start(Answer::Ok).await;
    let app = app_for(&receiver).await;
    let proxy = common::proxy::TcpProxy::start(&app.database_address()).await;
    // The worker is the real delivery handler of an instance whose PostgreSQL is behind the
    // proxy. It waits for the database as in production, only for less long (there: pauses of
    // 17.75 s and up to 5 s a try, which four attempts would take minutes to go through).
    let worker = app
        .twin_through_with(&proxy, |c| c.database.acquire_timeout = Duration::from_millis(200))
        .await;
    let handler = server::delivery::engine::DeliveryHandler::new(
        worker.state.deliveries.outbox().clone(),
        worker.state.sender.clone(),
        worker.state.targets.clone(),
        worker.state.metrics.clone(),
        worker.state.deliveries.queue().config().max_attempts,
    )
    .with_outbox_patience(server::platform::retry::Backoff::doubling(
        2,
        Duration::from_millis(100),
    ));
    let queue = worker.state.deliveries.queue().clone();

    proxy.cut();
    let Raised::Queued(id) = app
        .state
        .deliveries
        .raise(&notification(&app, NotificationKind::CostAlert, &receiver.url(), "outage-long").await)
        .await
        .unwrap()
    else {
        panic!("queued")
    };
    // All four attempts (1 s, 2 s, 4 s apart) go to the outage.
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let redis_config = fred::types::config::Config::from_url(app.state.config.redis.url.expose()).unwrap();
    let down = server::delivery::queue::Worker::new(queue.clone(), redis_config, 1, std::sync::Arc::new(handler));
    let down = tokio::spawn(down.run(shutdown));
    let job_id = server::delivery::engine::job_id(id);
    let job = eventually(Duration::from_secs(60), "the job to fail", || async {
        let job = queue.job(&job_id).await.unwrap()?;
        (job.state == server::delivery::queue::JobState::Failed).then_some(job)
    })
    .await;
    stop.send(true).unwrap();
    down.await.unwrap();
    assert_eq!(job.attempts, 4);
    let error = job.last_error.unwrap_or_default();
    assert!(error.starts_with("outbox unavailable: "), "{error}");
    let (status, attempts, _) = row(&app, id).await;
    assert_eq!(
        (status.as_str(), attempts),
        ("pending", 0),
        "no webhook attempt was made"
    );
    assert!(receiver.received().is_empty());

    let sweeper = server::delivery::sweeper::Sweeper::new(
        app.state.deliveries.clone(),
        Duration::from_secs(86_400),
        app.state.metrics.clone(),
    )
    .with_idle_after(Duration::ZERO);
    let sweep = sweeper.sweep().await.unwrap();
    assert_eq!((sweep.retried, sweep.failed), (1, 0), "{sweep:?}");
    let _engine = app.start_engine();
    let (_, attempts, _) = wait_for_status(&app, id, "delivered", Duration::from_secs(30)).await;
    assert_eq!(attempts, 1);
    assert_eq!(receiver.received().len(), 1);
}

#[tokio::test]
async fn a_burst_to_one_webhook_waits_for_its_rate_limit_without_spending_attempts() {
    let receiver = Receiver::start(Answer::Ok).await;
    // 2 sends per 2 s and webhook: 5 notifications arrive as 2, 2, 1, about 2 s apart.
    let app = TestApp::spawn_with(&[
        ("WEBHOOK_ALLOWLIST", &receiver.allowlist_entry()),
        ("WEBHOOK_RATE_LIMIT", "2/2"),
    ])
    .await;
    let _engine = app.start_engine();
    let started = std::time::Instant::now();
    let mut ids = Vec::new();
    for i in 0..5 {
        let raised = app
            .state
            .deliveries
            .raise(
                &notification(
                    &app,
                    NotificationKind::CircuitBreaker,
                    &receiver.url(),
                    &format!("burst-{i}"),
                )
                .await,
            )
            .await
            .unwrap();
        let Raised::Queued(id) = raised else {
            panic!("queued: {raised:?}")
        };
        ids.push(id);
    }
    // A row waiting for its budget has had no attempt: it reads pending, not sending.
    eventually(Duration::from_secs(15), "a row given back its attempt", || async {
        let given_back: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM notification_deliveries
              WHERE id = ANY($1) AND status = 'pending' AND attempts = 0 AND updated_at > created_at",
        )
        .bind(&ids)
        .fetch_one(&app.db)
        .await
        .unwrap();
        (given_back > 0).then_some(())
    })
    .await;
    for id in &ids {
        let (_, attempts, last_error) = wait_for_status(&app, *id, "delivered", Duration::from_secs(30)).await;
        assert_eq!((attempts, last_error), (1, None), "the waits are not attempts");
    }
    let mut arrivals: Vec<Duration> = receiver
        .received()
        .iter()
        .filter(|r| r.idempotency_key.as_deref().is_some_and(|k| k.starts_with("burst-")))
        .map(|r| r.at.duration_since(started))
        .collect();
    arrivals.sort();
    assert_eq!(arrivals.len(), 5);
    // No window of 2 s holds more than 2 of them.
    for pair in arrivals.windows(3) {
        assert!(
            pair[2] - pair[0] >= Duration::from_millis(1900),
            "three sends within 2 s: {arrivals:?}"
        );
    }
}

#[tokio::test]
async fn another_robots_budget_is_its_own() {
    let receiver = Receiver::start(Answer::Ok).await;
    // One send a minute per robot: a second message to the same robot waits a minute, which
    // this test never does.
    let app = TestApp::spawn_with(&[
        ("WEBHOOK_ALLOWLIST", &receiver.allowlist_entry()),
        ("WEBHOOK_RATE_LIMIT", "1/60"),
    ])
    .await;
    let _engine = app.start_engine();
    let raise = |url: String, key: &'static str| {
        let app = &app;
        async move {
            let n = notification(app, NotificationKind::CircuitBreaker, &url, key).await;
            match app.state.deliveries.raise(&n).await.unwrap() {
                Raised::Queued(id) => id,
                other => panic!("queued: {other:?}"),
            }
        }
    };
    let first = raise(receiver.url(), "robot-a-1").await;
    wait_for_status(&app, first, "delivered", Duration::from_secs(30)).await;
    let waiting = raise(receiver.url(), "robot-a-2").await;
    let other_url = format!("http://{}/cgi-bin/webhook/send?key=other-robot", receiver.addr);
    let other = raise(other_url, "robot-b-1").await;
    let (_, attempts, _) = wait_for_status(&app, other, "delivered", Duration::from_secs(30)).await;
    assert_eq!(attempts, 1);
    // Robot A's second message still waits for its minute.
    assert_ne!(row(&app, waiting).await.0, "delivered", "robot A's budget held");
    let keys: Vec<_> = receiver
        .received()
        .iter()
        .filter_map(|r| r.idempotency_key.clone())
        .collect();
    assert_eq!(keys, ["robot-a-1", "robot-b-1"]);
}
