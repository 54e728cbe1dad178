//! Push targets (推送目标, `push_targets`): where a channel delivers, with its settings and
//! sealed secrets. Which kinds go to them is the notifications' (`notifications::bindings`).
//!
//! A target's secrets — the webhook URL of a keyed platform, a signing secret, a bot token,
//! header values — are one JSON object sealed under `SECRETS_KEY` for the target's row
//! ([`crate::platform::encryption`]): the database, its dumps and its backups never hold them
//! in clear. Everything else a page may show, including `endpoint_host` (scheme, host, port).
use std::collections::BTreeMap;

use app::targets::ChannelKind;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};

use crate::platform::config::RateLimit;
use crate::platform::encryption::{sealed_context, OpenError, SecretsKey};

/// Where a target's sealed secrets live (the rotation of `SECRETS_KEY` reseals them).
pub const SEALED_TABLE: &str = "push_targets";
pub const SEALED_COLUMN: &str = "secrets";

/// `scheme://host[:port]` of a URL: what logs and history may show (never path or query).
pub fn display_target(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => match (u.host_str(), u.port()) {
            (Some(h), Some(p)) => format!("{}://{h}:{p}", u.scheme()),
            (Some(h), None) => format!("{}://{h}", u.scheme()),
            _ => "(invalid URL)".into(),
        },
        Err(_) => "(invalid URL)".into(),
    }
}

/// A target's secret settings. Debug shows which are set, never their values.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetSecrets {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot_token: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// The outbound proxy, which may carry a user name and password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_url: Option<String>,
}

impl TargetSecrets {
    /// The secrets of a target that has a webhook URL and nothing else.
    pub fn of_url(url: impl Into<String>) -> Self {
        TargetSecrets {
            webhook_url: Some(url.into()),
            ..TargetSecrets::default()
        }
    }
}

impl std::fmt::Debug for TargetSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TargetSecrets")
            .field("webhook_url", &self.webhook_url.as_deref().map(display_target))
            .field("has_secret", &self.secret.is_some())
            .field("has_bot_token", &self.bot_token.is_some())
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("proxy_url", &self.proxy_url.as_deref().map(mask_proxy_password))
            .finish()
    }
}

/// The outcome of a target's last test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LastTest {
    pub at: DateTime<Utc>,
    pub ok: bool,
    pub error: Option<String>,
    pub latency_ms: i32,
}

/// How a channel reaches a target: the channel's settings (no secret: a chat id, an API base)
/// and its secrets.
#[derive(Clone, Debug, Default)]
pub struct Destination {
    pub settings: serde_json::Map<String, serde_json::Value>,
    pub secrets: TargetSecrets,
}

/// The settings every channel takes: whether to go direct when the proxy is down, and the
/// target's own send budget.
pub const PROXY_FALLBACK_DIRECT: &str = "proxyFallbackDirect";
pub const RATE_LIMIT: &str = "rateLimit";

/// A proxy URL with its password as `***` (the user name stays: it says which account).
pub fn mask_proxy_password(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some(app::targets::MASKED_PASSWORD));
            u.to_string().trim_end_matches('/').to_owned()
        }
        Ok(_) => url.to_owned(),
        Err(_) => "(invalid proxy URL)".into(),
    }
}

impl Destination {
    /// The proxy a request goes through, if any.
    pub fn proxy(&self) -> Option<&str> {
        self.secrets.proxy_url.as_deref()
    }

    /// Whether a request goes direct when the proxy cannot be reached.
    pub fn proxy_fallback_direct(&self) -> bool {
        self.settings
            .get(PROXY_FALLBACK_DIRECT)
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(false)
    }

    /// The target's own send budget, if it has one.
    pub fn own_budget(&self) -> Option<RateLimit> {
        let budget: app::targets::BudgetSetting =
            serde_json::from_value(self.settings.get(RATE_LIMIT)?.clone()).ok()?;
        Some(RateLimit {
            sends: budget.sends,
            window: std::time::Duration::from_secs(u64::from(budget.per_seconds)),
        })
    }

    /// A target reached by its webhook URL alone.
    pub fn of_url(url: impl Into<String>) -> Self {
        Destination {
            settings: serde_json::Map::new(),
            secrets: TargetSecrets::of_url(url),
        }
    }

    /// A setting that is text.
    pub fn setting(&self, name: &str) -> Option<&str> {
        self.settings.get(name).and_then(serde_json::Value::as_str)
    }
}

/// A target as stored, its secrets opened.
#[derive(Clone, Debug)]
pub struct PushTarget {
    pub id: i64,
    pub name: String,
    pub channel: ChannelKind,
    pub enabled: bool,
    pub destination: Destination,
    pub endpoint_host: String,
    pub last_test: Option<LastTest>,
}

/// A target to create.
#[derive(Clone, Debug)]
pub struct NewTarget {
    pub name: String,
    pub channel: ChannelKind,
    pub enabled: bool,
    pub destination: Destination,
    pub endpoint_host: String,
}

impl NewTarget {
    /// A WeCom robot: its URL (holding the robot's key) is its one secret.
    pub fn wecom(name: String, webhook_url: &str) -> Self {
        NewTarget {
            name,
            channel: ChannelKind::Wecom,
            enabled: true,
            endpoint_host: display_target(webhook_url),
            destination: Destination::of_url(webhook_url),
        }
    }
}

/// Where a notification of a kind goes: an enabled target of an enabled binding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetRef {
    pub id: i64,
    pub endpoint_host: String,
}

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("push target {id}: its secrets {source}")]
    Sealed { id: i64, source: OpenError },
    #[error("push target {id} has an unknown {column} {value:?}")]
    Corrupt {
        id: i64,
        column: &'static str,
        value: String,
    },
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    name: String,
    channel: String,
    enabled: bool,
    settings: sqlx::types::Json<serde_json::Map<String, serde_json::Value>>,
    secrets: String,
    endpoint_host: String,
    last_test_at: Option<DateTime<Utc>>,
    last_test_ok: Option<bool>,
    last_test_error: Option<String>,
    last_test_latency_ms: Option<i32>,
}

const COLUMNS: &str = "id, name, channel, enabled, settings, secrets, endpoint_host, last_test_at, last_test_ok,
    last_test_error, last_test_latency_ms";

fn context(id: i64) -> String {
    sealed_context(SEALED_TABLE, id, SEALED_COLUMN)
}

fn seal(key: &SecretsKey, id: i64, secrets: &TargetSecrets) -> String {
    let json = serde_json::to_string(secrets).expect("secrets serialize");
    key.seal(&json, &context(id))
}

impl Row {
    fn open(self, key: &SecretsKey) -> Result<PushTarget, TargetError> {
        let id = self.id;
        let channel = ChannelKind::from_key(&self.channel).ok_or_else(|| TargetError::Corrupt {
            id,
            column: "channel",
            value: self.channel.clone(),
        })?;
        let json = key
            .open(&self.secrets, &context(id))
            .map_err(|source| TargetError::Sealed { id, source })?;
        let secrets = serde_json::from_str(&json).map_err(|_| TargetError::Sealed {
            id,
            source: OpenError::Malformed,
        })?;
        let last_test = match (self.last_test_at, self.last_test_ok) {
            (Some(at), Some(ok)) => Some(LastTest {
                at,
                ok,
                error: self.last_test_error,
                latency_ms: self.last_test_latency_ms.unwrap_or(0),
            }),
            _ => None,
        };
        Ok(PushTarget {
            id,
            name: self.name,
            channel,
            enabled: self.enabled,
            destination: Destination {
                settings: self.settings.0,
                secrets,
            },
            endpoint_host: self.endpoint_host,
            last_test,
        })
    }
}

/// Creates a target (in the caller's transaction); returns its id.
pub async fn create(conn: &mut PgConnection, key: &SecretsKey, new: &NewTarget) -> Result<i64, TargetError> {
    // The id is the sealed value's place: taken first, so the row is written sealed at once.
    let id: i64 = sqlx::query_scalar("SELECT nextval(pg_get_serial_sequence('push_targets', 'id'))")
        .fetch_one(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO push_targets (id, name, channel, enabled, settings, secrets, endpoint_host)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id)
    .bind(&new.name)
    .bind(new.channel.key())
    .bind(new.enabled)
    .bind(sqlx::types::Json(&new.destination.settings))
    .bind(seal(key, id, &new.destination.secrets))
    .bind(&new.endpoint_host)
    .execute(&mut *conn)
    .await?;
    Ok(id)
}

/// Every target, oldest first.
pub async fn list(conn: &mut PgConnection, key: &SecretsKey) -> Result<Vec<PushTarget>, TargetError> {
    let rows: Vec<Row> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM push_targets ORDER BY id"))
        .fetch_all(&mut *conn)
        .await?;
    rows.into_iter().map(|r| r.open(key)).collect()
}

/// The WeCom target sending to `url`, created (named `name`) when there is none.
pub async fn wecom_target_for(
    conn: &mut PgConnection,
    key: &SecretsKey,
    url: &str,
    name: impl FnOnce() -> String,
) -> Result<i64, TargetError> {
    // Opening each WeCom target is cheap beside a save, and keeps no clear digest of the URL.
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM push_targets WHERE channel = 'wecom' ORDER BY id"
    ))
    .fetch_all(&mut *conn)
    .await?;
    for row in rows {
        let target = row.open(key)?;
        if target.destination.secrets.webhook_url.as_deref() == Some(url) {
            return Ok(target.id);
        }
    }
    create(conn, key, &NewTarget::wecom(name(), url)).await
}

/// The target `id`, its secrets opened.
pub async fn get(conn: &mut PgConnection, key: &SecretsKey, id: i64) -> Result<Option<PushTarget>, TargetError> {
    let row: Option<Row> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM push_targets WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    row.map(|r| r.open(key)).transpose()
}

/// Deletes target `id` (its bindings go with it); `false` when there was none. Its history
/// stays, showing its endpoint; its waiting deliveries fail.
pub async fn delete(conn: &mut PgConnection, id: i64) -> Result<bool, TargetError> {
    let deleted = sqlx::query("DELETE FROM push_targets WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    Ok(deleted == 1)
}

/// Of `ids`, those that name no target.
pub async fn missing(conn: &mut PgConnection, ids: &[i64]) -> Result<Vec<i64>, TargetError> {
    Ok(sqlx::query_scalar(
        "SELECT i FROM unnest($1::bigint[]) AS i WHERE NOT EXISTS (SELECT 1 FROM push_targets t WHERE t.id = i)",
    )
    .bind(ids)
    .fetch_all(&mut *conn)
    .await?)
}

/// A target's new name, switch, settings and secrets (in the caller's transaction); `false`
/// when there is no such target.
pub async fn update(
    conn: &mut PgConnection,
    key: &SecretsKey,
    id: i64,
    name: &str,
    enabled: bool,
    destination: &Destination,
    endpoint_host: &str,
) -> Result<bool, TargetError> {
    let updated = sqlx::query(
        "UPDATE push_targets SET name = $2, enabled = $3, settings = $4, secrets = $5, endpoint_host = $6,
                updated_at = now()
          WHERE id = $1",
    )
    .bind(id)
    .bind(name)
    .bind(enabled)
    .bind(sqlx::types::Json(&destination.settings))
    .bind(seal(key, id, &destination.secrets))
    .bind(endpoint_host)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok(updated == 1)
}

/// The name of a WeCom target made from a bare URL: its endpoint, never its key.
pub fn wecom_name(url: &str) -> String {
    format!("企业微信 · {}", display_target(url))
}

/// The targets and their secrets, for delivery.
#[derive(Clone)]
pub struct PushTargets {
    db: PgPool,
    key: SecretsKey,
}

impl PushTargets {
    pub fn new(db: PgPool, key: SecretsKey) -> Self {
        PushTargets { db, key }
    }

    pub fn key(&self) -> &SecretsKey {
        &self.key
    }

    pub fn db(&self) -> &PgPool {
        &self.db
    }

    pub async fn get(&self, id: i64) -> Result<Option<PushTarget>, TargetError> {
        let mut conn = self.db.acquire().await?;
        get(&mut conn, &self.key, id).await
    }

    /// A WeCom target for `url`, created if need be (tests, benchmarks, scripts).
    pub async fn wecom(&self, url: &str) -> Result<i64, TargetError> {
        let mut conn = self.db.acquire().await?;
        wecom_target_for(&mut conn, &self.key, url, || wecom_name(url)).await
    }

    /// Remembers the outcome of a test.
    pub async fn record_test(&self, id: i64, result: &Result<(), String>, latency_ms: i32) -> Result<(), TargetError> {
        sqlx::query(
            "UPDATE push_targets SET last_test_at = now(), last_test_ok = $2, last_test_error = $3,
                last_test_latency_ms = $4 WHERE id = $1",
        )
        .bind(id)
        .bind(result.is_ok())
        .bind(result.as_ref().err())
        .bind(latency_ms)
        .execute(&self.db)
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_hide_the_key() {
        assert_eq!(
            display_target("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=secret"),
            "https://qyapi.weixin.qq.com"
        );
        assert_eq!(
            display_target("http://127.0.0.1:8080/hook?k=1"),
            "http://127.0.0.1:8080"
        );
    }

    #[test]
    fn rotation_reseals_the_targets_secrets() {
        assert!(crate::platform::encryption::SEALED_COLUMNS.contains(&(SEALED_TABLE, SEALED_COLUMN)));
    }

    #[test]
    fn secrets_do_not_debug_print() {
        let secrets = TargetSecrets {
            webhook_url: Some("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=KEY123".into()),
            secret: Some("SEC456".into()),
            bot_token: Some("123:TOKEN789".into()),
            headers: BTreeMap::from([("Authorization".into(), "Bearer HDR000".into())]),
            proxy_url: Some("socks5://ops:PXY111@proxy.example:1080".into()),
        };
        let shown = format!("{secrets:?}");
        for secret in ["KEY123", "SEC456", "TOKEN789", "HDR000", "PXY111"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(
            shown.contains("qyapi.weixin.qq.com") && shown.contains("Authorization") && shown.contains("ops:***@"),
            "{shown}"
        );
    }
}
