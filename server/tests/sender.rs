//! The webhook sender against a real local receiver: every judgement of the spec.
#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)] // a panic is the test's failure report

mod common;

use std::time::Duration;

use common::receiver::{Answer, Receiver};
use server::channels::error::SendError;
use server::channels::message::{Event, Message};
use server::channels::sender::WebhookSender;
use server::channels::ssrf::{Allowlist, SsrfGuard};
use server::channels::targets::Destination;
use server::channels::wecom::{WeCom, TRUNCATION_MARKER};

/// A message of one line of text.
fn text(line: &str) -> Message {
    Message::plain(Event::CostAlert, &[line], chrono::Utc::now().fixed_offset())
}

fn sender_for(receivers: &[&Receiver], timeout: Duration) -> WebhookSender {
    let entries: Vec<String> = receivers.iter().map(|r| r.allowlist_entry()).collect();
    let guard = SsrfGuard::new(Allowlist::parse(&entries.join(",")).unwrap());
    WebhookSender::new(guard, timeout).unwrap()
}

#[tokio::test]
async fn errcode_zero_is_success_and_the_body_is_wecom_markdown() {
    let receiver = Receiver::start(Answer::Ok).await;
    let sender = sender_for(&[&receiver], Duration::from_secs(5));
    sender
        .send(
            &WeCom,
            &Destination::wecom(receiver.url()),
            &server::notifications::render::test_message(chrono::Utc::now().with_timezone(&chrono_tz::UTC)),
            None,
        )
        .await
        .unwrap();
    let got = receiver.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].content_type.as_deref(), Some("application/json"));
    assert_eq!(got[0].path_and_query, "/cgi-bin/webhook/send?key=test-key-123");
    assert_eq!(
        got[0].body,
        serde_json::json!({"msgtype": "markdown", "markdown": {"content": "**测试消息**\n企业微信机器人连接成功!"}})
    );
}

#[tokio::test]
async fn each_failure_has_its_class() {
    let receiver = Receiver::start(Answer::Ok).await;
    let sender = sender_for(&[&receiver], Duration::from_secs(1));
    let cases: Vec<(Answer, &str)> = vec![
        (Answer::ErrCode(93000, "invalid webhook url"), "errcode"),
        (Answer::Status(404), "http_status"),
        (Answer::Status(403), "http_status"),
        (Answer::Status(500), "http_status"),
        (Answer::Status(503), "http_status"),
        (Answer::Slow(Duration::from_secs(3)), "timeout"),
        (Answer::Redirect("http://example.com/"), "redirect"),
        // What a receiver says is kept as the last error: an echoed key is masked.
        (Answer::EchoInBody(502), "http_status"),
        (Answer::EchoInErrmsg, "errcode"),
    ];
    for (answer, class) in cases {
        receiver.set_answer(answer.clone());
        let err = sender
            .send(&WeCom, &Destination::wecom(receiver.url()), &text("x"), None)
            .await
            .unwrap_err();
        assert_eq!(err.class().as_str(), class, "{answer:?}: {err}");
        assert!(
            !err.to_string().contains("test-key-123"),
            "no webhook key in errors: {err}"
        );
    }
    receiver.set_answer(Answer::EchoInErrmsg);
    assert_eq!(
        sender
            .send(&WeCom, &Destination::wecom(receiver.url()), &text("x"), None)
            .await
            .unwrap_err(),
        SendError::ErrCode {
            errcode: 93000,
            errmsg: "invalid webhook url /cgi-bin/webhook/send?key=***".into()
        }
    );
    receiver.set_answer(Answer::ErrCode(93000, "invalid webhook url"));
    assert_eq!(
        sender
            .send(&WeCom, &Destination::wecom(receiver.url()), &text("x"), None)
            .await
            .unwrap_err(),
        SendError::ErrCode {
            errcode: 93000,
            errmsg: "invalid webhook url".into()
        }
    );
    receiver.set_answer(Answer::Status(404));
    assert!(matches!(
        sender
            .send(&WeCom, &Destination::wecom(receiver.url()), &text("x"), None)
            .await,
        Err(SendError::HttpStatus { status: 404, .. })
    ));
}

#[tokio::test]
async fn plain_text_200_is_success() {
    let receiver = Receiver::start(Answer::PlainText).await;
    let sender = sender_for(&[&receiver], Duration::from_secs(5));
    sender
        .send(&WeCom, &Destination::wecom(receiver.url()), &text("x"), None)
        .await
        .unwrap();
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let target = Receiver::start(Answer::Ok).await;
    let receiver = Receiver::start(Answer::Ok).await;
    let leak = Box::leak(target.url().into_boxed_str());
    receiver.set_answer(Answer::Redirect(leak));
    let sender = sender_for(&[&receiver, &target], Duration::from_secs(5));
    let err = sender
        .send(&WeCom, &Destination::wecom(receiver.url()), &text("x"), None)
        .await
        .unwrap_err();
    assert_eq!(err, SendError::Redirect { status: 302 });
    assert!(target.received().is_empty(), "the redirect target was never contacted");
}

#[tokio::test]
async fn connection_errors_are_reported() {
    // Bind then drop: a port with nobody listening.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let guard = SsrfGuard::new(Allowlist::parse(&format!("127.0.0.1:{port}")).unwrap());
    let sender = WebhookSender::new(guard, Duration::from_secs(2)).unwrap();
    let err = sender
        .send(
            &WeCom,
            &Destination::wecom(format!("http://127.0.0.1:{port}/hook")),
            &text("x"),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(err.class().as_str(), "connect", "{err}");
}

#[tokio::test]
async fn private_targets_are_refused_before_any_request() {
    let receiver = Receiver::start(Answer::Ok).await;
    let sender = sender_for(&[], Duration::from_secs(2));
    let err = sender
        .send(&WeCom, &Destination::wecom(receiver.url()), &text("x"), None)
        .await
        .unwrap_err();
    assert_eq!(err.class().as_str(), "refused", "{err}");
    assert!(receiver.received().is_empty());
}

#[tokio::test]
async fn long_content_arrives_cut_to_the_wecom_limit() {
    let receiver = Receiver::start(Answer::Ok).await;
    let sender = sender_for(&[&receiver], Duration::from_secs(5));
    let message = text(&"排行榜数据".repeat(2000));
    let content = server::channels::wecom::markdown(&message);
    sender
        .send(&WeCom, &Destination::wecom(receiver.url()), &message, None)
        .await
        .unwrap();
    let got = receiver.received();
    let delivered = got[0].body["markdown"]["content"].as_str().unwrap();
    // WeCom's limit, written out (the receiver refuses more, as WeCom does): no more than it,
    // and cut no shorter than a character and the marker need.
    assert!(delivered.len() <= 4096, "{} bytes", delivered.len());
    assert!(delivered.len() > 4096 - 3, "{} bytes", delivered.len());
    assert!(delivered.ends_with(TRUNCATION_MARKER));
    assert!(content.starts_with(delivered.strip_suffix(TRUNCATION_MARKER).unwrap()));
}
