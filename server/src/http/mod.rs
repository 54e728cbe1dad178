//! The HTTP surface: the router and its layers, sign-in and sessions, access rules, the REST
//! API, health probes, `/metrics`, the application state every handler shares, and the pages'
//! ports over the services (`ports`).
pub mod access;
pub mod api;
pub mod auth;
pub mod health;
pub mod metrics;
pub mod ports;
pub mod router;
pub mod sessions;
pub mod state;
