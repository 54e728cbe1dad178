//! One request as a gateway saw it: what every source turns its reports into, and the rules an
//! event must meet before it is stored.
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

const MAX_TEXT: usize = 200;
const MAX_ERROR_TEXT: usize = 2000;

/// One request as the gateway saw it.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UsageEvent {
    pub request_id: String,
    pub user_id: i64,
    pub user_name: String,
    pub provider_id: i64,
    pub provider_name: String,
    pub model: String,
    #[schema(value_type = f64)]
    pub cost_usd: Decimal,
    #[serde(default)]
    pub input_tokens: i64,
    #[serde(default)]
    pub output_tokens: i64,
    #[serde(default)]
    pub cache_creation_input_tokens: i64,
    #[serde(default)]
    pub cache_read_input_tokens: i64,
    pub success: bool,
    #[serde(default)]
    pub status_code: Option<i32>,
    #[serde(default)]
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    /// The gateway's API key it was made with (an `api_keys` row), when a source knows it;
    /// never taken from a gateway's JSON.
    #[serde(skip)]
    pub key_id: Option<i64>,
}

impl UsageEvent {
    pub fn tokens(&self) -> i64 {
        self.input_tokens + self.output_tokens + self.cache_creation_input_tokens + self.cache_read_input_tokens
    }

    /// The event as stored, or why it cannot be: the rules the JSON types cannot express, text
    /// trimmed (every source's events pass here).
    pub fn checked(mut self) -> Result<UsageEvent, String> {
        self.check()?;
        self.request_id = self.request_id.trim().to_owned();
        self.user_name = self.user_name.trim().to_owned();
        self.provider_name = self.provider_name.trim().to_owned();
        self.model = self.model.trim().to_owned();
        // The error is the upstream's free text, kept for people to read: a NUL in it is dropped
        // rather than the event.
        self.error = self
            .error
            .map(|m| m.chars().filter(|c| *c != '\0').take(MAX_ERROR_TEXT).collect());
        Ok(self)
    }

    /// Rules the JSON types cannot express.
    fn check(&self) -> Result<(), String> {
        let text = |name: &str, value: &str| -> Result<(), String> {
            let n = value.trim().chars().count();
            if n == 0 || n > MAX_TEXT {
                Err(format!("{name} must be 1 to {MAX_TEXT} characters"))
            } else if value.contains('\0') {
                // PostgreSQL text cannot hold NUL: the batch's one statement would fail whole.
                Err(format!("{name} must not contain NUL characters"))
            } else {
                Ok(())
            }
        };
        text("requestId", &self.request_id)?;
        text("userName", &self.user_name)?;
        text("providerName", &self.provider_name)?;
        text("model", &self.model)?;
        if self.user_id <= 0 {
            return Err("userId must be a positive integer".into());
        }
        if self.provider_id <= 0 {
            return Err("providerId must be a positive integer".into());
        }
        if self.cost_usd.is_sign_negative() || self.cost_usd > Decimal::from(1_000_000_000) {
            return Err("costUsd must be between 0 and 1e9".into());
        }
        for (name, n) in [
            ("inputTokens", self.input_tokens),
            ("outputTokens", self.output_tokens),
            ("cacheCreationInputTokens", self.cache_creation_input_tokens),
            ("cacheReadInputTokens", self.cache_read_input_tokens),
        ] {
            if !(0..=1_000_000_000_000).contains(&n) {
                return Err(format!("{name} must be between 0 and 1e12"));
            }
        }
        if let Some(code) = self.status_code {
            if !(100..=599).contains(&code) {
                return Err("statusCode must be an HTTP status (100–599)".into());
            }
        }
        let now = Utc::now();
        if self.created_at > now + chrono::Duration::minutes(5) {
            return Err("createdAt is in the future".into());
        }
        Ok(())
    }
}
