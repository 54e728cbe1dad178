//! What every layer stands on and that knows nothing of notifications: configuration parsed
//! from the environment, the PostgreSQL pool and its migrations, Redis connections, tracing,
//! secret values and their encryption at rest, the retry helper and the stop signal every loop
//! watches.
pub mod config;
pub mod db;
pub mod encryption;
pub mod redis;
pub mod retry;
pub mod secrets;
pub mod shutdown;
pub mod telemetry;
