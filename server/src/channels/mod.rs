//! How a message reaches a receiving platform: the webhook sender (no redirects, timeouts, the
//! platform's success judgement) and the SSRF guard every request passes.
pub mod sender;
pub mod ssrf;
