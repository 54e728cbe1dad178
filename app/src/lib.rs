//! Views, routes, server-function declarations and the types they share with the server.
//!
//! Server-only work (PostgreSQL, Redis, HTTP clients) lives in the `server` crate and reaches the
//! server functions declared here through the small traits of [`ports`], provided as context.
#![recursion_limit = "256"]

/// leptos_i18n's generated `i18n` module (from `app/build.rs`), whose inner modules carry `pub`
/// items nothing outside reaches.
#[allow(unreachable_pub)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/i18n/mod.rs"));
}
pub use generated::i18n;

/// The i18n context every view reads its words from.
pub type I18n = leptos_i18n::I18nContext<i18n::Locale>;

pub mod api;
pub mod components;
pub mod deliveries;
pub mod error;
pub mod notifications;
pub mod pages;
#[cfg(feature = "ssr")]
pub mod ports;
pub mod routes;
pub mod session;
pub mod sources;
pub mod targets;
pub mod usage;
pub mod users;

pub use routes::{shell, App};
