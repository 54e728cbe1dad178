//! What the gateways report and who it concerns: usage ingest and its rollups, spending over
//! the quota windows, the users and providers directories, and the per-provider circuit
//! breakers driven by ingested outcomes (with their backlog while Redis is away).
pub mod breaker;
pub mod breaker_backlog;
pub mod demo;
pub mod directory;
pub mod ingest;
pub mod mirror;
pub mod providers;
pub mod spending;
pub mod users;
