#![recursion_limit = "256"]
//! The Hub Notify server, in layers whose dependencies point one way:
//!
//! ```text
//! platform ← usage ← sources ─────────────┐
//! platform ← channels ← delivery ← notifications ← http
//! ```
//!
//! - [`platform`]: configuration, PostgreSQL, Redis, tracing, secrets, retries;
//! - [`usage`]: what gateways report (ingest, rollups, spending), users, providers, breakers;
//! - [`sources`]: where usage comes from (HTTP, LiteLLM's callback) and what each delivered;
//! - [`channels`]: how a message reaches a platform (HTTP client, SSRF guard, WeCom);
//! - [`delivery`]: the outbox, the Redis queue and its workers, rate limits, the sweeper;
//! - [`notifications`]: the three kinds, their settings, schedules and message templates;
//! - [`http`]: the router, sign-in and sessions, access rules, the REST API, health, `/metrics`,
//!   and the application state every handler shares.
pub mod channels;
pub mod delivery;
pub mod http;
pub mod notifications;
pub mod platform;
pub mod sources;
pub mod usage;

use std::net::SocketAddr;

use leptos::config::LeptosOptions;

/// Leptos options from cargo-leptos's environment (or `Cargo.toml` metadata), with the listen
/// address taken from our validated configuration.
pub fn leptos_options(site_addr: SocketAddr) -> Result<LeptosOptions, String> {
    let mut options = leptos::config::get_configuration(None)
        .map_err(|e| format!("Leptos configuration: {e}"))?
        .leptos_options;
    options.site_addr = site_addr;
    Ok(options)
}
