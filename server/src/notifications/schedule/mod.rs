//! When scheduled kinds fire: the plan of jobs the settings call for, the cron scheduler
//! (production only), the fire claims that let one
//! instance of many run a fire, and the runs themselves (scheduled, 立即发送, 测试连接).
pub mod fire_claims;
pub mod plan;
pub mod runs;
pub mod scheduler;
