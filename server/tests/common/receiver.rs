//! A real local webhook receiver: records every request and answers as told.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
}

#[derive(Clone, Debug)]
pub struct Received {
    pub path_and_query: String,
    pub content_type: Option<String>,
    pub body: serde_json::Value,
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
}

async fn receive(State(shared): State<Shared>, uri: axum::http::Uri, headers: HeaderMap, body: Bytes) -> Response {
    shared.received.lock().unwrap().push(Received {
        path_and_query: uri.path_and_query().map(|p| p.to_string()).unwrap_or_default(),
        content_type: headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
    });
    let answer = shared.answer.lock().unwrap().clone();
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
    }
}
