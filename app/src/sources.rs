//! 数据来源: where usage comes from — `http` (`POST /api/v1/usage`), LiteLLM's callback and
//! Claude Code Hub's database — what each delivered lately, and how to connect it. The shapes
//! the page, its server function and `GET /api/v1/sources` share, and the set-up snippets.
use serde::{Deserialize, Serialize};

pub use crate::usage::Source;

/// A source's counts over a period.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    /// Events stored.
    pub accepted: i64,
    /// Events stored before (a batch sent again, a row read again).
    pub duplicates: i64,
    /// Events stored before whose values changed since.
    pub revised: i64,
    pub rejected: i64,
    /// Stored events that came without a price: their cost counts as 0.
    pub unpriced: i64,
}

/// A reason noted, and when (RFC 3339).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Note {
    pub at: String,
    pub detail: String,
}

/// What a source delivered lately.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Activity {
    /// When its last batch arrived (RFC 3339).
    pub last_event_at: Option<String>,
    pub last_hour: Counts,
    /// The latest reasons for rejections, newest first.
    pub latest_rejections: Vec<Note>,
    /// The latest events without a price, newest first.
    pub latest_unpriced: Vec<Note>,
}

/// How the tail of a source that is read (Claude Code Hub) stands, as every instance sees it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct TailStatus {
    /// The instance holding the lease (`host#pid-tag`), if one does.
    pub active_instance: Option<String>,
    pub polled_at: Option<String>,
    /// How long before the last poll the oldest change it read happened.
    pub lag_seconds: Option<f64>,
    pub last_error: Option<String>,
    pub last_error_at: Option<String>,
}

/// A source and what it delivered lately.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SourceStatus {
    pub name: Source,
    /// Whether it is on: the sources that send need `INGEST_TOKEN`, Claude Code Hub's needs
    /// `CCH_DATABASE_URL`.
    pub enabled: bool,
    /// Where a source that sends posts its events.
    pub path: Option<String>,
    /// How the tail of a source that is read (Claude Code Hub) stands.
    pub tail: Option<TailStatus>,
    #[serde(flatten)]
    pub activity: Activity,
}

/// The 数据来源 page: every source, and this server's address as the browser reached it (for the
/// snippets).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SourcesPage {
    pub sources: Vec<SourceStatus>,
    pub base_url: String,
}

/// The path a source that sends posts to.
pub fn ingest_path(source: Source) -> Option<&'static str> {
    match source {
        Source::Http => Some("/api/v1/usage"),
        Source::Litellm => Some("/api/v1/ingest/litellm"),
        Source::Cch => None,
    }
}

/// What to paste to connect `source` to the server at `base_url` (no trailing `/`); the
/// secrets stay placeholders.
pub fn setup_snippet(source: Source, base_url: &str) -> String {
    let base = base_url.trim_end_matches('/');
    match source {
        Source::Http => format!(
            "curl -H \"Authorization: Bearer $INGEST_TOKEN\" -H 'content-type: application/json' \\\n  \
             {base}/api/v1/usage -d '{{\"events\":[{{\n    \
             \"requestId\":\"r-1\",\"userId\":7,\"userName\":\"张三\",\"providerId\":1,\"providerName\":\"Anthropic 官方\",\n    \
             \"model\":\"claude-sonnet-4\",\"costUsd\":0.0123,\"inputTokens\":1200,\"outputTokens\":300,\n    \
             \"success\":true,\"statusCode\":200,\"createdAt\":\"2026-01-15T10:30:00Z\"}}]}}'"
        ),
        Source::Litellm => format!(
            "litellm_settings:\n  \
             callbacks: [\"hubnotify\"]\n  \
             turn_off_message_logging: true\n\
             callback_settings:\n  \
             hubnotify:\n    \
             callback_type: generic_api\n    \
             endpoint: {base}/api/v1/ingest/litellm\n    \
             headers:\n      \
             Authorization: \"Bearer <INGEST_TOKEN>\"\n"
        ),
        Source::Cch => "# Hub Notify's environment (.env)\n\
             CCH_DATABASE_URL=postgres://hub_notify_reader:<password>@<cch-db-host>:5432/<cch-database>\n\
             CCH_REDIS_URL=redis://<cch-redis-host>:6379\n\
             CCH_POLL_INTERVAL=2\n\
             \n\
             -- in Claude Code Hub's PostgreSQL: a role that may only read\n\
             CREATE ROLE hub_notify_reader LOGIN PASSWORD '<password>';\n\
             GRANT SELECT ON message_request, users, keys, providers TO hub_notify_reader;\n"
            .to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippets_name_this_server_and_keep_secrets_out() {
        let litellm = setup_snippet(Source::Litellm, "https://hub.example.com/");
        assert!(litellm.contains("    endpoint: https://hub.example.com/api/v1/ingest/litellm\n"));
        assert!(litellm.contains("callback_type: generic_api"));
        assert!(litellm.contains("Authorization: \"Bearer <INGEST_TOKEN>\""));
        let curl = setup_snippet(Source::Http, "http://127.0.0.1:3000");
        assert!(curl.contains("\\\n  http://127.0.0.1:3000/api/v1/usage -d '{\"events\":[{\n    \"requestId\":\"r-1\""));
        assert!(curl.ends_with("\"createdAt\":\"2026-01-15T10:30:00Z\"}]}'"));
        let cch = setup_snippet(Source::Cch, "http://x");
        assert!(cch.contains("CCH_DATABASE_URL=postgres://hub_notify_reader:"));
        assert!(cch.contains("GRANT SELECT ON message_request, users, keys, providers TO hub_notify_reader;"));
    }
}
