//! Server-function declarations, one file per area.
pub mod auth;
pub mod deliveries;
pub mod notifications;
pub mod sources;
pub mod targets;
pub mod usage;
pub mod users;
