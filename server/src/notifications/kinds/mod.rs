//! One module per notification kind: what triggers it and what its message holds.
pub mod breaker_alerts;
pub mod cost_alert;
pub mod leaderboard;
