//! Getting a notification delivered exactly once per target, whatever fails: the PostgreSQL
//! outbox, the Redis queue and its workers, per-webhook rate limits, the sweeper that re-enqueues
//! rows Redis lost, and the delivery metrics.
pub mod engine;
pub mod metrics;
pub mod outbox;
pub mod queue;
pub mod rate_limit;
pub mod runner;
pub mod sweeper;
