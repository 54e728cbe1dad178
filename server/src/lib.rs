#![recursion_limit = "256"]
//! The Hub Notify server: configuration, PostgreSQL, Redis, sessions, access rules and the
//! HTTP surface hosting the Leptos app. One file per concern.
pub mod access;
pub mod api;
pub mod auth;
pub mod breaker;
pub mod breaker_alerts;
pub mod breaker_backlog;
pub mod config;
pub mod cost_alert;
pub mod db;
pub mod delivery;
pub mod demo;
pub mod fire_claims;
pub mod health;
pub mod http;
pub mod ingest;
pub mod leaderboard;
pub mod metrics;
pub mod outbox;
pub mod providers;
pub mod queue;
pub mod rate_limit;
pub mod redis;
pub mod retry;
pub mod runs;
pub mod scheduler;
pub mod secrets;
pub mod sender;
pub mod sessions;
pub mod settings;
pub mod spending;
pub mod ssrf;
pub mod state;
pub mod sweeper;
pub mod telemetry;
pub mod templates;
pub mod usage_directory;
pub mod users;

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
