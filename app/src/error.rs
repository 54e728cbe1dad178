//! The error type of every server function: typed on both sides of the wire.
use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

use crate::notifications::FieldErrors;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    #[error("not signed in")]
    Unauthorized,
    #[error("admin role required")]
    Forbidden,
    #[error("invalid token or API key")]
    InvalidCredentials,
    #[error("too many failed sign-in attempts")]
    Throttled,
    #[error("a backing service is unavailable")]
    Unavailable,
    #[error("invalid input")]
    Validation(FieldErrors),
    /// A webhook call failed; `http_status` is the receiver's answer when it gave one.
    #[error("{message}")]
    Webhook {
        class: SendFailure,
        http_status: Option<u16>,
        message: String,
    },
    /// The request cannot be carried out in the current state (e.g. a notification that is off).
    #[error("{0}")]
    Conflict(String),
    /// What the request names does not exist (e.g. an unknown user id).
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    ServerFn(ServerFnErrorErr),
}

/// Why a webhook call failed, as the sender classes it (the API's `reason`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SendFailure {
    /// The SSRF guard refused the target.
    Refused,
    Timeout,
    Connect,
    Redirect,
    /// The receiver answered a non-2xx status.
    HttpStatus,
    /// The receiver answered 2xx with its own error code.
    Errcode,
    /// The platform said to slow down (HTTP 429 or its own code).
    Throttled,
    Request,
}

impl SendFailure {
    pub fn as_str(self) -> &'static str {
        match self {
            SendFailure::Refused => "refused",
            SendFailure::Timeout => "timeout",
            SendFailure::Connect => "connect",
            SendFailure::Redirect => "redirect",
            SendFailure::HttpStatus => "http_status",
            SendFailure::Errcode => "errcode",
            SendFailure::Throttled => "throttled",
            SendFailure::Request => "request",
        }
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        AppError::ServerFn(value)
    }
}
