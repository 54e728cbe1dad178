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
    /// `{"errcode":0,"errmsg":"ok"}`, as WeCom does.
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
}

#[derive(Clone, Debug)]
pub struct Received {
    pub path_and_query: String,
    pub content_type: Option<String>,
    pub body: serde_json::Value,
    pub idempotency_key: Option<String>,
    pub at: Instant,
}

#[derive(Clone)]
struct Shared {
    answer: Arc<Mutex<Answer>>,
    received: Arc<Mutex<Vec<Received>>>,
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
    let requested = uri.path_and_query().map(|p| p.to_string()).unwrap_or_default();
    match answer {
        Answer::Ok => axum::Json(serde_json::json!({"errcode": 0, "errmsg": "ok"})).into_response(),
        Answer::ErrCode(code, msg) => axum::Json(serde_json::json!({"errcode": code, "errmsg": msg})).into_response(),
        Answer::Status(code) => (StatusCode::from_u16(code).unwrap(), "nope").into_response(),
        Answer::PlainText => (StatusCode::OK, "thanks").into_response(),
        Answer::Slow(delay) => {
            tokio::time::sleep(delay).await;
            axum::Json(serde_json::json!({"errcode": 0, "errmsg": "ok"})).into_response()
        }
        Answer::Redirect(to) => (StatusCode::FOUND, [("location", to)]).into_response(),
        Answer::FailFirst(n) if seen_before < n => (StatusCode::INTERNAL_SERVER_ERROR, "try again").into_response(),
        Answer::SlowFirst(delay) if seen_before == 0 => {
            tokio::time::sleep(delay).await;
            axum::Json(serde_json::json!({"errcode": 0, "errmsg": "ok"})).into_response()
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
        Answer::FailFirst(_) | Answer::SlowFirst(_) => {
            axum::Json(serde_json::json!({"errcode": 0, "errmsg": "ok"})).into_response()
        }
    }
}
