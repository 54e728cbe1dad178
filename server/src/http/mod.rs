//! The HTTP surface: the router and its layers, sign-in and sessions, access rules, the REST
//! API, health probes, `/metrics`, and the application state every handler shares.
pub mod access;
pub mod api;
pub mod auth;
pub mod health;
pub mod metrics;
pub mod router;
pub mod sessions;
pub mod state;
