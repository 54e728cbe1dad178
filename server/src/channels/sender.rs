//! The webhook sender: the one code path for test messages and real deliveries.
//!
//! `POST` with `{"msgtype":"markdown","markdown":{"content":…}}`; success is HTTP 2xx with no
//! `errcode` or `errcode` 0. Every call passes the SSRF guard first, and the HTTP client resolves
//! names only through the guard, so a name cannot be re-pointed at an internal address between
//! the check and the connection. Redirects are not followed and no proxy is taken from the
//! environment. Errors never contain the URL: webhook keys live in its query string.
use std::borrow::Cow;
use std::time::Duration;

use serde_json::json;

use crate::channels::ssrf::{refusal_of, Refusal, SsrfGuard};

/// WeCom's limit on markdown content, in bytes of UTF-8.
pub const MAX_CONTENT_BYTES: usize = 4096;
/// Appended where content was cut to fit.
pub const TRUNCATION_MARKER: &str = "\n\n…(内容过长,已截断)";
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Bodies beyond this are not read: a webhook's answer is small.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    #[error("not allowed: {0}")]
    Refused(Refusal),
    #[error("request timed out after {} s", .0.as_secs())]
    Timeout(Duration),
    #[error("connection failed: {0}")]
    Connect(String),
    #[error("HTTP {status} redirect not followed")]
    Redirect { status: u16 },
    #[error("HTTP {status}{}", if .body.is_empty() { String::new() } else { format!(": {body}") })]
    HttpStatus { status: u16, body: String },
    #[error("errcode {errcode}: {errmsg}")]
    ErrCode { errcode: i64, errmsg: String },
    #[error("request failed: {0}")]
    Request(String),
}

impl SendError {
    /// A stable name of the failure class (API answers, metrics).
    pub fn class(&self) -> &'static str {
        match self {
            SendError::Refused(_) => "refused",
            SendError::Timeout(_) => "timeout",
            SendError::Connect(_) => "connect",
            SendError::Redirect { .. } => "redirect",
            SendError::HttpStatus { .. } => "http_status",
            SendError::ErrCode { .. } => "errcode",
            SendError::Request(_) => "request",
        }
    }
}

/// Cuts content to WeCom's limit on a character boundary, with a visible marker.
pub fn fit_content(content: &str) -> Cow<'_, str> {
    if content.len() <= MAX_CONTENT_BYTES {
        return Cow::Borrowed(content);
    }
    let mut end = MAX_CONTENT_BYTES - TRUNCATION_MARKER.len();
    while !content.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}{TRUNCATION_MARKER}", &content[..end]))
}

/// `scheme://host[:port]` of a URL: what logs and history may show (never path or query).
pub fn display_target(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => match (u.host_str(), u.port()) {
            (Some(h), Some(p)) => format!("{}://{h}:{p}", u.scheme()),
            (Some(h), None) => format!("{}://{h}", u.scheme()),
            _ => "(invalid URL)".into(),
        },
        Err(_) => "(invalid URL)".into(),
    }
}

#[derive(Clone)]
pub struct WebhookSender {
    client: reqwest::Client,
    guard: SsrfGuard,
    timeout: Duration,
}

impl WebhookSender {
    pub fn new(guard: SsrfGuard, timeout: Duration) -> Result<Self, reqwest::Error> {
        // The guard's builder resolves only through the guard and takes no proxy; on top of that
        // redirects are not followed at all: a webhook answers where it was asked.
        let client = guard
            .client_builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .user_agent(concat!("hub-notify/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(WebhookSender { client, guard, timeout })
    }

    pub fn guard(&self) -> &SsrfGuard {
        &self.guard
    }

    /// Sends markdown content (cut to WeCom's limit) and judges the answer.
    pub async fn send_markdown(&self, url: &str, content: &str) -> Result<(), SendError> {
        self.deliver(url, content, None).await
    }

    /// [`Self::send_markdown`] with the notification's idempotency key in an `Idempotency-Key`
    /// header, so a receiver that honours it can drop the rare repeated delivery.
    pub async fn deliver(&self, url: &str, content: &str, idempotency_key: Option<&str>) -> Result<(), SendError> {
        self.guard.check(url).await.map_err(SendError::Refused)?;
        let body = json!({ "msgtype": "markdown", "markdown": { "content": fit_content(content) } });
        let mut request = self.client.post(url).json(&body);
        if let Some(key) = idempotency_key {
            request = request.header("idempotency-key", key);
        }
        let response = request.send().await.map_err(|e| self.classify(e))?;
        let status = response.status();
        if status.is_redirection() {
            return Err(SendError::Redirect {
                status: status.as_u16(),
            });
        }
        let bytes = read_limited(response).await.map_err(|e| self.classify(e))?;
        if !status.is_success() {
            return Err(SendError::HttpStatus {
                status: status.as_u16(),
                body: mask_url_secrets(snippet(&bytes), url),
            });
        }
        judge_body(&bytes).map_err(|e| match e {
            SendError::ErrCode { errcode, errmsg } => SendError::ErrCode {
                errcode,
                errmsg: mask_url_secrets(errmsg, url),
            },
            other => other,
        })
    }

    fn classify(&self, e: reqwest::Error) -> SendError {
        // The guarded resolver's refusal travels as the source of a connect error.
        if let Some(refusal) = refusal_of(&e) {
            return SendError::Refused(refusal.clone());
        }
        let e = e.without_url();
        if e.is_timeout() {
            SendError::Timeout(self.timeout)
        } else if e.is_connect() {
            SendError::Connect(root_cause(&e))
        } else {
            SendError::Request(root_cause(&e))
        }
    }
}

async fn read_limited(mut response: reqwest::Response) -> Result<Vec<u8>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = MAX_RESPONSE_BYTES - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= MAX_RESPONSE_BYTES {
            break;
        }
    }
    Ok(body)
}

/// A 2xx answer: JSON with a non-zero `errcode` is a failure; anything else is success.
fn judge_body(bytes: &[u8]) -> Result<(), SendError> {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return Ok(());
    };
    match value.get("errcode") {
        None => Ok(()),
        Some(code) => match code.as_i64() {
            Some(0) => Ok(()),
            other => Err(SendError::ErrCode {
                errcode: other.unwrap_or(-1),
                errmsg: value
                    .get("errmsg")
                    .and_then(|m| m.as_str())
                    .unwrap_or("")
                    .chars()
                    .take(200)
                    .collect(),
            }),
        },
    }
}

/// What a receiver says is stored and shown as the last error, and a receiver may quote the
/// request (a proxy's error page, a hint with the URL): the URL's query values — the robot's
/// key — are masked in it.
fn mask_url_secrets(mut text: String, url: &str) -> String {
    let Some(query) = url::Url::parse(url).ok().and_then(|u| u.query().map(str::to_owned)) else {
        return text;
    };
    for pair in query.split('&') {
        let raw = pair.split_once('=').map_or(pair, |(_, v)| v);
        let decoded = url::form_urlencoded::parse(pair.as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        for secret in [raw, decoded.as_str()] {
            // Short values (`debug=1`) are no secret, and masking them would garble the text.
            if secret.len() >= 4 {
                text = text.replace(secret, "***");
            }
        }
    }
    text
}

fn snippet(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).trim().chars().take(200).collect()
}

fn root_cause(e: &dyn std::error::Error) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_of_the_url_are_masked_in_what_a_receiver_says() {
        let url = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=ab%2Fcd-1234&debug=1";
        assert_eq!(
            mask_url_secrets("bad key ab%2Fcd-1234 (ab/cd-1234), debug=1".into(), url),
            "bad key *** (***), debug=1"
        );
        assert_eq!(mask_url_secrets("no query".into(), "https://h/x"), "no query");
    }

    #[test]
    fn short_content_is_untouched() {
        assert_eq!(fit_content("hello"), "hello");
        let exact = "a".repeat(MAX_CONTENT_BYTES);
        assert_eq!(fit_content(&exact).len(), MAX_CONTENT_BYTES);
    }

    #[test]
    fn long_content_is_cut_on_a_char_boundary_with_a_marker() {
        let long = "供应商熔断".repeat(1000); // 3 bytes a character
        let cut = fit_content(&long);
        assert!(cut.len() <= MAX_CONTENT_BYTES, "{}", cut.len());
        assert!(cut.ends_with(TRUNCATION_MARKER));
        assert!(cut.len() > MAX_CONTENT_BYTES - 8, "cut no more than needed");
    }

    #[test]
    fn body_judgement() {
        assert_eq!(judge_body(br#"{"errcode":0,"errmsg":"ok"}"#), Ok(()));
        assert_eq!(judge_body(b"not json"), Ok(()));
        assert_eq!(judge_body(b""), Ok(()));
        assert_eq!(judge_body(br#"{"ok":true}"#), Ok(()));
        assert_eq!(
            judge_body(br#"{"errcode":93000,"errmsg":"invalid webhook url"}"#),
            Err(SendError::ErrCode {
                errcode: 93000,
                errmsg: "invalid webhook url".into()
            })
        );
        assert_eq!(
            judge_body(br#"{"errcode":"x"}"#),
            Err(SendError::ErrCode {
                errcode: -1,
                errmsg: String::new()
            })
        );
    }

    #[test]
    fn targets_hide_the_key() {
        assert_eq!(
            display_target("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=secret"),
            "https://qyapi.weixin.qq.com"
        );
        assert_eq!(
            display_target("http://127.0.0.1:8080/hook?k=1"),
            "http://127.0.0.1:8080"
        );
    }
}
