//! The daily leaderboard, cost alerts and the scheduler, from ingested usage to a real local
//! receiver. APP_TIMEZONE is Asia/Shanghai (UTC+8) throughout, so day boundaries are not UTC's.
#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)] // a panic is the test's failure report

mod common;

use std::time::Duration;

use app::api::notifications::Skipped;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Asia::Shanghai;
use common::receiver::{Answer, Receiver};
use common::{eventually, TestApp, INGEST_TOKEN};
use serde_json::{json, Value};

fn event(id: &str, user: (i64, &str), provider: i64, cost: &str, at: DateTime<Utc>) -> Value {
    json!({
        "requestId": id, "userId": user.0, "userName": user.1,
        "providerId": provider, "providerName": format!("供应商{provider}"),
        "model": "claude-sonnet-4", "costUsd": cost.parse::<f64>().unwrap(),
        "inputTokens": 1_000_000, "outputTokens": 200_000, "success": true, "statusCode": 200,
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
    let body: Value = res.json().await.unwrap();
    assert!(body["rejected"].as_array().unwrap().is_empty(), "{body}");
}

async fn app_with(receiver: &Receiver, vars: &[(&str, &str)]) -> TestApp {
    let mut all = vec![
        ("WEBHOOK_ALLOWLIST", receiver.allowlist_entry()),
        ("APP_TIMEZONE", "Asia/Shanghai".into()),
    ];
    all.extend(vars.iter().map(|(k, v)| (*k, v.to_string())));
    let all: Vec<(&str, &str)> = all.iter().map(|(k, v)| (*k, v.as_str())).collect();
    TestApp::spawn_with(&all).await
}

fn settings(master: bool, url: &str, time: &str, threshold: i32) -> Value {
    json!({
        "enabled": master,
        "circuitBreaker": {"enabled": false, "webhookUrl": null},
        "dailyLeaderboard": {"enabled": true, "webhookUrl": url, "time": time, "topN": 2},
        "costAlert": {"enabled": true, "webhookUrl": url, "thresholdPercent": threshold, "checkIntervalMinutes": 10}
    })
}

async fn run_now(app: &TestApp, kind: &str) -> (u16, Value) {
    app.admin_call(
        reqwest::Method::POST,
        &format!("/api/v1/notifications/run/{kind}"),
        None,
    )
    .await
}

/// A cost check as of `now` (the clock injected, so no test depends on the hour it runs at),
/// through the path 立即发送 takes.
async fn check_costs_at(app: &TestApp, now: DateTime<Utc>) -> app::api::notifications::RunReport {
    app.state
        .runs
        .run(
            app::notifications::NotificationKind::CostAlert,
            server::notifications::schedule::runs::Trigger::Manual,
            now,
        )
        .await
        .unwrap()
}

/// Noon yesterday in Shanghai: a minute before it is in the same day, week and month.
fn yesterday_noon() -> DateTime<Utc> {
    local(
        Utc::now().with_timezone(&Shanghai).date_naive().pred_opt().unwrap(),
        12,
        0,
    )
}

async fn contents(receiver: &Receiver, n: usize) -> Vec<String> {
    let got = eventually(Duration::from_secs(10), &format!("{n} messages"), || async {
        let got = receiver.received();
        (got.len() >= n).then_some(got)
    })
    .await;
    got.iter()
        .map(|r| r.body["markdown"]["content"].as_str().unwrap().to_owned())
        .collect()
}

/// The cost alerts in the first messages received, until there are `n`: alerts of one check
/// travel together, separated by a blank line (an alert itself has none).
async fn alerts(receiver: &Receiver, n: usize) -> Vec<String> {
    eventually(Duration::from_secs(10), &format!("{n} alerts"), || async {
        let all: Vec<String> = receiver
            .received()
            .iter()
            .flat_map(|r| {
                r.body["markdown"]["content"]
                    .as_str()
                    .unwrap()
                    .split(server::channels::blocks::PART_SEPARATOR)
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect();
        (all.len() >= n).then_some(all)
    })
    .await
}

fn local(day: NaiveDate, h: u32, m: u32) -> DateTime<Utc> {
    Shanghai
        .from_local_datetime(&day.and_hms_opt(h, m, 0).unwrap())
        .unwrap()
        .with_timezone(&Utc)
}

#[tokio::test]
async fn the_leaderboard_covers_yesterday_in_app_timezone_ranked_and_cut_to_top_n() {
    let receiver = Receiver::start(Answer::Ok).await;
    let app = app_with(&receiver, &[]).await;
    let _engine = app.start_engine();
    app.save_settings(&settings(true, &receiver.url(), "09:00", 80)).await;
    let today = Utc::now().with_timezone(&Shanghai).date_naive();
    let yesterday = today.pred_opt().unwrap();
    ingest(
        &app,
        vec![
            // Yesterday from 00:00 to 23:59 local (16:00 UTC the day before to 15:59 UTC).
            event("a1", (1, "张三"), 1, "10.5", local(yesterday, 0, 0)),
            event("a2", (1, "张三"), 2, "1.8456", local(yesterday, 23, 59)),
            event("b1", (2, "李四"), 1, "8.7654", local(yesterday, 12, 0)),
            event("c1", (3, "王五"), 1, "5.4321", local(yesterday, 8, 0)),
            // Outside the day: today 00:00 local, and the day before yesterday 23:59 local.
            event("x1", (4, "赵六"), 1, "99", local(today, 0, 0).min(Utc::now())),
            event("x2", (4, "赵六"), 1, "99", local(yesterday.pred_opt().unwrap(), 23, 59)),
        ],
    )
    .await;
    let (status, report) = run_now(&app, "dailyLeaderboard").await;
    assert_eq!(status, 200, "{report}");
    let content = contents(&receiver, 1).await.remove(0);
    let expected_head = format!(
        "## 今日用户消费排行榜\n> 统计日期: **{yesterday}**\n**排名情况**\n🥇 **张三** (ID: 1)\n消费 $12.3456 · 请求 2 次 · Token 2.40M\n🥈 **李四** (ID: 2)\n消费 $8.7654 · 请求 1 次 · Token 1.20M\n---\n**今日总览**\n总请求 4 次 · 总消费 $26.5431\n"
    );
    assert!(
        content.starts_with(&expected_head),
        "got:\n{content}\nexpected to start with:\n{expected_head}"
    );
    assert!(!content.contains("王五"), "top 2 only");
    assert!(!content.contains("赵六"), "other days excluded");
}

#[tokio::test]
async fn a_day_without_usage_sends_a_short_message() {
    let receiver = Receiver::start(Answer::Ok).await;
    let app = app_with(&receiver, &[]).await;
    let _engine = app.start_engine();
    app.save_settings(&settings(true, &receiver.url(), "09:00", 80)).await;
    assert_eq!(run_now(&app, "dailyLeaderboard").await.0, 200);
    let content = contents(&receiver, 1).await.remove(0);
    assert!(content.contains("当日无用户消费记录"), "{content}");
}

#[tokio::test]
async fn cost_alerts_fire_once_per_window_and_level() {
    let receiver = Receiver::start(Answer::Ok).await;
    let app = app_with(&receiver, &[]).await;
    let _engine = app.start_engine();
    app.save_settings(&settings(true, &receiver.url(), "09:00", 80)).await;
    let now = yesterday_noon();
    ingest(
        &app,
        vec![event("u1", (1, "张三"), 1, "8.5", now - chrono::Duration::minutes(1))],
    )
    .await;
    sqlx::query("UPDATE users SET limit_daily_usd = 10 WHERE id = 1")
        .execute(&app.db)
        .await
        .unwrap();
    sqlx::query("UPDATE providers SET limit_monthly_usd = 9 WHERE id = 1")
        .execute(&app.db)
        .await
        .unwrap();

    let report = check_costs_at(&app, now).await;
    assert_eq!(report.over_threshold, Some(2), "{report:?}");
    let first = alerts(&receiver, 2).await;
    assert_eq!(
        receiver.received().len(),
        1,
        "the two alerts of one check travel together"
    );
    assert!(first[0].starts_with("## 成本预警提醒") && first[1].starts_with("## 成本预警提醒"));
    let user = first.iter().find(|c| c.contains("用户 **张三**")).expect("user alert");
    assert!(
        user.contains(
            "当前消费: $8.5000\n配额限制: $10.0000\n使用比例: **85.0%** 🟡\n剩余额度: $1.5000\n统计周期: 今日"
        ),
        "{user}"
    );
    let provider = first
        .iter()
        .find(|c| c.contains("供应商 **供应商1**"))
        .expect("provider alert");
    assert!(
        provider.contains("**94.4%** 🔴") && provider.contains("统计周期: 本月"),
        "{provider}"
    );

    // Still high, same level: quiet.
    let again = check_costs_at(&app, now + chrono::Duration::minutes(10)).await;
    assert_eq!(again.deliveries.len(), 0, "{again:?}");
    // The user reaches the next level: alerted again.
    ingest(
        &app,
        vec![event("u2", (1, "张三"), 1, "0.6", now - chrono::Duration::minutes(1))],
    )
    .await;
    let higher = check_costs_at(&app, now + chrono::Duration::minutes(20)).await;
    assert_eq!(higher.deliveries.len(), 1, "{higher:?}");
    let third = alerts(&receiver, 3).await;
    assert!(
        third[2].contains("**91.0%** 🔴") && third[2].contains("统计周期: 今日"),
        "{}",
        third[2]
    );
}

#[tokio::test]
async fn the_rolling_five_hours_count_the_partial_first_bucket() {
    let receiver = Receiver::start(Answer::Ok).await;
    let app = app_with(&receiver, &[]).await;
    let _engine = app.start_engine();
    app.save_settings(&settings(true, &receiver.url(), "09:00", 50)).await;
    // 7.5 minutes into a quarter hour, so the window's start falls inside a bucket (rollup
    // buckets are quarter hours; the partial one is read from raw rows). Recent: buckets older
    // than 6 h are pruned.
    let quarter = |t: DateTime<Utc>| t - chrono::Duration::seconds(t.timestamp().rem_euclid(900));
    let now = quarter(Utc::now() - chrono::Duration::minutes(8)) + chrono::Duration::seconds(450);
    ingest(
        &app,
        vec![
            // Just inside the window (in a bucket that straddles its start), and just outside.
            event("in", (5, "钱七"), 1, "3", now - chrono::Duration::minutes(299)),
            event("out", (5, "钱七"), 1, "50", now - chrono::Duration::minutes(301)),
        ],
    )
    .await;
    sqlx::query("UPDATE users SET limit_5h_usd = 5 WHERE id = 5")
        .execute(&app.db)
        .await
        .unwrap();
    let report = check_costs_at(&app, now).await;
    assert_eq!(report.over_threshold, Some(1), "{report:?}");
    let content = contents(&receiver, 1).await.remove(0);
    assert!(
        content.contains("当前消费: $3.0000") && content.contains("统计周期: 5 小时"),
        "{content}"
    );
}

#[tokio::test]
async fn run_now_refuses_unknown_types_and_switched_off_kinds() {
    let receiver = Receiver::start(Answer::Ok).await;
    let app = app_with(&receiver, &[]).await;
    assert_eq!(run_now(&app, "circuitBreaker").await.0, 400);
    assert_eq!(run_now(&app, "sms").await.0, 400);
    assert_eq!(run_now(&app, "dailyLeaderboard").await.0, 409, "master off by default");
    let res = app
        .client()
        .post(app.url("/api/v1/notifications/run/costAlert"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn in_production_a_save_replaces_the_schedule_and_a_fire_delivers_once() {
    let receiver = Receiver::start(Answer::Ok).await;
    let app = app_with(&receiver, &[("APP_ENV", "production"), ("COOKIE_SECURE", "false")]).await;
    let _engine = app.start_engine();
    let scheduler = app.state.settings.scheduler();
    app.save_settings(&settings(true, &receiver.url(), "09:30", 80)).await;
    assert_eq!(
        scheduler.scheduled().await,
        vec![
            server::notifications::schedule::plan::PlannedJob::DailyLeaderboard { time: "09:30".into() },
            server::notifications::schedule::plan::PlannedJob::CostCheck { minutes: 10 }
        ]
    );
    assert_eq!(
        scheduler.live_cron_jobs().await,
        2,
        "one tokio-cron-scheduler job per kind"
    );
    let first_jobs = scheduler.cron_job_ids().await;
    app.save_settings(&settings(true, &receiver.url(), "21:15", 80)).await;
    for id in &first_jobs {
        assert!(
            !scheduler.cron_job_live(*id).await,
            "the old job {id} is gone from the cron scheduler"
        );
    }
    assert_eq!(
        scheduler.scheduled().await[0],
        server::notifications::schedule::plan::PlannedJob::DailyLeaderboard { time: "21:15".into() },
        "the old time is gone"
    );
    assert_eq!(
        scheduler.live_cron_jobs().await,
        2,
        "the old jobs were removed, not kept beside the new"
    );
    let mut cost_off = settings(true, &receiver.url(), "21:15", 80);
    cost_off["costAlert"]["enabled"] = json!(false);
    app.save_settings(&cost_off).await;
    assert_eq!(
        scheduler.scheduled().await,
        vec![server::notifications::schedule::plan::PlannedJob::DailyLeaderboard { time: "21:15".into() }],
        "a kind switched off has no job"
    );
    assert_eq!(scheduler.live_cron_jobs().await, 1);
    app.save_settings(&settings(true, &receiver.url(), "21:15", 80)).await;

    // The clock injected: 21:15 local today (13:15 UTC, not a 10-minute mark): the leaderboard
    // is due, the cost check is not.
    let today = Utc::now().with_timezone(&Shanghai).date_naive();
    let fire = local(today, 21, 15);
    let reports = scheduler.tick(fire).await;
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].0, app::notifications::NotificationKind::DailyLeaderboard);
    let ten_minute_mark = scheduler.tick(fire + chrono::Duration::minutes(5)).await;
    assert_eq!(
        ten_minute_mark.len(),
        1,
        "13:20 UTC: the cost check {ten_minute_mark:?}"
    );
    assert_eq!(ten_minute_mark[0].0, app::notifications::NotificationKind::CostAlert);
    let content = contents(&receiver, 1).await.remove(0);
    assert!(content.starts_with("## 今日用户消费排行榜"), "{content}");
    // A second instance firing the same minute finds it claimed.
    let twin = app.twin().await;
    twin.state.settings.rebuild_schedule().await.unwrap();
    let twin_reports = twin.state.settings.scheduler().tick(fire).await;
    assert_eq!(twin_reports[0].1.skipped, Some(Skipped::ClaimedElsewhere));
    // A minute that is neither fires nothing.
    assert!(scheduler.tick(fire + chrono::Duration::minutes(1)).await.is_empty());

    let last_jobs = scheduler.cron_job_ids().await;
    assert_eq!(last_jobs.len(), 2);
    app.save_settings(&settings(false, &receiver.url(), "21:15", 80)).await;
    assert!(scheduler.scheduled().await.is_empty(), "master off removes every job");
    for id in &last_jobs {
        assert!(
            !scheduler.cron_job_live(*id).await,
            "master off: job {id} is gone from the cron scheduler"
        );
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.received().len(), 1);
}

#[tokio::test]
async fn in_development_nothing_is_scheduled() {
    let receiver = Receiver::start(Answer::Ok).await;
    let app = app_with(&receiver, &[]).await;
    app.save_settings(&settings(true, &receiver.url(), "09:30", 80)).await;
    let scheduler = app.state.settings.scheduler();
    assert!(scheduler.scheduled().await.is_empty());
    assert!(scheduler.tick(Utc::now()).await.is_empty());
}

#[tokio::test]
async fn leaderboard_ties_go_to_more_requests_then_the_lower_id() {
    let receiver = Receiver::start(Answer::Ok).await;
    let app = app_with(&receiver, &[]).await;
    let _engine = app.start_engine();
    let mut s = settings(true, &receiver.url(), "09:00", 80);
    s["dailyLeaderboard"]["topN"] = json!(3);
    app.save_settings(&s).await;
    let yesterday = Utc::now().with_timezone(&Shanghai).date_naive().pred_opt().unwrap();
    let noon = local(yesterday, 12, 0);
    ingest(
        &app,
        vec![
            // 3 and 2 spent the same in one request each; 9 spent it in two.
            event("t1", (3, "丙"), 1, "2", noon),
            event("t2", (2, "乙"), 1, "2", noon),
            event("t3", (9, "壬"), 1, "1", noon),
            event("t4", (9, "壬"), 1, "1", noon),
        ],
    )
    .await;
    assert_eq!(run_now(&app, "dailyLeaderboard").await.0, 200);
    let content = contents(&receiver, 1).await.remove(0);
    let order: Vec<&str> = content.lines().filter(|l| l.contains("(ID: ")).collect();
    assert_eq!(
        order,
        ["🥇 **壬** (ID: 9)", "🥈 **乙** (ID: 2)", "🥉 **丙** (ID: 3)"],
        "{content}"
    );
}

#[tokio::test]
async fn every_entity_over_the_threshold_is_alerted_weeks_included() {
    let receiver = Receiver::start(Answer::Ok).await;
    let app = app_with(&receiver, &[]).await;
    let _engine = app.start_engine();
    app.save_settings(&settings(true, &receiver.url(), "09:00", 80)).await;
    let now = yesterday_noon();
    let at = now - chrono::Duration::minutes(2);
    let events: Vec<Value> = (1..=40)
        .map(|u| event(&format!("w{u}"), (u, &format!("用户{u}")), 1, "9", at))
        .collect();
    ingest(&app, events).await;
    // 40 users over their weekly quota, one under it.
    sqlx::query("UPDATE users SET limit_weekly_usd = CASE WHEN id = 40 THEN 100 ELSE 10 END")
        .execute(&app.db)
        .await
        .unwrap();
    let report = check_costs_at(&app, now).await;
    assert_eq!(report.over_threshold, Some(39), "{report:?}");
    let messages = report.deliveries.len();
    assert!(
        (2..39).contains(&messages),
        "39 alerts in a few messages, not 39: {report:?}"
    );
    let all = alerts(&receiver, 39).await;
    assert_eq!(all.len(), 39);
    let sent = receiver.received();
    assert_eq!(sent.len(), messages);
    for m in &sent {
        let content = m.body["markdown"]["content"].as_str().unwrap();
        assert!(content.len() <= 4096, "WeCom's limit: {} bytes", content.len());
        assert!(content.ends_with("请注意控制消费"), "whole alerts, not cut: {content}");
    }
    assert!(all
        .iter()
        .all(|c| c.contains("统计周期: 本周") && c.contains("**90.0%** 🔴")));
    let mut names: Vec<&str> = all
        .iter()
        .map(|c| c.split("用户 **").nth(1).unwrap().split("**").next().unwrap())
        .collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 39, "one alert each, none dropped");
}

#[tokio::test]
async fn disabled_and_deleted_users_and_providers_get_no_cost_alert() {
    let receiver = Receiver::start(Answer::Ok).await;
    let app = app_with(&receiver, &[]).await;
    let _engine = app.start_engine();
    app.save_settings(&settings(true, &receiver.url(), "09:00", 80)).await;
    let now = yesterday_noon();
    let at = now - chrono::Duration::minutes(2);
    let events: Vec<Value> = (1..=3)
        .map(|u| event(&format!("d{u}"), (u, &format!("用户{u}")), u, "9", at))
        .collect();
    ingest(&app, events).await;
    // Everyone is at 90 % of a weekly quota; the gateway disabled user 2 and provider 2 and
    // deleted user 3 and provider 3.
    for table in ["users", "providers"] {
        sqlx::query(&format!(
            "UPDATE {table} SET limit_weekly_usd = 10, enabled = id <> 2,
                                deleted_at = CASE WHEN id = 3 THEN now() END"
        ))
        .execute(&app.db)
        .await
        .unwrap();
    }
    let report = check_costs_at(&app, now).await;
    assert_eq!(report.over_threshold, Some(2), "user 1 and provider 1 only: {report:?}");
    let all = alerts(&receiver, 2).await;
    assert_eq!(all.len(), 2, "{all:?}");
    assert!(all.iter().any(|c| c.contains("用户 **用户1**")), "{all:?}");
    assert!(all.iter().any(|c| c.contains("**供应商1**")), "{all:?}");
    assert!(!all
        .iter()
        .any(|c| c.contains("用户2") || c.contains("用户3") || c.contains("供应商2")));
}

#[tokio::test]
async fn an_instance_follows_a_schedule_saved_on_another() {
    let receiver = Receiver::start(Answer::Ok).await;
    let app = app_with(&receiver, &[("APP_ENV", "production"), ("COOKIE_SECURE", "false")]).await;
    let _engine = app.start_engine();
    app.save_settings(&settings(true, &receiver.url(), "09:30", 80)).await;
    let twin = app.twin().await;
    twin.state.settings.rebuild_schedule().await.unwrap();
    // Saved through the first instance: the twin still runs 09:30.
    app.save_settings(&settings(true, &receiver.url(), "21:15", 80)).await;
    let stale = twin.state.settings.scheduler();
    assert_eq!(
        stale.scheduled().await[0],
        server::notifications::schedule::plan::PlannedJob::DailyLeaderboard { time: "09:30".into() }
    );

    // Its 09:30 job wakes, but the saved settings say 21:15: nothing is sent.
    let today = Utc::now().with_timezone(&Shanghai).date_naive();
    let reports = stale.tick(local(today, 9, 30)).await;
    let board = reports
        .iter()
        .find(|(kind, _)| *kind == app::notifications::NotificationKind::DailyLeaderboard)
        .map(|(_, report)| report.clone());
    assert_eq!(board.and_then(|r| r.skipped), Some(Skipped::NotDue));
    assert!(stale.follow_saved_settings().await.unwrap(), "the twin rebuilds");
    assert_eq!(
        stale.scheduled().await[0],
        server::notifications::schedule::plan::PlannedJob::DailyLeaderboard { time: "21:15".into() }
    );
    assert!(
        !stale.follow_saved_settings().await.unwrap(),
        "and then has nothing to follow"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(receiver.received().is_empty());
}

/// The real clock and the real cron jobs: the leaderboard set for the coming minute is sent
/// once by two instances whose schedules both hold it.
#[tokio::test]
async fn in_production_the_cron_job_sends_the_leaderboard_at_its_minute_once() {
    let receiver = Receiver::start(Answer::Ok).await;
    let app = app_with(&receiver, &[("APP_ENV", "production"), ("COOKIE_SECURE", "false")]).await;
    let _engine = app.start_engine();
    let twin = app.twin().await;
    let now = Utc::now().with_timezone(&Shanghai);
    // The next whole minute, with at least 10 s to register the jobs first.
    let at = now + chrono::Duration::seconds(70);
    let time = at.format("%H:%M").to_string();
    let mut s = settings(true, &receiver.url(), &time, 80);
    s["costAlert"]["enabled"] = json!(false);
    app.save_settings(&s).await;
    twin.state.settings.rebuild_schedule().await.unwrap();
    assert_eq!(twin.state.settings.scheduler().live_cron_jobs().await, 1);

    let got = eventually(Duration::from_secs(150), &format!("the {time} leaderboard"), || async {
        let got = receiver.received();
        (!got.is_empty()).then_some(got)
    })
    .await;
    let content = got[0].body["markdown"]["content"].as_str().unwrap();
    assert!(content.starts_with("## 今日用户消费排行榜"), "{content}");
    let footer = content.lines().last().unwrap();
    assert!(
        footer.starts_with(&at.format("%Y-%m-%d %H:%M:").to_string()),
        "sent at {footer}, due {time}"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(receiver.received().len(), 1, "one delivery for two instances");
}

#[tokio::test]
async fn a_new_window_alerts_again() {
    use app::notifications::NotificationKind::CostAlert;
    use server::notifications::schedule::runs::Trigger::Manual;
    let receiver = Receiver::start(Answer::Ok).await;
    let app = app_with(&receiver, &[]).await;
    let _engine = app.start_engine();
    app.save_settings(&settings(true, &receiver.url(), "09:00", 80)).await;
    let today = Utc::now().with_timezone(&Shanghai).date_naive();
    let (two_days_ago, yesterday) = (today - chrono::Duration::days(2), today - chrono::Duration::days(1));
    ingest(&app, vec![event("d1", (8, "周九"), 1, "9", local(two_days_ago, 10, 0))]).await;
    sqlx::query("UPDATE users SET limit_daily_usd = 10 WHERE id = 8")
        .execute(&app.db)
        .await
        .unwrap();
    let runs = &app.state.runs;

    let first = runs.run(CostAlert, Manual, local(two_days_ago, 12, 0)).await.unwrap();
    assert_eq!(first.deliveries.len(), 1, "{first:?}");
    let quiet = runs.run(CostAlert, Manual, local(two_days_ago, 13, 0)).await.unwrap();
    assert_eq!(
        (quiet.over_threshold, quiet.deliveries.len()),
        (Some(1), 0),
        "same day: {quiet:?}"
    );
    // The next day is a new 今日: the same level alerts again.
    ingest(&app, vec![event("d2", (8, "周九"), 1, "9", local(yesterday, 10, 0))]).await;
    let next_day = runs.run(CostAlert, Manual, local(yesterday, 12, 0)).await.unwrap();
    assert_eq!(next_day.deliveries.len(), 1, "{next_day:?}");

    let messages = contents(&receiver, 2).await;
    for m in &messages {
        assert!(
            m.contains("当前消费: $9.0000\n配额限制: $10.0000\n使用比例: **90.0%** 🔴") && m.contains("统计周期: 今日"),
            "{m}"
        );
    }
    assert!(
        messages[0].ends_with(&format!("{two_days_ago} 12:00:00 · 请注意控制消费")),
        "{}",
        messages[0]
    );
    assert!(
        messages[1].ends_with(&format!("{yesterday} 12:00:00 · 请注意控制消费")),
        "{}",
        messages[1]
    );
}

/// A calendar window of `limit_column` starts at `start` (local midnight) in APP_TIMEZONE: spend
/// of the minute before is outside it, and inside the window that ends there.
async fn window_starts_at(limit_column: &str, period: &str, start: DateTime<Utc>) {
    let receiver = Receiver::start(Answer::Ok).await;
    let app = app_with(&receiver, &[]).await;
    let _engine = app.start_engine();
    app.save_settings(&settings(true, &receiver.url(), "09:00", 80)).await;
    ingest(
        &app,
        vec![event(
            "edge",
            (11, "孙十"),
            1,
            "9",
            start - chrono::Duration::minutes(10),
        )],
    )
    .await;
    sqlx::query(&format!("UPDATE users SET {limit_column} = 10 WHERE id = 11"))
        .execute(&app.db)
        .await
        .unwrap();
    let after = check_costs_at(&app, start + chrono::Duration::minutes(10)).await;
    assert_eq!(after.over_threshold, Some(0), "a new {period}: {after:?}");
    let before = check_costs_at(&app, start - chrono::Duration::minutes(1)).await;
    assert_eq!(
        (before.over_threshold, before.deliveries.len()),
        (Some(1), 1),
        "{before:?}"
    );
    let content = contents(&receiver, 1).await.remove(0);
    assert!(content.contains(&format!("统计周期: {period}")), "{content}");
}

#[tokio::test]
async fn weeks_start_on_monday_at_midnight_in_app_timezone() {
    use chrono::Datelike;
    // The latest Monday at least a day ago (its Sunday evening must be in the past).
    let mut monday = Utc::now().with_timezone(&Shanghai).date_naive().pred_opt().unwrap();
    while monday.weekday() != chrono::Weekday::Mon {
        monday = monday.pred_opt().unwrap();
    }
    window_starts_at("limit_weekly_usd", "本周", local(monday, 0, 0)).await;
}

#[tokio::test]
async fn months_start_on_the_first_at_midnight_in_app_timezone() {
    use chrono::Datelike;
    let today = Utc::now().with_timezone(&Shanghai).date_naive();
    let first = today.with_day(1).unwrap();
    window_starts_at("limit_monthly_usd", "本月", local(first, 0, 0)).await;
}

#[tokio::test]
async fn a_fire_whose_run_did_not_finish_is_taken_over_by_a_later_tick_once() {
    use app::notifications::NotificationKind::DailyLeaderboard;
    use server::notifications::schedule::fire_claims::Claim;
    let receiver = Receiver::start(Answer::Ok).await;
    let app = app_with(&receiver, &[("APP_ENV", "production"), ("COOKIE_SECURE", "false")]).await;
    let _engine = app.start_engine();
    let mut s = settings(true, &receiver.url(), "21:15", 80);
    s["costAlert"]["enabled"] = json!(false);
    app.save_settings(&s).await;
    let scheduler = app.state.settings.scheduler();
    let claims = app.state.runs.claims();
    let today = Utc::now().with_timezone(&Shanghai).date_naive();
    let fire = local(today, 21, 15);

    // An instance claimed the fire, and its run ended without raising anything (every retry
    // failed; a crash leaves the same state once its lease lapses).
    let (claim, lease) = claims.claim(DailyLeaderboard, fire, true).await.unwrap();
    assert_eq!(claim, Claim::Fresh);
    assert_eq!(
        claims.claim(DailyLeaderboard, fire, true).await.unwrap().0,
        Claim::NotOurs,
        "held while its lease lives"
    );
    claims.release(lease.unwrap()).await.unwrap();
    assert!(claims.unfinished(DailyLeaderboard, fire).await.unwrap());

    // Three minutes later a tick of any instance takes it over, as the 21:15 fire.
    let reports = scheduler.tick(fire + chrono::Duration::minutes(3)).await;
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].1.deliveries.len(), 1, "{reports:?}");
    let content = contents(&receiver, 1).await.remove(0);
    assert!(content.starts_with("## 今日用户消费排行榜"), "{content}");
    // Finished now: neither a later tick nor the twin runs it again.
    assert!(!claims.unfinished(DailyLeaderboard, fire).await.unwrap());
    assert!(scheduler.tick(fire + chrono::Duration::minutes(4)).await.is_empty());
    let twin = app.twin().await;
    twin.state.settings.rebuild_schedule().await.unwrap();
    let again = twin.state.settings.scheduler().tick(fire).await;
    assert_eq!(again[0].1.skipped, Some(Skipped::ClaimedElsewhere));

    // A past fire nobody claimed is not started late (a save may just have scheduled it).
    let tomorrow = fire + chrono::Duration::days(1);
    assert!(scheduler.tick(tomorrow + chrono::Duration::minutes(2)).await.is_empty());
    // Nor is one older than the catch-up window.
    let (_, lease) = claims.claim(DailyLeaderboard, tomorrow, true).await.unwrap();
    claims.release(lease.unwrap()).await.unwrap();
    let late = server::notifications::schedule::scheduler::CATCH_UP_MINUTES + 1;
    assert!(scheduler
        .tick(tomorrow + chrono::Duration::minutes(late))
        .await
        .is_empty());

    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.received().len(), 1);
}

#[tokio::test]
async fn days_cut_at_a_fixed_time_or_rolling_totals_and_providers_daily_quotas_are_alerted() {
    let receiver = Receiver::start(Answer::Ok).await;
    let app = app_with(&receiver, &[]).await;
    let _engine = app.start_engine();
    app.save_settings(&settings(true, &receiver.url(), "09:00", 80)).await;
    let now = Utc::now() - chrono::Duration::minutes(1);
    let ago = |minutes: i64| now - chrono::Duration::minutes(minutes);
    // A day cut 3 hours ago (at a minute that is not a quarter-hour's: the first part of the
    // window comes from the raw rows).
    let reset = (now - chrono::Duration::minutes(183)).with_timezone(&Shanghai);
    let reset_at = reset.format("%H:%M").to_string();
    ingest(
        &app,
        vec![
            // Fixed at `reset_at`: 4 of the 9 are today's.
            event("f1", (1, "张三"), 1, "5", ago(200)),
            event("f2", (1, "张三"), 1, "1.5", ago(182)),
            event("f3", (1, "张三"), 1, "2.5", ago(60)),
            // Rolling: the last 24 hours, whatever the calendar says.
            event("r1", (2, "李四"), 1, "100", ago(24 * 60 + 5)),
            event("r2", (2, "李四"), 1, "3", ago(23 * 60 + 50)),
            // A total counts everything stored, 40 days back too.
            event("t1", (3, "王五"), 1, "8", ago(40 * 24 * 60)),
            event("t2", (3, "王五"), 1, "2", ago(10)),
            // A provider's 5 hours and day.
            event("p1", (4, "赵六"), 2, "1", ago(30)),
        ],
    )
    .await;
    for (sql, bind) in [
        (
            "UPDATE users SET limit_daily_usd = 5, daily_reset_time = $1::time WHERE id = 1",
            Some(reset_at.as_str()),
        ),
        (
            "UPDATE users SET limit_daily_usd = 3.5, daily_reset_mode = 'rolling' WHERE id = 2",
            None,
        ),
        ("UPDATE users SET limit_total_usd = 12 WHERE id = 3", None),
        (
            "UPDATE providers SET limit_5h_usd = 1.2, limit_daily_usd = 100 WHERE id = 2",
            None,
        ),
    ] {
        let query = sqlx::query(sql);
        let query = match bind {
            Some(value) => query.bind(value),
            None => query,
        };
        query.execute(&app.db).await.unwrap();
    }
    let report = check_costs_at(&app, now).await;
    assert_eq!(report.over_threshold, Some(4), "{report:?}");
    let mut got = alerts(&receiver, 4).await;
    got.sort();
    let find = |who: &str| {
        got.iter()
            .find(|a| a.contains(who))
            .unwrap_or_else(|| panic!("{who} in {got:?}"))
            .clone()
    };
    let fixed = find("用户 **张三**");
    assert!(
        fixed.contains("当前消费: $4.0000") && fixed.contains(&format!("统计周期: 今日 ({reset_at} 起)")),
        "{fixed}"
    );
    let rolling = find("用户 **李四**");
    assert!(
        rolling.contains("当前消费: $3.0000") && rolling.contains("统计周期: 24 小时"),
        "{rolling}"
    );
    let total = find("用户 **王五**");
    assert!(
        total.contains("当前消费: $10.0000") && total.contains("统计周期: 累计"),
        "{total}"
    );
    let provider = find("供应商 **供应商2**");
    assert!(
        provider.contains("当前消费: $1.0000") && provider.contains("统计周期: 5 小时"),
        "{provider}"
    );

    // The API and the pages show the same figures: the total column appears once a quota has one.
    let (status, users) = app.admin_call(reqwest::Method::GET, "/api/v1/usage/users", None).await;
    assert_eq!(status, 200, "{users}");
    let user = |id: i64| {
        users
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["id"] == id)
            .unwrap()
            .clone()
    };
    assert_eq!(user(2)["dailyReset"], json!({"mode": "rolling"}));
    assert_eq!(user(3)["spend"]["total"], 10.0);
    assert_eq!(user(3)["quotas"]["total"], 12.0);
    let page = app.admin_page("/settings/users").await;
    assert!(page.contains("data-testid=\"usage-total\""), "{page}");
    assert!(page.contains("近 24 小时") || page.contains("last 24 hours"), "{page}");
}
