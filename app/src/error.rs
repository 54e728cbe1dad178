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
    /// A webhook call failed: `class` is the sender's failure class (`timeout`, `errcode`, …).
    #[error("{message}")]
    Webhook { class: String, message: String },
    /// The request cannot be carried out in the current state (e.g. a notification that is off).
    #[error("{0}")]
    Conflict(String),
    /// What the request names does not exist (e.g. an unknown user id).
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    ServerFn(ServerFnErrorErr),
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        AppError::ServerFn(value)
    }
}
