//! The Claude Code Hub source against a CCH database of the test's own (`common/cch.rs`, built
//! from CCH v0.9.2's schema) written the way CCH writes: requests inserted at their start and
//! updated at their finish, out of order, costs written after statuses, replays and warmup blocks
//! that CCH does not bill, a tail stopped mid-way and resumed by another instance, two instances
//! of which one tails, and a schema that is not CCH's.
#![allow(clippy::unwrap_used)] // a panic is the test's failure report

mod common;

use std::time::Duration;

use common::cch::CchDb;
use common::receiver::{Answer, Receiver};
use common::{eventually, TestApp};
use rust_decimal::Decimal;
use serde_json::Value;

async fn app_reading(cch: &CchDb, more: &[(&str, &str)]) -> TestApp {
    let mut vars = vec![("CCH_DATABASE_URL", cch.url.as_str()), ("CCH_POLL_INTERVAL", "1")];
    vars.extend_from_slice(more);
    TestApp::spawn_with(&vars).await
}

/// The stored CCH requests: (CCH's id, cost, success, status), by id.
async fn stored(app: &TestApp) -> Vec<(String, Decimal, bool, Option<i32>)> {
    sqlx::query_as(
        "SELECT request_id, cost_usd, success, status_code FROM usage_records
          WHERE request_id LIKE 'cch:%' ORDER BY length(request_id), request_id",
    )
    .fetch_all(&app.db)
    .await
    .unwrap()
}

async fn wait_for_stored(app: &TestApp, n: usize) -> Vec<(String, Decimal, bool, Option<i32>)> {
    eventually(Duration::from_secs(30), &format!("{n} CCH requests stored"), || async {
        let rows = stored(app).await;
        (rows.len() == n).then_some(rows)
    })
    .await
}

async fn cch_source(app: &TestApp) -> Value {
    let (status, sources) = app.admin_call(reqwest::Method::GET, "/api/v1/sources", None).await;
    assert_eq!(status, 200, "{sources}");
    sources
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "cch")
        .unwrap()
        .clone()
}

fn usd(text: &str) -> Decimal {
    text.parse().unwrap()
}

#[tokio::test]
async fn finished_requests_are_stored_once_with_final_values_whatever_order_they_finish_in() {
    let cch = CchDb::create().await;
    let alice = cch.user("张三").await;
    let (_, key) = cch.key(alice, "laptop").await;
    let first = cch.provider("Anthropic 官方").await;
    let backup = cch.provider("备用线路").await;
    let app = app_reading(&cch, &[]).await;
    let _engine = app.start_engine();

    // A slow request starts first; a quick one starts and finishes after it.
    let slow = cch.start(alice, &key, first, "/v1/messages").await;
    let quick = cch.start(alice, &key, first, "/v1/messages").await;
    cch.finish(quick, 200, Some(usd("0.01")), first, None).await;
    wait_for_stored(&app, 1).await;
    // The slow one finishes later, on the backup provider after a retry, its cost in a later
    // flush than its status.
    cch.finish(slow, 200, None, backup, None).await;
    wait_for_stored(&app, 2).await;
    cch.write_cost(slow, usd("0.25")).await;
    // Not billed: a replay, a warmup block, token counting.
    cch.guarded(alice, &key, None, true).await;
    cch.guarded(alice, &key, Some("warmup"), false).await;
    let counting = cch.start(alice, &key, first, "/v1/messages/count_tokens/").await;
    cch.finish(counting, 200, Some(usd("0.5")), first, None).await;
    // A failure.
    let failed = cch.start(alice, &key, first, "/v1/messages").await;
    cch.finish(failed, 529, None, first, Some("overloaded_error")).await;

    let rows = eventually(Duration::from_secs(30), "the final values", || async {
        let rows = stored(&app).await;
        (rows.len() == 3 && rows.iter().any(|r| r.1 == usd("0.25"))).then_some(rows)
    })
    .await;
    assert_eq!(
        rows,
        [
            (format!("cch:{slow}"), usd("0.25"), true, Some(200)),
            (format!("cch:{quick}"), usd("0.01"), true, Some(200)),
            (format!("cch:{failed}"), Decimal::ZERO, false, Some(529)),
        ]
    );
    // The slow request counts against the provider that served it, under CCH's names.
    let names: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT r.request_id, u.name, p.name FROM usage_records r
           JOIN users u ON u.id = r.user_id JOIN providers p ON p.id = r.provider_id
          WHERE u.source = 'cch' AND p.source = 'cch' ORDER BY r.request_id",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert!(
        names.contains(&(format!("cch:{slow}"), "张三".into(), "备用线路".into())),
        "{names:?}"
    );
    assert!(names.contains(&(format!("cch:{quick}"), "张三".into(), "Anthropic 官方".into())));
    // The rollups hold the final cost once: 0.01 + 0.25.
    let day: Decimal = sqlx::query_scalar(
        "SELECT sum(d.cost_usd) FROM usage_user_daily d JOIN users u ON u.id = d.user_id WHERE u.source = 'cch'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(day, usd("0.26"));
    let requests: i64 = sqlx::query_scalar("SELECT sum(requests)::bigint FROM usage_user_buckets")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(requests, 3);

    let source = cch_source(&app).await;
    assert_eq!(source["enabled"], true);
    assert_eq!(source["lastHour"]["accepted"], 3, "{source}");
    assert_eq!(source["lastHour"]["revised"], 1, "{source}");
    assert!(source["tail"]["activeInstance"].is_string(), "{source}");
    assert!(source["tail"]["lastError"].is_null(), "{source}");
    assert!(source["tail"]["lagSeconds"].is_number(), "{source}");
}

#[tokio::test]
async fn a_tail_stopped_mid_way_is_resumed_by_another_instance_without_counting_twice() {
    let cch = CchDb::create().await;
    let user = cch.user("李四").await;
    let (_, key) = cch.key(user, "ci").await;
    let provider = cch.provider("Anthropic 官方").await;
    let app = app_reading(&cch, &[]).await;
    let engine = app.start_engine();
    for _ in 0..3 {
        let id = cch.start(user, &key, provider, "/v1/messages").await;
        cch.finish(id, 200, Some(usd("0.1")), provider, None).await;
    }
    let running = cch.start(user, &key, provider, "/v1/messages").await;
    wait_for_stored(&app, 3).await;
    engine.stop().await;

    // While no instance tails: the running request finishes, others come and go.
    cch.finish(running, 200, Some(usd("0.1")), provider, None).await;
    for _ in 0..2 {
        let id = cch.start(user, &key, provider, "/v1/messages").await;
        cch.finish(id, 200, Some(usd("0.1")), provider, None).await;
    }
    // Another instance of the deployment takes over once the lease of the first runs out.
    let other = app.twin().await;
    let _engine = other.start_engine();
    let rows = eventually(Duration::from_secs(60), "the tail resumed", || async {
        let rows = stored(&app).await;
        (rows.len() == 6).then_some(rows)
    })
    .await;
    assert!(rows.iter().any(|r| r.0 == format!("cch:{running}")), "{rows:?}");
    let (requests, cost): (i64, Decimal) =
        sqlx::query_as("SELECT sum(requests)::bigint, sum(cost_usd) FROM usage_user_daily")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!((requests, cost), (6, usd("0.6")), "nothing counted twice");
}

#[tokio::test]
async fn of_two_instances_one_tails_and_the_other_takes_over_when_it_stops() {
    let cch = CchDb::create().await;
    let user = cch.user("王五").await;
    let (_, key) = cch.key(user, "dev").await;
    let provider = cch.provider("Anthropic 官方").await;
    let one = app_reading(&cch, &[]).await;
    let two = one.twin().await;
    // The first holds the lease before the second asks for it.
    let first = one.start_engine();
    let holder = eventually(Duration::from_secs(30), "an instance holding the lease", || async {
        cch_source(&one).await["tail"]["activeInstance"]
            .as_str()
            .map(str::to_owned)
    })
    .await;
    let _second = two.start_engine();
    for _ in 0..20 {
        let id = cch.start(user, &key, provider, "/v1/messages").await;
        cch.finish(id, 200, Some(usd("0.01")), provider, None).await;
    }
    wait_for_stored(&one, 20).await;
    assert_eq!(cch_source(&two).await["tail"]["activeInstance"], holder.as_str());

    // The holder stops (its lease is given up): the other takes over.
    first.stop().await;
    let next = eventually(Duration::from_secs(30), "another holder", || async {
        cch_source(&one).await["tail"]["activeInstance"]
            .as_str()
            .filter(|h| *h != holder)
            .map(str::to_owned)
    })
    .await;
    assert_ne!(next, holder);
    let id = cch.start(user, &key, provider, "/v1/messages").await;
    cch.finish(id, 200, Some(usd("0.01")), provider, None).await;
    wait_for_stored(&one, 21).await;
}

#[tokio::test]
async fn a_database_that_is_not_claude_code_hubs_is_reported_and_the_server_runs_on() {
    let cch = CchDb::create().await;
    cch.execute("ALTER TABLE message_request DROP COLUMN provider_chain")
        .await;
    let app = app_reading(&cch, &[]).await;
    let _engine = app.start_engine();
    let error = eventually(Duration::from_secs(30), "the schema reported", || async {
        cch_source(&app).await["tail"]["lastError"].as_str().map(str::to_owned)
    })
    .await;
    assert_eq!(
        error,
        "Claude Code Hub's database lacks message_request.provider_chain (this connector reads Claude Code Hub v0.9.x)"
    );
    let res = app.client().get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(res.status(), 200, "the process is ready");
}

#[tokio::test]
async fn five_failures_on_a_cch_provider_open_its_breaker_and_alert_once() {
    let receiver = Receiver::start(Answer::Ok).await;
    let cch = CchDb::create().await;
    let user = cch.user("张三").await;
    let (_, key) = cch.key(user, "laptop").await;
    let provider = cch.provider("Anthropic 官方").await;
    let app = app_reading(&cch, &[("WEBHOOK_ALLOWLIST", &receiver.allowlist_entry())]).await;
    let _engine = app.start_engine();
    app.enable_breaker_alerts(&receiver.url()).await;
    for _ in 0..5 {
        let id = cch.start(user, &key, provider, "/v1/messages").await;
        cch.finish(id, 429, None, provider, Some("rate_limit_exceeded")).await;
    }
    let alert = eventually(Duration::from_secs(30), "the breaker alert", || async {
        receiver.received().first().cloned()
    })
    .await;
    let content = alert.body["markdown"]["content"].as_str().unwrap();
    assert!(
        content.starts_with(&format!(
            "## 供应商熔断告警\n> 供应商 **Anthropic 官方** (ID: {provider}) 已触发熔断保护"
        )),
        "{content}"
    );
    assert!(content.contains("最后错误: `rate_limit_exceeded`"), "{content}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(receiver.received().len(), 1);
}

/// `GET /api/v1/usage/{what}`'s row for CCH's id `id`.
async fn listed(app: &TestApp, what: &str, id: i64) -> Option<Value> {
    let (status, rows) = app
        .admin_call(reqwest::Method::GET, &format!("/api/v1/usage/{what}"), None)
        .await;
    assert_eq!(status, 200, "{rows}");
    let wanted = id.to_string();
    rows.as_array()
        .unwrap()
        .iter()
        .find(|r| r["source"] == "cch" && r["sourceId"] == wanted.as_str())
        .cloned()
}

#[tokio::test]
async fn users_and_providers_are_kept_as_cch_has_them_within_a_poll_and_read_only_here() {
    let cch = CchDb::create().await;
    let alice = cch.user("张三").await;
    let bob = cch.user("李四").await;
    let carol = cch.user("王五").await;
    let main = cch.provider("Anthropic 官方").await;
    let odd = cch.provider("备用线路").await;
    // 0 and NULL mean no quota in CCH; a breaker CCH allows that this project does not.
    cch.execute(&format!(
        "UPDATE users SET limit_5h_usd = 0, daily_limit_usd = 10, limit_weekly_usd = 50.5 WHERE id = {alice};
         UPDATE providers SET circuit_breaker_failure_threshold = 3, circuit_breaker_open_duration = 60000,
                              circuit_breaker_half_open_success_threshold = 1, limit_weekly_usd = 500 WHERE id = {main};
         UPDATE providers SET circuit_breaker_failure_threshold = 0,
                              circuit_breaker_open_duration = 604800000 WHERE id = {odd};"
    ))
    .await;
    let app = app_reading(&cch, &[]).await;
    let _engine = app.start_engine();

    let row = eventually(Duration::from_secs(30), "CCH's users", || listed(&app, "users", alice)).await;
    assert_eq!(row["name"], "张三");
    assert_eq!(row["readOnly"], true);
    assert_eq!(row["state"], "active");
    assert_eq!(
        row["quotas"],
        serde_json::json!({"fiveHours": null, "today": 10.0, "week": 50.5, "month": null, "total": null})
    );
    assert!(row["id"].as_i64().unwrap() >= 1_000_000_000_000, "an id of ours: {row}");
    let main_row = listed(&app, "providers", main).await.unwrap();
    assert_eq!(
        main_row["circuit"]["settings"],
        serde_json::json!({"failureThreshold": 3, "openDurationMs": 60000, "halfOpenSuccessThreshold": 1})
    );
    assert_eq!(main_row["quotas"]["week"], 500.0);
    assert_eq!(
        listed(&app, "providers", odd).await.unwrap()["circuit"]["settings"],
        serde_json::json!({"failureThreshold": 1, "openDurationMs": 86_400_000, "halfOpenSuccessThreshold": 2}),
        "brought within this project's ranges"
    );

    // Changes in CCH arrive within a poll: a rename, a quota, a disabled user, a soft delete,
    // a breaker setting, a user removed altogether.
    cch.execute(&format!(
        "UPDATE users SET name = '张三丰', limit_monthly_usd = 200, updated_at = now() WHERE id = {alice};
         UPDATE users SET is_enabled = false WHERE id = {bob};
         DELETE FROM users WHERE id = {carol};
         UPDATE providers SET circuit_breaker_failure_threshold = 4, deleted_at = now() WHERE id = {main};"
    ))
    .await;
    let row = eventually(Duration::from_secs(30), "the rename", || async {
        listed(&app, "users", alice).await.filter(|r| r["name"] == "张三丰")
    })
    .await;
    assert_eq!(row["quotas"]["month"], 200.0);
    assert_eq!(listed(&app, "users", bob).await.unwrap()["state"], "disabled");
    assert_eq!(listed(&app, "users", carol).await.unwrap()["state"], "deleted");
    let main_row = listed(&app, "providers", main).await.unwrap();
    assert_eq!(main_row["state"], "deleted");
    assert_eq!(main_row["circuit"]["settings"]["failureThreshold"], 4);

    // Read-only here: their quotas are changed in CCH; nothing changes.
    let id = row["id"].as_i64().unwrap();
    let (status, answer) = app
        .admin_call(
            reqwest::Method::PUT,
            &format!("/api/v1/users/{id}"),
            Some(&serde_json::json!({"limit5hUsd": 1, "limitDailyUsd": null, "limitWeeklyUsd": null, "limitMonthlyUsd": null})),
        )
        .await;
    assert_eq!(status, 409, "{answer}");
    assert_eq!(
        answer["error"],
        format!("user {id} is kept by Claude Code Hub: change it there")
    );
    let provider_id = main_row["id"].as_i64().unwrap();
    let (status, _) = app
        .admin_call(
            reqwest::Method::PUT,
            &format!("/api/v1/providers/{provider_id}"),
            Some(&serde_json::json!({"limitWeeklyUsd": null, "limitMonthlyUsd": null,
                "circuitBreaker": {"failureThreshold": 9, "openDurationMs": 1000, "halfOpenSuccessThreshold": 1}})),
        )
        .await;
    assert_eq!(status, 409);
    assert_eq!(
        listed(&app, "users", alice).await.unwrap()["quotas"]["fiveHours"],
        Value::Null
    );
    assert_eq!(
        listed(&app, "providers", main).await.unwrap()["circuit"]["settings"]["failureThreshold"],
        4
    );
    // The page says so instead of offering the form.
    let page = app.admin_page("/settings/users").await;
    assert!(page.contains("Claude Code Hub #"), "{page}");
    assert!(page.contains("data-testid=\"read-only\""), "{page}");
}

#[tokio::test]
async fn with_cchs_redis_its_breakers_are_followed_opening_and_a_manual_reset_alike() {
    use fred::prelude::*;
    let receiver = Receiver::start(Answer::Ok).await;
    let cch = CchDb::create().await;
    // CCH's keys have no prefix: an id no other test's CCH hands out.
    let start = rand::random_range(1_000_000..1_000_000_000);
    cch.execute(&format!("ALTER SEQUENCE providers_id_seq RESTART WITH {start}"))
        .await;
    let user = cch.user("张三").await;
    let (_, key) = cch.key(user, "laptop").await;
    let provider = cch.provider("Anthropic 官方").await;
    let probe = TestApp::spawn().await;
    let redis_url = probe.state.config.redis.url.expose().to_owned();
    let cch_redis = probe.state.redis.clone();
    let hash = format!("circuit_breaker:state:{provider}");
    let _: i64 = cch_redis.del(&hash).await.unwrap();
    let app = app_reading(
        &cch,
        &[
            ("WEBHOOK_ALLOWLIST", &receiver.allowlist_entry()),
            ("CCH_REDIS_URL", &redis_url),
        ],
    )
    .await;
    let _engine = app.start_engine();
    app.enable_breaker_alerts(&receiver.url()).await;

    // Five failures: CCH's breaker decides, not ours — nothing opens while CCH's is closed.
    for _ in 0..5 {
        let id = cch.start(user, &key, provider, "/v1/messages").await;
        cch.finish(id, 429, None, provider, Some("rate_limit_exceeded")).await;
    }
    wait_for_stored(&app, 5).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(receiver.received().is_empty(), "no breaker computed here");

    // CCH opens it.
    let until = chrono::Utc::now() + chrono::Duration::minutes(30);
    let _: () = cch_redis
        .hset(
            &hash,
            [
                ("circuitState", "open".to_owned()),
                ("failureCount", "5".to_owned()),
                ("circuitOpenUntil", until.timestamp_millis().to_string()),
                ("lastFailureTime", chrono::Utc::now().timestamp_millis().to_string()),
                ("halfOpenSuccessCount", "0".to_owned()),
            ],
        )
        .await
        .unwrap();
    let _: bool = cch_redis.expire(&hash, 600, None).await.unwrap();
    let alert = eventually(Duration::from_secs(30), "the breaker alert", || async {
        receiver.received().first().cloned()
    })
    .await;
    let content = alert.body["markdown"]["content"].as_str().unwrap();
    assert!(
        content.starts_with(&format!(
            "## 供应商熔断告警\n> 供应商 **Anthropic 官方** (ID: {provider}) 已触发熔断保护"
        )),
        "{content}"
    );
    assert!(content.contains("失败次数: 5 次"), "{content}");
    assert!(content.contains("最后错误: `rate_limit_exceeded`"), "{content}");
    let row = listed(&app, "providers", provider).await.unwrap();
    assert_eq!(row["circuit"]["state"], "OPEN", "{row}");

    // An admin resets it in CCH: the recovery goes out, once.
    let _: () = cch_redis
        .hset(
            &hash,
            [
                ("circuitState", "closed".to_owned()),
                ("failureCount", "0".to_owned()),
                ("circuitOpenUntil", "null".to_owned()),
            ],
        )
        .await
        .unwrap();
    let recovery = eventually(Duration::from_secs(30), "the recovery", || async {
        receiver.received().get(1).cloned()
    })
    .await;
    let content = recovery.body["markdown"]["content"].as_str().unwrap();
    assert!(
        content.starts_with(&format!(
            "## 供应商熔断恢复\n> 供应商 **Anthropic 官方** (ID: {provider}) 已恢复正常"
        )),
        "{content}"
    );
    assert_eq!(
        listed(&app, "providers", provider).await.unwrap()["circuit"]["state"],
        "CLOSED"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(receiver.received().len(), 2, "each transition once");
    let _: i64 = cch_redis.del(&hash).await.unwrap();
}

#[tokio::test]
async fn keys_are_mirrored_under_their_owners_and_requests_carry_them_but_never_the_raw_key() {
    let cch = CchDb::create().await;
    let alice = cch.user("张三").await;
    let (laptop, raw) = cch.key(alice, "laptop").await;
    let (ci, _) = cch.key(alice, "ci").await;
    let provider = cch.provider("Anthropic 官方").await;
    cch.execute(&format!(
        "UPDATE keys SET limit_daily_usd = 5, limit_5h_usd = 0, limit_monthly_usd = 99.5 WHERE id = {laptop};
         UPDATE keys SET is_enabled = false WHERE id = {ci};"
    ))
    .await;
    let app = app_reading(&cch, &[]).await;
    let _engine = app.start_engine();
    let keys = || async {
        sqlx::query_as::<
            _,
            (
                String,
                String,
                String,
                Option<Decimal>,
                Option<Decimal>,
                Option<Decimal>,
                bool,
                bool,
            ),
        >(
            "SELECT k.source_ref, k.name, u.name, k.limit_5h_usd, k.limit_daily_usd, k.limit_monthly_usd, k.enabled,
                    k.deleted_at IS NOT NULL
               FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.source = 'cch' ORDER BY k.source_ref::int",
        )
        .fetch_all(&app.db)
        .await
        .unwrap()
    };
    let mirrored = eventually(Duration::from_secs(30), "CCH's keys", || async {
        let rows = keys().await;
        (rows.len() == 2).then_some(rows)
    })
    .await;
    assert_eq!(
        mirrored,
        [
            (
                laptop.to_string(),
                "laptop".into(),
                "张三".into(),
                None,
                Some(usd("5")),
                Some(usd("99.5")),
                true,
                false
            ),
            (
                ci.to_string(),
                "ci".into(),
                "张三".into(),
                None,
                None,
                None,
                false,
                false
            ),
        ]
    );

    // A request made with the laptop key counts against it.
    let id = cch.start(alice, &raw, provider, "/v1/messages").await;
    cch.finish(id, 200, Some(usd("0.2")), provider, None).await;
    wait_for_stored(&app, 1).await;
    let key: Option<String> = sqlx::query_scalar(
        "SELECT k.name FROM usage_records r LEFT JOIN api_keys k ON k.id = r.key_id WHERE r.request_id = $1",
    )
    .bind(format!("cch:{id}"))
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(key.as_deref(), Some("laptop"));

    // A key deleted in CCH is marked so; the raw key is nowhere in our database.
    cch.execute(&format!("UPDATE keys SET deleted_at = now() WHERE id = {ci}"))
        .await;
    eventually(Duration::from_secs(30), "the deletion", || async {
        keys().await.iter().any(|k| k.0 == ci.to_string() && k.7).then_some(())
    })
    .await;
    for table in ["usage_records", "api_keys", "users", "source_cursors", "source_notes"] {
        let found: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table} t WHERE t::text LIKE $1"))
            .bind(format!("%{raw}%"))
            .fetch_one(&app.db)
            .await
            .unwrap();
        assert_eq!(found, 0, "the raw key in {table}");
    }
}

#[tokio::test]
async fn cost_alerts_check_cchs_key_and_provider_quotas_and_name_a_key_with_its_owner() {
    let receiver = Receiver::start(Answer::Ok).await;
    let cch = CchDb::create().await;
    let alice = cch.user("张三").await;
    let (laptop, raw) = cch.key(alice, "laptop").await;
    let provider = cch.provider("Anthropic 官方").await;
    cch.execute(&format!(
        "UPDATE keys SET limit_daily_usd = 1, daily_reset_mode = 'rolling', limit_total_usd = 100 WHERE id = {laptop};
         UPDATE users SET limit_total_usd = 50, daily_reset_time = '18:30' WHERE id = {alice};
         UPDATE providers SET limit_5h_usd = 10, limit_daily_usd = 20, daily_reset_mode = 'rolling' WHERE id = {provider};"
    ))
    .await;
    let app = app_reading(&cch, &[("WEBHOOK_ALLOWLIST", &receiver.allowlist_entry())]).await;
    let _engine = app.start_engine();
    app.save_settings(&serde_json::json!({
        "enabled": true,
        "circuitBreaker": {"enabled": false, "webhookUrl": null},
        "dailyLeaderboard": {"enabled": false, "webhookUrl": null, "time": "09:00", "topN": 5},
        "costAlert": {"enabled": true, "webhookUrl": receiver.url(), "thresholdPercent": 80, "checkIntervalMinutes": 60}
    }))
    .await;
    let id = cch.start(alice, &raw, provider, "/v1/messages").await;
    cch.finish(id, 200, Some(usd("0.9")), provider, None).await;
    wait_for_stored(&app, 1).await;

    // Every quota and reset mode as CCH has it, on keys, users and providers.
    let key = eventually(Duration::from_secs(30), "the key's spending", || async {
        listed(&app, "keys", laptop)
            .await
            .filter(|k| k["spend"]["today"] == 0.9)
    })
    .await;
    assert_eq!(key["name"], "laptop");
    assert_eq!(key["owner"]["name"], "张三");
    assert_eq!(
        key["quotas"],
        serde_json::json!({"fiveHours": null, "today": 1.0, "week": null, "month": null, "total": 100.0})
    );
    assert_eq!(key["dailyReset"], serde_json::json!({"mode": "rolling"}));
    assert_eq!(key["spend"]["total"], 0.9);
    let user = listed(&app, "users", alice).await.unwrap();
    assert_eq!(user["quotas"]["total"], 50.0);
    assert_eq!(
        user["dailyReset"],
        serde_json::json!({"mode": "fixed", "time": "18:30"})
    );
    // 用户 lists the key under the users, with its owner and its 累计 against the total quota.
    let page = app.admin_page("/settings/users").await;
    assert!(page.contains("data-testid=\"keys-table\""), "{page}");
    assert!(page.contains("data-testid=\"key-name\">laptop"), "{page}");
    assert!(page.contains("data-testid=\"key-owner\""), "{page}");
    assert!(page.contains("\">张三<"), "{page}");
    assert!(page.contains("$100.0000"), "the total quota: {page}");
    let provider_row = listed(&app, "providers", provider).await.unwrap();
    assert_eq!(provider_row["quotas"]["fiveHours"], 10.0);
    assert_eq!(provider_row["quotas"]["today"], 20.0);
    assert_eq!(provider_row["dailyReset"], serde_json::json!({"mode": "rolling"}));

    // 0.9 of the key's 1 a day: its alert names the key and its owner; nothing else is near.
    let (status, report) = app
        .admin_call(reqwest::Method::POST, "/api/v1/notifications/run/costAlert", None)
        .await;
    assert_eq!(status, 200, "{report}");
    let alert = eventually(Duration::from_secs(10), "the cost alert", || async {
        receiver.received().first().cloned()
    })
    .await;
    let content = alert.body["markdown"]["content"].as_str().unwrap();
    assert!(
        content.starts_with("## 成本预警提醒\n> 用户 **张三** 的密钥 **laptop** 的消费已达到预警阈值\n"),
        "{content}"
    );
    assert!(
        content.contains("当前消费: $0.9000") && content.contains("使用比例: **90.0%** 🔴"),
        "{content}"
    );
    assert!(content.contains("统计周期: 24 小时"), "{content}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(receiver.received().len(), 1);

    // A key disabled in CCH is not checked any more.
    cch.execute(&format!("UPDATE keys SET is_enabled = false WHERE id = {laptop}"))
        .await;
    eventually(Duration::from_secs(30), "the key disabled", || async {
        listed(&app, "keys", laptop).await.filter(|k| k["state"] == "disabled")
    })
    .await;
    use server::usage::spending::{self, Scope, Windows};
    let windows = Windows::at(chrono::Utc::now(), chrono_tz::UTC);
    let over = spending::keys(&app.db, &windows, Scope::AtOrOver(80)).await.unwrap();
    assert!(over.is_empty(), "the cost check's scope: {over:?}");
    assert_eq!(
        spending::keys(&app.db, &windows, Scope::All).await.unwrap().len(),
        1,
        "still listed"
    );
}
