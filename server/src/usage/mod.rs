//! What the gateways report and who it concerns: usage ingest and its rollups, spending over
//! the quota windows, a day ranked by user, the users and providers directories, and the per-provider circuit
//! breakers driven by ingested outcomes (with their backlog while Redis is away).
pub mod breaker;
pub mod breaker_backlog;
pub mod breaker_replay;
pub mod demo;
pub mod directory;
pub mod event;
pub mod ingest;
pub mod leaderboard;
pub mod mirror;
pub mod providers;
pub mod spending;
pub mod users;
