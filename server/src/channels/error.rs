//! How a send fails: the one error every channel and the sender answer with, and its class as
//! the pages and the API name it.
use std::time::Duration;

use app::error::SendFailure;

use crate::channels::ssrf::Refusal;

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
    /// The platform answered 2xx but refused the message with its own error code.
    #[error("errcode {errcode}: {errmsg}")]
    ErrCode { errcode: i64, errmsg: String },
    /// The platform said to slow down (HTTP 429, or its own code), and for how long if it said.
    #[error("throttled by the platform{}", .retry_after.map(|d| format!("; retry after {} s", d.as_secs())).unwrap_or_default())]
    Throttled { retry_after: Option<Duration> },
    /// The target's proxy was refused by the guard or could not be used.
    #[error("proxy not usable: {0}")]
    Proxy(String),
    #[error("request failed: {0}")]
    Request(String),
}

impl SendError {
    /// The failure class (API answers, the page's explanation).
    pub fn class(&self) -> SendFailure {
        match self {
            SendError::Refused(_) => SendFailure::Refused,
            SendError::Timeout(_) => SendFailure::Timeout,
            SendError::Connect(_) => SendFailure::Connect,
            SendError::Redirect { .. } => SendFailure::Redirect,
            SendError::HttpStatus { .. } => SendFailure::HttpStatus,
            SendError::ErrCode { .. } => SendFailure::Errcode,
            SendError::Throttled { .. } => SendFailure::Throttled,
            SendError::Proxy(_) => SendFailure::Connect,
            SendError::Request(_) => SendFailure::Request,
        }
    }

    /// The receiver's HTTP status, when it answered with one that failed.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            SendError::HttpStatus { status, .. } | SendError::Redirect { status } => Some(*status),
            _ => None,
        }
    }
}
