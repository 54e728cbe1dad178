//! A real local webhook receiver: records every request and answers as told.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;

/// How the receiver answers.
#[derive(Clone, Debug)]
pub enum Answer {
    /// As a WeCom robot answers: `{"errcode":0,"errmsg":"ok"}`, but errcode 40058 for markdown
    /// content over 4,096 bytes (the answers below that end "then as `Ok`" judge the same way).
    Ok,
    ErrCode(i64, &'static str),
    Status(u16),
    /// 200 with a body that is not JSON.
    PlainText,
    /// Answers only after this long.
    Slow(Duration),
    Redirect(&'static str),
    /// HTTP 500 for the first `n` requests of each idempotency key, then as `Ok`.
    FailFirst(usize),
    /// The first request of each idempotency key is answered only after this long; later
    /// ones at once.
    SlowFirst(Duration),
    /// This status with a text body quoting the request's path and query (a proxy's page).
    EchoInBody(u16),
    /// 200 with a non-zero errcode whose errmsg quotes the request's path and query.
    EchoInErrmsg,
    /// HTTP 429 with `Retry-After: <s>` for the first request of each idempotency key, then as `Ok`.
    ThrottleFirst(u64),
    /// As a Feishu custom bot answers: an interactive card or post is taken (`code` 0); with a
    /// signing secret, `timestamp` and `sign` in the body must be Feishu's (else 19021).
    Feishu {
        secret: Option<&'static str>,
    },
    /// As a DingTalk robot answers: markdown with a title is taken (`errcode` 0); with a signing
    /// secret, `timestamp` and `sign` in the query must be DingTalk's (else 310000).
    DingTalk {
        secret: Option<&'static str>,
    },
    /// As the Bot API answers `sendMessage`: the bot's path, its chat, HTML of at most 4,096
    /// characters after entity parsing get `{"ok":true}`; a wrong token 401, another chat 400;
    /// with `throttle_first`, the first request of each text is answered 429 with
    /// `parameters.retry_after` (and no `Retry-After` header, as Telegram does).
    Telegram {
        token: &'static str,
        chat: i64,
        throttle_first: Option<u64>,
    },
    /// As a Slack incoming webhook answers: `text` and valid blocks (a header of ≤ 150
    /// characters, sections of ≤ 3,000, ≤ 50 blocks) get 200 `ok`, anything else 400
    /// `invalid_blocks`.
    Slack,
    /// As a Discord webhook answers: embeds within Discord's limits get 204, anything else 400
    /// with Discord's error.
    Discord,
    /// Discord with a bucket of one message per `reset_after` seconds: every answer says
    /// `X-RateLimit-Remaining: 0` and `X-RateLimit-Reset-After`, and a message sooner than that
    /// after the last one gets 429 with `retry_after`, as Discord answers.
    DiscordBucket {
        reset_after: f64,
    },
    /// A Standard Webhooks consumer: the signature verified by the `standardwebhooks` crate (an
    /// independent implementation) with this secret, 204 when it holds, 401 otherwise.
    StandardWebhook {
        secret: String,
    },
    /// A receiver of the admin's own: `{"errcode":0}` when the request carries this header with
    /// this value, HTTP 401 otherwise.
    WithHeader {
        name: &'static str,
        value: &'static str,
    },
}

/// The characters of Telegram HTML after entity parsing: tags dropped, entities one each.
fn telegram_visible_chars(html: &str) -> Option<usize> {
    let mut count = 0;
    let mut rest = html;
    while let Some(c) = rest.chars().next() {
        match c {
            '<' => rest = &rest[rest.find('>')? + 1..],
            '&' => {
                let end = rest.find(';')?;
                if !["&lt;", "&gt;", "&amp;", "&quot;"].contains(&&rest[..=end]) {
                    return None;
                }
                count += 1;
                rest = &rest[end + 1..];
            }
            '>' => return None,
            c => {
                count += 1;
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    Some(count)
}

/// The Bot API's verdict on a `sendMessage`: the status and its JSON.
fn telegram_answer(
    token: &str,
    chat: i64,
    throttled: Option<u64>,
    uri: &axum::http::Uri,
    body: &serde_json::Value,
) -> (StatusCode, serde_json::Value) {
    use serde_json::json;
    if uri.path() != format!("/bot{token}/sendMessage") {
        return (
            StatusCode::UNAUTHORIZED,
            json!({"ok": false, "error_code": 401, "description": "Unauthorized"}),
        );
    }
    if body["chat_id"].as_i64() != Some(chat) && body["chat_id"].as_str() != Some(&chat.to_string()) {
        return (
            StatusCode::BAD_REQUEST,
            json!({"ok": false, "error_code": 400, "description": "Bad Request: chat not found"}),
        );
    }
    let text_ok = body["parse_mode"] == "HTML"
        && body["text"]
            .as_str()
            .and_then(telegram_visible_chars)
            .is_some_and(|n| (1..=4096).contains(&n));
    if !text_ok {
        return (
            StatusCode::BAD_REQUEST,
            json!({"ok": false, "error_code": 400, "description": "Bad Request: can't parse entities"}),
        );
    }
    if let Some(seconds) = throttled {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            json!({"ok": false, "error_code": 429, "description": format!("Too Many Requests: retry after {seconds}"),
                "parameters": {"retry_after": seconds}}),
        );
    }
    (
        StatusCode::OK,
        json!({"ok": true, "result": {"message_id": 1, "chat": {"id": chat}}}),
    )
}

fn chars(value: &serde_json::Value) -> usize {
    value.as_str().map_or(usize::MAX, |s| s.chars().count())
}

/// Slack's verdict on a body: `None` is `ok`.
fn slack_problem(body: &serde_json::Value) -> Option<&'static str> {
    let Some(blocks) = body["blocks"].as_array() else {
        return Some("invalid_blocks");
    };
    if body["text"].as_str().is_none_or(str::is_empty) {
        return Some("no_text");
    }
    let valid = blocks.len() <= 50
        && blocks.iter().all(|b| match b["type"].as_str() {
            Some("header") => b["text"]["type"] == "plain_text" && chars(&b["text"]["text"]) <= 150,
            Some("section") => b["text"]["type"] == "mrkdwn" && chars(&b["text"]["text"]) <= 3000,
            Some("divider") => true,
            Some("context") => b["elements"].as_array().is_some_and(|e| !e.is_empty() && e.len() <= 10),
            _ => false,
        });
    (!valid).then_some("invalid_blocks")
}

/// Discord's verdict on a body: `None` is taken.
fn discord_problem(body: &serde_json::Value) -> Option<serde_json::Value> {
    let valid = match body["embeds"].as_array() {
        Some(embeds) => {
            !embeds.is_empty()
                && embeds.len() <= 10
                && embeds.iter().all(|e| {
                    chars(&e["title"]) <= 256
                        && chars(&e["description"]) <= 4096
                        && (e["footer"].is_null() || chars(&e["footer"]["text"]) <= 2048)
                        && e["color"].as_u64().is_some_and(|c| c <= 0xFF_FFFF)
                })
        }
        None => chars(&body["content"]) <= 2000,
    };
    (!valid).then(|| serde_json::json!({"code": 50035, "message": "Invalid Form Body"}))
}

/// A WeCom robot's verdict on a body: markdown content of more than 4,096 bytes of UTF-8 is
/// refused (written out here, not read from the code, so that a change of the cut is caught).
fn wecom_answer(body: &serde_json::Value) -> serde_json::Value {
    let content = body["markdown"]["content"].as_str().unwrap_or("");
    if body["msgtype"] == "markdown" && content.len() > 4096 {
        return serde_json::json!({"errcode": 40058,
            "errmsg": "markdown.content exceed max length 4096. invalid Request Parameter"});
    }
    serde_json::json!({"errcode": 0, "errmsg": "ok"})
}

fn hmac_base64(key: &[u8], message: &[u8]) -> String {
    use base64::Engine;
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    mac.update(message);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn within_an_hour(timestamp_secs: i64) -> bool {
    (chrono::Utc::now().timestamp() - timestamp_secs).abs() <= 3600
}

/// Feishu's verdict on a request body.
fn feishu_answer(secret: Option<&str>, body: &serde_json::Value) -> serde_json::Value {
    use serde_json::json;
    if let Some(secret) = secret {
        let timestamp = body["timestamp"].as_str().and_then(|t| t.parse::<i64>().ok());
        // Feishu's own recipe: the key is `timestamp + "\n" + secret`, the message empty.
        let valid = timestamp.is_some_and(|t| {
            within_an_hour(t)
                && body["sign"].as_str() == Some(hmac_base64(format!("{t}\n{secret}").as_bytes(), b"").as_str())
        });
        if !valid {
            return json!({"code": 19021, "msg": "sign match fail or timestamp is not within one hour from current time"});
        }
    }
    let card_ok = body["msg_type"] == "interactive" && body["card"]["elements"].is_array();
    let post_ok = body["msg_type"] == "post" || body["msg_type"] == "text";
    if !(card_ok || post_ok) {
        return json!({"code": 9499, "msg": "Bad Request"});
    }
    json!({"code": 0, "data": {}, "msg": "success"})
}

/// DingTalk's verdict on a request.
fn dingtalk_answer(secret: Option<&str>, uri: &axum::http::Uri, body: &serde_json::Value) -> serde_json::Value {
    use serde_json::json;
    if let Some(secret) = secret {
        let query: HashMap<String, String> = url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
        let timestamp = query.get("timestamp").and_then(|t| t.parse::<i64>().ok());
        // DingTalk's recipe: the key is the secret, the message `timestamp + "\n" + secret`.
        let valid = timestamp.is_some_and(|t| {
            within_an_hour(t / 1000)
                && query.get("sign").map(String::as_str)
                    == Some(hmac_base64(secret.as_bytes(), format!("{t}\n{secret}").as_bytes()).as_str())
        });
        if !valid {
            return json!({"errcode": 310000, "errmsg": "sign not match, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]"});
        }
    }
    let markdown_ok = body["msgtype"] == "markdown"
        && body["markdown"]["title"].as_str().is_some_and(|t| !t.is_empty())
        && body["markdown"]["text"].is_string();
    if !markdown_ok {
        return json!({"errcode": 40035, "errmsg": "缺少参数 json"});
    }
    json!({"errcode": 0, "errmsg": "ok"})
}

#[derive(Clone, Debug)]
pub struct Received {
    pub path_and_query: String,
    pub headers: HeaderMap,
    pub content_type: Option<String>,
    pub body: serde_json::Value,
    pub idempotency_key: Option<String>,
    pub at: Instant,
}

#[derive(Clone)]
struct Shared {
    answer: Arc<Mutex<Answer>>,
    received: Arc<Mutex<Vec<Received>>>,
    /// When the last message was taken (for the rate-limited answers).
    last_taken: Arc<Mutex<Option<Instant>>>,
}

pub struct Receiver {
    pub addr: SocketAddr,
    shared: Shared,
}

impl Receiver {
    pub async fn start(answer: Answer) -> Receiver {
        let shared = Shared {
            answer: Arc::new(Mutex::new(answer)),
            received: Arc::new(Mutex::new(Vec::new())),
            last_taken: Arc::new(Mutex::new(None)),
        };
        let app = Router::new()
            .route("/{*path}", post(receive))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { addr, shared }
    }

    /// A webhook URL on this receiver, with a key in the query as WeCom's have.
    pub fn url(&self) -> String {
        format!("http://{}/cgi-bin/webhook/send?key=test-key-123", self.addr)
    }

    /// The `WEBHOOK_ALLOWLIST` entry opening exactly this receiver.
    pub fn allowlist_entry(&self) -> String {
        self.addr.to_string()
    }

    pub fn set_answer(&self, answer: Answer) {
        *self.shared.answer.lock().unwrap() = answer;
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }

    /// How many requests each idempotency key brought.
    pub fn requests_by_key(&self) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for r in self.shared.received.lock().unwrap().iter() {
            if let Some(key) = &r.idempotency_key {
                *counts.entry(key.clone()).or_insert(0) += 1;
            }
        }
        counts
    }
}

async fn receive(State(shared): State<Shared>, uri: axum::http::Uri, headers: HeaderMap, body: Bytes) -> Response {
    let idempotency_key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let seen_before = {
        let mut received = shared.received.lock().unwrap();
        let seen = received
            .iter()
            .filter(|r| r.idempotency_key.is_some() && r.idempotency_key == idempotency_key)
            .count();
        received.push(Received {
            path_and_query: uri.path_and_query().map(|p| p.to_string()).unwrap_or_default(),
            headers: headers.clone(),
            content_type: headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            body: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
            idempotency_key,
            at: Instant::now(),
        });
        seen
    };
    let answer = shared.answer.lock().unwrap().clone();
    let raw = body;
    let body: serde_json::Value = serde_json::from_slice(&raw).unwrap_or(serde_json::Value::Null);
    let requested = uri.path_and_query().map(|p| p.to_string()).unwrap_or_default();
    match answer {
        Answer::Ok => axum::Json(wecom_answer(&body)).into_response(),
        Answer::ErrCode(code, msg) => axum::Json(serde_json::json!({"errcode": code, "errmsg": msg})).into_response(),
        Answer::Status(code) => (StatusCode::from_u16(code).unwrap(), "nope").into_response(),
        Answer::PlainText => (StatusCode::OK, "thanks").into_response(),
        Answer::Slow(delay) => {
            tokio::time::sleep(delay).await;
            axum::Json(wecom_answer(&body)).into_response()
        }
        Answer::Redirect(to) => (StatusCode::FOUND, [("location", to)]).into_response(),
        Answer::FailFirst(n) if seen_before < n => (StatusCode::INTERNAL_SERVER_ERROR, "try again").into_response(),
        Answer::SlowFirst(delay) if seen_before == 0 => {
            tokio::time::sleep(delay).await;
            axum::Json(wecom_answer(&body)).into_response()
        }
        Answer::EchoInBody(code) => (
            StatusCode::from_u16(code).unwrap(),
            format!("no route for POST {requested}"),
        )
            .into_response(),
        Answer::EchoInErrmsg => {
            axum::Json(serde_json::json!({"errcode": 93000, "errmsg": format!("invalid webhook url {requested}")}))
                .into_response()
        }
        Answer::ThrottleFirst(seconds) if seen_before == 0 => (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", seconds.to_string())],
            "slow down",
        )
            .into_response(),
        Answer::Telegram {
            token,
            chat,
            throttle_first,
        } => {
            let throttled = throttle_first.filter(|_| {
                let received = shared.received.lock().unwrap();
                received.iter().filter(|r| r.body["text"] == body["text"]).count() == 1
            });
            let (status, answer) = telegram_answer(token, chat, throttled, &uri, &body);
            (status, axum::Json(answer)).into_response()
        }
        Answer::Slack => match slack_problem(&body) {
            None => (StatusCode::OK, "ok").into_response(),
            Some(problem) => (StatusCode::BAD_REQUEST, problem).into_response(),
        },
        Answer::Discord => match discord_problem(&body) {
            None => StatusCode::NO_CONTENT.into_response(),
            Some(problem) => (StatusCode::BAD_REQUEST, axum::Json(problem)).into_response(),
        },
        Answer::Feishu { secret } => axum::Json(feishu_answer(secret, &body)).into_response(),
        Answer::DiscordBucket { reset_after } => {
            let since = shared.last_taken.lock().unwrap().map(|at| at.elapsed().as_secs_f64());
            let limit_headers = [
                ("x-ratelimit-limit", "1".to_owned()),
                ("x-ratelimit-remaining", "0".to_owned()),
                ("x-ratelimit-reset-after", format!("{reset_after:.3}")),
            ];
            match since {
                Some(s) if s < reset_after => (
                    StatusCode::TOO_MANY_REQUESTS,
                    limit_headers,
                    axum::Json(serde_json::json!({"message": "You are being rate limited.",
                        "retry_after": reset_after - s, "global": false})),
                )
                    .into_response(),
                _ => match discord_problem(&body) {
                    None => {
                        *shared.last_taken.lock().unwrap() = Some(Instant::now());
                        (StatusCode::NO_CONTENT, limit_headers).into_response()
                    }
                    Some(problem) => (StatusCode::BAD_REQUEST, axum::Json(problem)).into_response(),
                },
            }
        }
        Answer::StandardWebhook { secret } => {
            let verifier = standardwebhooks::Webhook::new(&secret).unwrap();
            match verifier.verify(&raw, &headers) {
                Ok(()) => StatusCode::NO_CONTENT.into_response(),
                Err(e) => (StatusCode::UNAUTHORIZED, format!("invalid signature: {e:?}")).into_response(),
            }
        }
        Answer::WithHeader { name, value } => {
            if headers.get(name).and_then(|v| v.to_str().ok()) == Some(value) {
                axum::Json(serde_json::json!({"errcode": 0, "errmsg": "ok"})).into_response()
            } else {
                (StatusCode::UNAUTHORIZED, "missing or wrong credentials").into_response()
            }
        }
        Answer::DingTalk { secret } => axum::Json(dingtalk_answer(secret, &uri, &body)).into_response(),
        Answer::FailFirst(_) | Answer::SlowFirst(_) | Answer::ThrottleFirst(_) => {
            axum::Json(wecom_answer(&body)).into_response()
        }
    }
}
