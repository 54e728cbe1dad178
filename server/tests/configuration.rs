//! Where a `server` process takes its configuration from: its environment first, then a `.env`
//! file in its working directory — and no other `.env`, such as a checkout's above the directory
//! it was started in.
#![allow(clippy::unwrap_used)] // a panic is the test's failure report

mod common;

use common::process::{ServerProcess, WorkDir};
use common::{redis_url, TestApp, ADMIN_TOKEN, SECRETS_KEY};
use server::platform::encryption::SecretsKey;

#[tokio::test]
async fn a_dot_env_in_a_parent_directory_is_not_read() {
    let app = TestApp::spawn().await;
    let parent = WorkDir::new();
    std::fs::write(
        parent.path().join(".env"),
        format!(
            "SECRETS_KEY={}\nADMIN_TOKEN=a-parents-admin-token-0123\n",
            SecretsKey::generate()
        ),
    )
    .unwrap();
    let below = parent.subdir("checkout/server");
    let (status, log) = ServerProcess::refused_in(&below, &app, &redis_url(), &[("SECRETS_KEY", "")]).await;
    assert!(!status.success(), "{log}");
    assert!(log.contains("SECRETS_KEY is not set"), "{log}");
}

#[tokio::test]
async fn the_working_directorys_dot_env_fills_in_what_the_environment_leaves_unset() {
    let app = TestApp::spawn().await;
    let dir = WorkDir::new();
    std::fs::write(
        dir.path().join(".env"),
        format!(
            "# as scripts/run writes it\nSECRETS_KEY={SECRETS_KEY}\nADMIN_TOKEN=dotenv-admin-token-0123456789\nMETRICS_TOKEN=dotenv-metrics-token-42\n"
        ),
    )
    .unwrap();
    // SECRETS_KEY and METRICS_TOKEN only in `.env`; ADMIN_TOKEN in both, the environment's wins.
    let server = ServerProcess::start_in(dir, &app, &redis_url(), &[("SECRETS_KEY", "")]).await;
    let client = reqwest::Client::new();
    let settings = format!("{}/api/v1/notifications/settings", server.base);
    let status = |token: &'static str| {
        let request = client.get(&settings).bearer_auth(token);
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(status(ADMIN_TOKEN).await, 200, "the environment's ADMIN_TOKEN");
    assert_eq!(status("dotenv-admin-token-0123456789").await, 401, "not .env's");
    let metrics = format!("{}/metrics", server.base);
    let without = client.get(&metrics).send().await.unwrap().status().as_u16();
    let with = client
        .get(&metrics)
        .bearer_auth("dotenv-metrics-token-42")
        .send()
        .await
        .unwrap()
        .status()
        .as_u16();
    assert_eq!((without, with), (401, 200), "METRICS_TOKEN from .env");
}
