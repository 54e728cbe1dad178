//! 用户, 供应商 and the dashboard's own consumption, through their server functions over HTTP
//! against a running server: spending per window, editing quotas and breaker settings (with
//! validation), and who may do what.
#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)] // a panic is the test's failure report

mod common;

use app::error::AppError;
use app::notifications::FieldProblem;
use app::usage::{CircuitState, ProviderUsage, UsageLevel, UsageWindow, UserUsage};
use chrono::{DateTime, Datelike, Duration, Utc};
use common::{TestApp, ADMIN_TOKEN, INGEST_TOKEN};
use leptos::server_fn::ServerFn;
use reqwest::StatusCode;
use rust_decimal::Decimal;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

const USER: i64 = 7;
const PROVIDER: i64 = 3;

fn event(request_id: &str, user_id: i64, provider_id: i64, cost: &str, success: bool, at: DateTime<Utc>) -> Value {
    json!({
        "requestId": request_id,
        "userId": user_id, "userName": format!("用户{user_id}"),
        "providerId": provider_id, "providerName": format!("供应商{provider_id}"),
        "model": "claude-sonnet-4",
        "costUsd": cost.parse::<f64>().unwrap(),
        "inputTokens": 100, "outputTokens": 20,
        "success": success,
        "statusCode": if success { 200 } else { 529 },
        "createdAt": at.to_rfc3339(),
    })
}

async fn ingest(app: &TestApp, events: Vec<Value>) {
    let res = app
        .client()
        .post(app.url("/api/v1/usage"))
        .bearer_auth(INGEST_TOKEN)
        .json(&json!({ "events": events }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let report: Value = res.json().await.unwrap();
    assert_eq!(report["rejected"], json!([]), "{report}");
}

/// A browser session signed in with `token`.
async fn session(app: &TestApp, token: &str) -> reqwest::Client {
    let client = app.client();
    let res = app.sign_in(&client, token).await;
    assert!(res.status().is_redirection(), "sign-in: {}", res.status());
    client
}

/// Calls a server function as the page does: `None` = no arguments (URL-encoded), `Some` = the
/// JSON arguments. Answers the status and the body.
async fn call(client: &reqwest::Client, app: &TestApp, path: &str, args: Option<Value>) -> (StatusCode, String) {
    let req = client.post(app.url(path));
    let req = match args {
        Some(args) => req.json(&args),
        None => req.header("content-type", "application/x-www-form-urlencoded").body(""),
    };
    let res = req.send().await.unwrap();
    (res.status(), res.text().await.unwrap())
}

async fn ok<T: DeserializeOwned>(client: &reqwest::Client, app: &TestApp, path: &str, args: Option<Value>) -> T {
    let (status, body) = call(client, app, path, args).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

async fn failure(client: &reqwest::Client, app: &TestApp, path: &str, args: Option<Value>) -> (StatusCode, AppError) {
    let (status, body) = call(client, app, path, args).await;
    let error = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"));
    (status, error)
}

fn list_users() -> &'static str {
    app::api::usage::ListUserUsage::PATH
}
fn list_providers() -> &'static str {
    app::api::usage::ListProviderUsage::PATH
}
fn update_user() -> &'static str {
    app::api::usage::UpdateUserQuotas::PATH
}
fn update_provider() -> &'static str {
    app::api::usage::UpdateProviderSettings::PATH
}
fn my_usage() -> &'static str {
    app::api::usage::MyUsage::PATH
}

/// `12.3` → `"12.3000"`: the 4-decimal form amounts are shown in.
fn usd(amount: Decimal) -> String {
    let mut a = amount.round_dp(4);
    a.rescale(4);
    a.to_string()
}

/// What the events spent in each window, computed independently of the server: 5 hours back
/// from `now`, and the calendar day, week (from Monday) and month in `tz`.
fn expected(events: &[(DateTime<Utc>, &str)], now: DateTime<Utc>, tz: chrono_tz::Tz) -> Vec<(UsageWindow, String)> {
    let today = now.with_timezone(&tz).date_naive();
    let monday = today - Duration::days(i64::from(today.weekday().num_days_from_monday()));
    let first = today.with_day(1).unwrap();
    let sum = |keep: &dyn Fn(DateTime<Utc>) -> bool| {
        usd(events
            .iter()
            .filter(|(at, _)| keep(*at))
            .map(|(_, cost)| cost.parse::<Decimal>().unwrap())
            .sum())
    };
    let day_of = |at: DateTime<Utc>| at.with_timezone(&tz).date_naive();
    vec![
        (UsageWindow::FiveHours, sum(&|at| at >= now - Duration::hours(5))),
        (UsageWindow::Day, sum(&|at| day_of(at) >= today)),
        (UsageWindow::Week, sum(&|at| day_of(at) >= monday)),
        (UsageWindow::Month, sum(&|at| day_of(at) >= first)),
    ]
}

fn spent(windows: &[app::usage::WindowUsage]) -> Vec<(UsageWindow, String)> {
    windows.iter().map(|w| (w.window, w.spent_usd.clone())).collect()
}

#[tokio::test]
async fn users_and_providers_show_spending_per_window_and_edits_show_against_quotas() {
    let app = TestApp::spawn().await;
    let now = Utc::now();
    // Amounts whose sums identify the events: each window's total says which events it counted.
    // 4 h 58 min ago lies in a 15-minute bucket that starts before the rolling window: the edge
    // is read from the raw rows.
    let events = [
        (now - Duration::minutes(10), "1.2345"),
        (now - Duration::minutes(4 * 60 + 58), "0.25"),
        (now - Duration::hours(6), "2"),
        (now - Duration::days(8), "4"),
        (now - Duration::days(40), "8"),
    ];
    ingest(
        &app,
        events
            .iter()
            .enumerate()
            .map(|(i, (at, cost))| event(&format!("u{i}"), USER, PROVIDER, cost, true, *at))
            .chain([event("other", 8, 4, "100", true, now)])
            .collect(),
    )
    .await;
    let admin = session(&app, ADMIN_TOKEN).await;

    let users: Vec<UserUsage> = ok(&admin, &app, list_users(), None).await;
    assert_eq!(users.iter().map(|u| u.id).collect::<Vec<_>>(), vec![USER, 8]);
    let user = &users[0];
    assert_eq!(user.name, "用户7");
    let want = expected(&events, now, app.state.config.timezone);
    assert_eq!(spent(&user.windows), want);
    assert_eq!(want[0].1, "1.4845", "the 5-hour window counts the edge row");
    assert!(user
        .windows
        .iter()
        .all(|w| w.limit_usd.is_none() && w.percent.is_none() && w.level.is_none()));
    assert_eq!(spent(&users[1].windows)[0].1, "100.0000", "others' usage is theirs");

    // Quotas set through the page's server function show against the spending.
    let saved: UserUsage = ok(
        &admin,
        &app,
        update_user(),
        Some(json!({"id": USER, "quotas": {"limit5hUsd": "1.5", "limitDailyUsd": null, "limitWeeklyUsd": " 100 ", "limitMonthlyUsd": ""}})),
    )
    .await;
    assert_eq!(saved.quotas.limit_5h_usd.as_deref(), Some("1.5"));
    assert_eq!(saved.quotas.limit_weekly_usd.as_deref(), Some("100"));
    assert_eq!(saved.quotas.limit_monthly_usd, None, "blank = no quota");
    let five = &saved.windows[0];
    assert_eq!(five.limit_usd.as_deref(), Some("1.5000"));
    // 1.4845 / 1.5 = 98.97 %: red, as the cost alert grades it.
    assert_eq!(five.percent, Some(98.97));
    assert_eq!(five.level, Some(UsageLevel::Red));
    assert_eq!(saved.windows[1].level, None, "no daily quota");
    let week = &saved.windows[2];
    assert_eq!(week.limit_usd.as_deref(), Some("100.0000"));
    assert_eq!(week.level, Some(UsageLevel::Green));
    let stored: Option<Decimal> = sqlx::query_scalar("SELECT limit_5h_usd FROM users WHERE id = $1")
        .bind(USER)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(stored, Some("1.5".parse().unwrap()));
    // The list shows the same.
    let again: Vec<UserUsage> = ok(&admin, &app, list_users(), None).await;
    assert_eq!(again[0], saved);

    let providers: Vec<ProviderUsage> = ok(&admin, &app, list_providers(), None).await;
    assert_eq!(providers.iter().map(|p| p.id).collect::<Vec<_>>(), vec![PROVIDER, 4]);
    let provider = &providers[0];
    assert_eq!(provider.name, "供应商3");
    let calendar: Vec<_> = want
        .iter()
        .filter(|(w, _)| UsageWindow::PROVIDER.contains(w))
        .cloned()
        .collect();
    assert_eq!(spent(&provider.windows), calendar);
    assert_eq!(provider.circuit_state, CircuitState::Closed);
    assert_eq!(provider.open_until, None);
    let cb = provider.settings.circuit_breaker;
    assert_eq!(
        (
            cb.failure_threshold,
            cb.open_duration_ms,
            cb.half_open_success_threshold
        ),
        (5, 1_800_000, 2),
        "the defaults"
    );

    let saved: ProviderUsage = ok(
        &admin,
        &app,
        update_provider(),
        Some(
            json!({"id": PROVIDER, "settings": {"limitWeeklyUsd": "50", "limitMonthlyUsd": null,
            "circuitBreaker": {"failureThreshold": 3, "openDurationMs": 60000, "halfOpenSuccessThreshold": 1}}}),
        ),
    )
    .await;
    assert_eq!(saved.settings.limit_weekly_usd.as_deref(), Some("50"));
    assert_eq!(saved.settings.circuit_breaker.failure_threshold, 3);
    assert_eq!(saved.windows[0].limit_usd.as_deref(), Some("50.0000"));
    let row: (i32, i64, i32) = sqlx::query_as(
        "SELECT breaker_failure_threshold, breaker_open_duration_ms, breaker_half_open_success_threshold
           FROM providers WHERE id = $1",
    )
    .bind(PROVIDER)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(row, (3, 60_000, 1));

    // Scripts read the same figures over REST.
    let tz = app.state.config.timezone;
    let today = i64::try_from(
        events
            .iter()
            .filter(|(at, _)| at.with_timezone(&tz).date_naive() == now.with_timezone(&tz).date_naive())
            .count(),
    )
    .unwrap();
    let amount = |text: &str| json!(text.parse::<f64>().unwrap());
    let total = json!(events
        .iter()
        .map(|(_, cost)| cost.parse::<Decimal>().unwrap())
        .sum::<Decimal>()
        .to_string()
        .parse::<f64>()
        .unwrap());
    let (status, users) = app.admin_call(reqwest::Method::GET, "/api/v1/usage/users", None).await;
    assert_eq!(status, 200, "{users}");
    assert_eq!(
        users[0],
        json!({
            "id": USER, "name": "用户7", "source": "http", "sourceId": null, "readOnly": false, "state": "active",
            "spend": {"fiveHours": amount(&want[0].1), "today": amount(&want[1].1), "week": amount(&want[2].1),
                      "month": amount(&want[3].1), "total": total},
            "quotas": {"fiveHours": 1.5, "today": null, "week": 100.0, "month": null, "total": null},
            "dailyReset": {"mode": "fixed", "time": "00:00"},
            "today": {"requests": today, "tokens": today * 120},
        })
    );
    let (status, providers) = app
        .admin_call(reqwest::Method::GET, "/api/v1/usage/providers", None)
        .await;
    assert_eq!(status, 200, "{providers}");
    assert_eq!(
        providers[0],
        json!({
            "id": PROVIDER, "name": "供应商3", "source": "http", "sourceId": null, "readOnly": false,
            "state": "active",
            // Every window, as a gateway may set a quota on any (the page shows 本周 and 本月 here).
            "spend": {"fiveHours": amount(&want[0].1), "today": amount(&want[1].1), "week": amount(&want[2].1),
                      "month": amount(&want[3].1), "total": total},
            "quotas": {"fiveHours": null, "today": null, "week": 50.0, "month": null, "total": null},
            "dailyReset": {"mode": "fixed", "time": "00:00"},
            "today": {"requests": today, "tokens": today * 120},
            "circuit": {"state": "CLOSED", "consecutiveFailures": 0, "openUntil": null,
                        "settings": {"failureThreshold": 3, "openDurationMs": 60000, "halfOpenSuccessThreshold": 1}},
        })
    );
    let user = app.create_user(99, "普通用户").await;
    let res = app
        .client()
        .get(app.url("/api/v1/usage/users"))
        .bearer_auth(user)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "admins only");
}

#[tokio::test]
async fn invalid_values_are_named_per_field_and_change_nothing() {
    let app = TestApp::spawn().await;
    ingest(&app, vec![event("v1", USER, PROVIDER, "1", true, Utc::now())]).await;
    let admin = session(&app, ADMIN_TOKEN).await;
    ok::<UserUsage>(
        &admin,
        &app,
        update_user(),
        Some(json!({"id": USER, "quotas": {"limit5hUsd": "2.5", "limitDailyUsd": null, "limitWeeklyUsd": null, "limitMonthlyUsd": null}})),
    )
    .await;

    let (status, error) = failure(
        &admin,
        &app,
        update_user(),
        Some(json!({"id": USER, "quotas": {"limit5hUsd": "-1", "limitDailyUsd": "0", "limitWeeklyUsd": "1.23456", "limitMonthlyUsd": "abc"}})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let AppError::Validation(fields) = error else {
        panic!("{error:?}")
    };
    assert_eq!(
        fields.0.keys().map(String::as_str).collect::<Vec<_>>(),
        vec!["limit5hUsd", "limitDailyUsd", "limitMonthlyUsd", "limitWeeklyUsd"]
    );
    assert!(fields.0.values().all(|p| *p == FieldProblem::Amount));
    let stored: Option<Decimal> = sqlx::query_scalar("SELECT limit_5h_usd FROM users WHERE id = $1")
        .bind(USER)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(stored, Some("2.5".parse().unwrap()), "nothing changed");

    let (status, error) = failure(
        &admin,
        &app,
        update_provider(),
        Some(
            json!({"id": PROVIDER, "settings": {"limitWeeklyUsd": "10000000000", "limitMonthlyUsd": null,
            "circuitBreaker": {"failureThreshold": 0, "openDurationMs": 999, "halfOpenSuccessThreshold": 11}}}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let AppError::Validation(fields) = error else {
        panic!("{error:?}")
    };
    assert_eq!(
        fields.get("circuitBreaker.failureThreshold"),
        Some(&FieldProblem::OutOfRange { min: 1, max: 100 })
    );
    assert_eq!(
        fields.get("circuitBreaker.openDurationMs"),
        Some(&FieldProblem::OutOfRange {
            min: 1000,
            max: 86_400_000
        })
    );
    assert_eq!(
        fields.get("circuitBreaker.halfOpenSuccessThreshold"),
        Some(&FieldProblem::OutOfRange { min: 1, max: 10 })
    );
    assert_eq!(fields.get("limitWeeklyUsd"), Some(&FieldProblem::Amount));
    let threshold: i32 = sqlx::query_scalar("SELECT breaker_failure_threshold FROM providers WHERE id = $1")
        .bind(PROVIDER)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(threshold, 5, "nothing changed");

    // The REST API answers with the same paths and messages.
    let res = app
        .client()
        .put(app.url(&format!("/api/v1/providers/{PROVIDER}")))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"limitWeeklyUsd": null, "limitMonthlyUsd": 0,
            "circuitBreaker": {"failureThreshold": 101, "openDurationMs": 60000, "halfOpenSuccessThreshold": 1}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body["fields"],
        json!({
            "circuitBreaker.failureThreshold": "must be between 1 and 100",
            "limitMonthlyUsd": "must be null or a positive amount below 1e10 with at most 4 decimals"
        })
    );

    // Unknown ids are named, and nothing is created.
    let (status, error) = failure(
        &admin,
        &app,
        update_user(),
        Some(json!({"id": 999, "quotas": {"limit5hUsd": null, "limitDailyUsd": null, "limitWeeklyUsd": null, "limitMonthlyUsd": null}})),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error, AppError::NotFound("no user 999".into()));
    let (status, error) = failure(
        &admin,
        &app,
        update_provider(),
        Some(
            json!({"id": 999, "settings": {"limitWeeklyUsd": null, "limitMonthlyUsd": null,
            "circuitBreaker": {"failureThreshold": 5, "openDurationMs": 60000, "halfOpenSuccessThreshold": 2}}}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error, AppError::NotFound("no provider 999".into()));
    let providers: i64 = sqlx::query_scalar("SELECT count(*) FROM providers")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(providers, 1);
}

#[tokio::test]
async fn only_admins_list_and_edit_while_each_user_sees_their_own() {
    let app = TestApp::spawn().await;
    let key = app.create_user(USER, "张三").await;
    let now = Utc::now();
    ingest(
        &app,
        vec![
            event("m1", USER, PROVIDER, "0.5", true, now),
            event("m2", 8, PROVIDER, "9", true, now),
        ],
    )
    .await;
    let user = session(&app, &key).await;
    let quotas = json!({"id": USER, "quotas": {"limit5hUsd": "1000", "limitDailyUsd": null, "limitWeeklyUsd": null, "limitMonthlyUsd": null}});
    let settings = json!({"id": PROVIDER, "settings": {"limitWeeklyUsd": null, "limitMonthlyUsd": null,
        "circuitBreaker": {"failureThreshold": 5, "openDurationMs": 60000, "halfOpenSuccessThreshold": 2}}});
    for (path, args) in [
        (list_users(), None),
        (list_providers(), None),
        (update_user(), Some(quotas.clone())),
        (update_provider(), Some(settings.clone())),
    ] {
        let (status, error) = failure(&user, &app, path, args).await;
        assert_eq!((status, error), (StatusCode::FORBIDDEN, AppError::Forbidden), "{path}");
    }
    let limit: Option<Decimal> = sqlx::query_scalar("SELECT limit_5h_usd FROM users WHERE id = $1")
        .bind(USER)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(limit, None, "a user cannot raise their own quota");

    // The user's own consumption, and only theirs.
    let mine: Option<UserUsage> = ok(&user, &app, my_usage(), None).await;
    let mine = mine.expect("the user's usage");
    assert_eq!(mine.id, USER);
    assert!(mine.windows.iter().all(|w| w.spent_usd == "0.5000"), "{mine:?}");
    assert_eq!(
        mine.windows.iter().map(|w| w.window).collect::<Vec<_>>(),
        UsageWindow::USER.to_vec()
    );

    // The dashboard renders it on the server.
    let html = user
        .get(app.url("/dashboard"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("data-testid=\"my-usage\""), "{html}");
    assert!(html.contains("$0.5000"), "{html}");

    // The admin token has no gateway id: no usage of its own, and a pointer to 用户.
    let admin = session(&app, ADMIN_TOKEN).await;
    let none: Option<UserUsage> = ok(&admin, &app, my_usage(), None).await;
    assert_eq!(none, None);
    let html = admin
        .get(app.url("/dashboard"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("/settings/users") && !html.contains("data-testid=\"my-usage\""));

    // Signed out: nothing.
    let (status, _) = call(&app.client(), &app, my_usage(), None).await;
    assert!(
        status == StatusCode::UNAUTHORIZED || status.is_redirection(),
        "{status}"
    );
    // The pages themselves are admin-only.
    for path in ["/settings/users", "/settings/providers"] {
        let res = user.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{path}");
        let res = admin.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
    }
}

#[tokio::test]
async fn an_open_breaker_shows_with_its_reopening_time() {
    let app = TestApp::spawn().await;
    let now = Utc::now();
    ingest(
        &app,
        (0..5)
            .map(|i| event(&format!("f{i}"), USER, 9, "0", false, now))
            .chain([event("ok", USER, 10, "0", true, now)])
            .collect(),
    )
    .await;
    let admin = session(&app, ADMIN_TOKEN).await;
    let providers: Vec<ProviderUsage> = ok(&admin, &app, list_providers(), None).await;
    let open = providers.iter().find(|p| p.id == 9).unwrap();
    assert_eq!(open.circuit_state, CircuitState::Open);
    assert_eq!(open.consecutive_failures, 5);
    let until = DateTime::parse_from_rfc3339(open.open_until.as_deref().unwrap()).unwrap();
    let minutes = (until.with_timezone(&Utc) - now).num_minutes();
    assert!(
        (29..=30).contains(&minutes),
        "open for the default 30 minutes: {minutes}"
    );
    assert_eq!(until.offset().local_minus_utc(), 8 * 3600, "written in APP_TIMEZONE");
    let closed = providers.iter().find(|p| p.id == 10).unwrap();
    assert_eq!(
        (closed.circuit_state, closed.open_until.as_deref()),
        (CircuitState::Closed, None)
    );

    // The page renders the state on the server.
    let html = admin
        .get(app.url("/settings/providers"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("data-state=\"OPEN\""), "{html}");
}
