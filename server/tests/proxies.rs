//! Targets behind outbound proxies, through real local proxies: Debian's `tinyproxy` (HTTP),
//! `microsocks` (SOCKS5 with a password) and `stunnel` in front of tinyproxy (HTTPS). A proxy on a private address must be on
//! `WEBHOOK_ALLOWLIST`; a proxy that is down fails the send, or goes direct when the target
//! allows; the proxy's password is write-only.
#![allow(clippy::unwrap_used)] // a panic is the test's failure report

mod common;

use common::process::{ProxyServer, TlsReceiver};
use common::receiver::{Answer, Received, Receiver};
use common::TestApp;
use reqwest::Method;
use serde_json::{json, Value};

const TARGETS: &str = "/api/v1/notifications/targets";

/// Creates a Slack target for `url` behind `proxy`; its id.
async fn proxied_slack(app: &TestApp, url: &str, proxy: &str) -> i64 {
    let (status, created) = app
        .admin_call(
            Method::POST,
            TARGETS,
            Some(&json!({"name": "Slack", "channel": "slack", "webhookUrl": url, "proxyUrl": proxy})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    created["id"].as_i64().unwrap()
}

/// The request came through tinyproxy: it adds its `Via`.
fn assert_via_tinyproxy(request: &Received) {
    let via = request.headers.get("via").map(|v| v.to_str().unwrap().to_owned());
    assert!(
        via.as_deref().is_some_and(|v| v.contains("tinyproxy")),
        "not through the proxy: {via:?}"
    );
}

async fn test_target(app: &TestApp, id: i64) -> (u16, Value) {
    app.admin_call(
        Method::POST,
        &format!("{TARGETS}/{id}/test"),
        Some(&json!({"type": "circuitBreaker"})),
    )
    .await
}

#[tokio::test]
async fn a_target_is_reached_through_an_http_proxy_and_a_socks5_proxy() {
    let receiver = Receiver::start(Answer::Slack).await;
    let http = ProxyServer::http().await;
    let mut socks = ProxyServer::socks5("ops", "socks-pass-5e1").await;
    let allowlist = [
        receiver.allowlist_entry(),
        http.allowlist_entry(),
        socks.allowlist_entry(),
    ]
    .join(",");
    let app = TestApp::spawn_with(&[("WEBHOOK_ALLOWLIST", &allowlist)]).await;
    let url = format!("http://{}/services/T/B/proxied-token", receiver.allowlist_entry());

    let id = proxied_slack(&app, &url, &format!("http://127.0.0.1:{}", http.port)).await;
    let (status, answer) = test_target(&app, id).await;
    assert_eq!(status, 200, "{answer}");
    assert_via_tinyproxy(&receiver.received()[0]);

    // SOCKS5 with a password: write-only, shown masked, kept when sent back masked.
    let socks_url = format!("socks5://ops:socks-pass-5e1@127.0.0.1:{}", socks.port);
    let (status, saved) = app
        .admin_call(
            Method::PUT,
            &format!("{TARGETS}/{id}"),
            Some(&json!({"name": "Slack", "proxyUrl": socks_url})),
        )
        .await;
    assert_eq!(status, 200, "{saved}");
    let shown = saved["proxyUrl"].as_str().unwrap().to_owned();
    assert_eq!(shown, format!("socks5://ops:***@127.0.0.1:{}", socks.port));
    assert!(!saved.to_string().contains("socks-pass-5e1"));
    let (status, _) = app
        .admin_call(
            Method::PUT,
            &format!("{TARGETS}/{id}"),
            Some(&json!({"name": "Slack 2", "proxyUrl": shown})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, answer) = test_target(&app, id).await;
    assert_eq!(status, 200, "the kept password still opens the proxy: {answer}");
    assert!(
        receiver.received()[1].headers.get("via").is_none(),
        "SOCKS forwards bytes, adds nothing"
    );

    // The proxy down: the send fails (it is not sent around the proxy) ...
    socks.kill().await;
    let (status, answer) = test_target(&app, id).await;
    assert_eq!((status, answer["reason"].as_str()), (502, Some("connect")), "{answer}");
    assert_eq!(receiver.received().len(), 2);
    assert!(!answer.to_string().contains("socks-pass-5e1"), "{answer}");
    // ... unless the target allows going direct.
    let (status, _) = app
        .admin_call(
            Method::PUT,
            &format!("{TARGETS}/{id}"),
            Some(
                &json!({"name": "Slack 2", "proxyUrl": format!("socks5://ops:***@127.0.0.1:{}", socks.port),
                "proxyFallbackDirect": true}),
            ),
        )
        .await;
    assert_eq!(status, 200);
    let (status, answer) = test_target(&app, id).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(receiver.received().len(), 3);

    // A wrong password is the proxy's refusal, not a delivery.
    socks.restart().await;
    let (status, _) = app
        .admin_call(
            Method::PUT,
            &format!("{TARGETS}/{id}"),
            Some(&json!({"name": "Slack 2", "proxyUrl": format!("socks5://ops:wrong@127.0.0.1:{}", socks.port)})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, answer) = test_target(&app, id).await;
    assert_eq!(status, 502, "{answer}");
    assert_eq!(receiver.received().len(), 3);
}

#[tokio::test]
async fn a_proxy_on_a_private_address_must_be_on_the_allowlist() {
    let receiver = Receiver::start(Answer::Slack).await;
    let http = ProxyServer::http().await;
    let app = TestApp::spawn_with(&[("WEBHOOK_ALLOWLIST", &receiver.allowlist_entry())]).await;
    let url = format!("http://{}/services/T/B/x-token", receiver.allowlist_entry());
    for proxy in [
        format!("http://127.0.0.1:{}", http.port),
        "socks5://10.0.0.8:1080".to_owned(),
        "http://localhost:3128".to_owned(),
    ] {
        let (status, answer) = app
            .admin_call(
                Method::POST,
                TARGETS,
                Some(&json!({"name": "Slack", "channel": "slack", "webhookUrl": url, "proxyUrl": proxy})),
            )
            .await;
        assert_eq!(status, 400, "{proxy}: {answer}");
        assert!(
            answer["fields"]["proxyUrl"]
                .as_str()
                .unwrap()
                .starts_with("not allowed"),
            "{answer}"
        );
    }
    let (status, answer) = app
        .admin_call(
            Method::POST,
            TARGETS,
            Some(&json!({"name": "Slack", "channel": "slack", "webhookUrl": url, "proxyUrl": "ftp://proxy:21"})),
        )
        .await;
    assert_eq!(status, 400);
    assert!(answer["fields"]["proxyUrl"].is_string(), "{answer}");
    let (_, all) = app.admin_call(Method::GET, TARGETS, None).await;
    assert_eq!(all, json!([]), "nothing saved");
}

#[tokio::test]
async fn an_https_target_is_reached_through_a_connect_tunnel() {
    let receiver = TlsReceiver::start().await;
    let http = ProxyServer::http().await;
    let allowlist = [format!("127.0.0.1:{}", receiver.port), http.allowlist_entry()].join(",");
    let app = TestApp::spawn_with(&[
        ("WEBHOOK_ALLOWLIST", &allowlist),
        ("WEBHOOK_CA_FILE", receiver.ca_file.to_str().unwrap()),
    ])
    .await;
    let url = format!("https://127.0.0.1:{}/services/T/B/tls-token", receiver.port);
    let id = proxied_slack(&app, &url, &format!("http://127.0.0.1:{}", http.port)).await;
    let (status, answer) = test_target(&app, id).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(receiver.count(), 1);
    let log = http.log_text();
    assert!(
        log.contains(&format!("CONNECT 127.0.0.1:{}", receiver.port)),
        "no tunnel in tinyproxy's log:\n{log}"
    );
    assert!(!log.contains("tls-token"), "a tunnel shows the proxy no path");
}

#[tokio::test]
async fn a_target_is_reached_through_an_https_proxy_whose_certificate_is_checked() {
    let receiver = Receiver::start(Answer::Slack).await;
    let http = ProxyServer::http().await;
    let https = ProxyServer::tls_in_front_of(&http).await;
    let allowlist = [receiver.allowlist_entry(), https.allowlist_entry()].join(",");
    let url = format!("http://{}/services/T/B/https-proxied-token", receiver.allowlist_entry());
    let proxy = format!("https://127.0.0.1:{}", https.port);

    // Not trusting the proxy's certificate, the sender does not talk to it.
    let untrusting = TestApp::spawn_with(&[("WEBHOOK_ALLOWLIST", &allowlist)]).await;
    let id = proxied_slack(&untrusting, &url, &proxy).await;
    let (status, answer) = test_target(&untrusting, id).await;
    assert_eq!((status, answer["reason"].as_str()), (502, Some("connect")), "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("certificate"), "{answer}");
    assert!(receiver.received().is_empty(), "sent through an unverified proxy");

    let ca = https.ca_file.as_ref().unwrap();
    let app = TestApp::spawn_with(&[
        ("WEBHOOK_ALLOWLIST", &allowlist),
        ("WEBHOOK_CA_FILE", ca.to_str().unwrap()),
    ])
    .await;
    let id = proxied_slack(&app, &url, &proxy).await;
    let (status, answer) = test_target(&app, id).await;
    assert_eq!(status, 200, "{answer}");
    let received = receiver.received();
    assert_eq!(received.len(), 1);
    assert_via_tinyproxy(&received[0]);
}

#[tokio::test]
async fn a_ca_file_that_holds_no_certificate_stops_start_up_naming_it() {
    let app = TestApp::spawn().await;
    let empty = std::env::temp_dir().join(format!("hn-empty-{}.pem", uuid::Uuid::new_v4().simple()));
    std::fs::write(&empty, "not a certificate\n").unwrap();
    for path in [empty.to_str().unwrap(), "/nonexistent/ca.pem"] {
        let (status, log) =
            common::process::ServerProcess::refused(&app, &common::redis_url(), &[("WEBHOOK_CA_FILE", path)]).await;
        assert!(!status.success());
        assert!(log.contains(&format!("WEBHOOK_CA_FILE {path}")), "{log}");
    }
    let _ = std::fs::remove_file(&empty);
}
