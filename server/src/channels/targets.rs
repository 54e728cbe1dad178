//! Push targets (推送目标, `push_targets`): where a channel delivers, with its settings and
//! sealed secrets. Which kinds go to them is the notifications' (`notifications::bindings`).
//!
//! A target's secrets — the webhook URL of a keyed platform, a signing secret, a bot token,
//! header values — are one JSON object sealed under `SECRETS_KEY` for the target's row
//! ([`crate::platform::encryption`]): the database, its dumps and its backups never hold them
//! in clear. Everything else a page may show, including `endpoint_host` (scheme, host, port).
use app::targets::{BudgetSetting, ChannelConfig, ChannelKind, Hook};
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

/// A write-only value as the server holds it (a URL that holds a key, a signing secret, a bot
/// token, a header's value, a proxy's password). Debug shows at most a URL's endpoint.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match url::Url::parse(&self.0) {
            Ok(u) if u.has_host() => write!(f, "Secret({})", display_target(&self.0)),
            _ => f.write_str("Secret(***)"),
        }
    }
}

/// How a target reaches its platform, its secrets opened: its channel's config and the settings
/// every channel takes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Destination {
    pub config: ChannelConfig<Secret>,
    /// The outbound proxy, which may carry a user name and password.
    pub proxy_url: Option<Secret>,
    /// Whether a request goes direct when the proxy cannot be reached.
    pub proxy_fallback_direct: bool,
    /// The target's own send budget, if it has one.
    pub rate_limit: Option<BudgetSetting>,
}

/// The outcome of a target's last test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LastTest {
    pub at: DateTime<Utc>,
    pub ok: bool,
    pub error: Option<String>,
    pub latency_ms: i32,
}

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
    /// A target with `config` and nothing else: no proxy, no budget of its own.
    pub fn of(config: ChannelConfig<Secret>) -> Self {
        Destination {
            config,
            proxy_url: None,
            proxy_fallback_direct: false,
            rate_limit: None,
        }
    }

    /// A WeCom robot, its URL (holding the robot's key) its one secret.
    pub fn wecom(url: impl Into<String>) -> Self {
        Destination::of(ChannelConfig::Wecom(Hook {
            webhook_url: Secret::new(url),
        }))
    }

    /// The proxy a request goes through, if any.
    pub fn proxy(&self) -> Option<&str> {
        self.proxy_url.as_ref().map(Secret::expose)
    }

    /// The webhook URL it posts to (every channel's but Telegram's).
    pub fn webhook_url(&self) -> Option<&str> {
        self.config.webhook_url().map(Secret::expose)
    }

    /// The signing secret, where the channel signs and one is set.
    pub fn secret(&self) -> Option<&str> {
        self.config.secret().map(Secret::expose)
    }

    /// The target's own send budget, if it has one.
    pub fn own_budget(&self) -> Option<RateLimit> {
        self.rate_limit.map(|budget| RateLimit {
            sends: budget.sends,
            window: std::time::Duration::from_secs(u64::from(budget.per_seconds)),
        })
    }
}

/// What the `settings` column holds: a target's settings that are not secret.
#[derive(Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredSettings {
    /// The channel config's values that are not write-only (`chatId`, `template`, …).
    #[serde(flatten)]
    channel: serde_json::Map<String, serde_json::Value>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    proxy_fallback_direct: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rate_limit: Option<BudgetSetting>,
}

/// What the sealed `secrets` column holds, as one JSON object.
#[derive(Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SealedSecrets {
    /// The channel config's write-only values (`webhookUrl`, `secret`, `botToken`, `headers`).
    #[serde(flatten)]
    channel: serde_json::Map<String, serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    proxy_url: Option<Secret>,
}

impl Destination {
    /// The two columns a destination is stored in: the config's fields that hold a write-only
    /// value are sealed, the others are settings.
    fn stored(&self) -> (StoredSettings, SealedSecrets) {
        let mut settings = match serde_json::to_value(&self.config) {
            Ok(serde_json::Value::Object(fields)) => fields,
            other => unreachable!("a channel config is a JSON object: {other:?}"),
        };
        settings.remove("channel");
        let mut sealed = serde_json::Map::new();
        for (path, _) in self.config.write_only() {
            let field = path.split('.').next().unwrap_or(&path);
            if let Some(value) = settings.remove(field) {
                sealed.insert(field.to_owned(), value);
            }
        }
        (
            StoredSettings {
                channel: settings,
                proxy_fallback_direct: self.proxy_fallback_direct,
                rate_limit: self.rate_limit,
            },
            SealedSecrets {
                channel: sealed,
                proxy_url: self.proxy_url.clone(),
            },
        )
    }

    /// A destination from its two columns; `Err` says what a `channel` target lacks.
    fn from_stored(
        channel: ChannelKind,
        settings: StoredSettings,
        secrets: SealedSecrets,
    ) -> Result<Self, serde_json::Error> {
        let mut fields = settings.channel;
        fields.extend(secrets.channel);
        fields.insert("channel".into(), channel.key().into());
        Ok(Destination {
            config: serde_json::from_value(serde_json::Value::Object(fields))?,
            proxy_url: secrets.proxy_url,
            proxy_fallback_direct: settings.proxy_fallback_direct,
            rate_limit: settings.rate_limit,
        })
    }
}

/// What is wrong with a row's columns, for logs and answers: serde's message when it names a
/// missing field, never one that may quote a value (the sealed ones included).
fn corruption(e: &serde_json::Error) -> String {
    let message = e.to_string();
    if message.starts_with("missing field") {
        message
    } else {
        "a value of the wrong type".to_owned()
    }
}

/// A target as stored, its secrets opened.
#[derive(Clone, Debug)]
pub struct PushTarget {
    pub id: i64,
    pub name: String,
    pub enabled: bool,
    pub destination: Destination,
    pub endpoint_host: String,
    pub last_test: Option<LastTest>,
}

impl PushTarget {
    pub fn channel(&self) -> ChannelKind {
        self.destination.config.kind()
    }
}

/// A target to create.
#[derive(Clone, Debug)]
pub struct NewTarget {
    pub name: String,
    pub enabled: bool,
    pub destination: Destination,
    pub endpoint_host: String,
}

impl NewTarget {
    /// A WeCom robot: its URL (holding the robot's key) is its one secret.
    pub fn wecom(name: String, webhook_url: &str) -> Self {
        NewTarget {
            name,
            enabled: true,
            endpoint_host: display_target(webhook_url),
            destination: Destination::wecom(webhook_url),
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
    settings: sqlx::types::Json<StoredSettings>,
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

fn seal(key: &SecretsKey, id: i64, secrets: &SealedSecrets) -> String {
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
        let destination =
            Destination::from_stored(channel, self.settings.0, secrets).map_err(|e| TargetError::Corrupt {
                id,
                column: "settings",
                value: format!("a {} target: {}", channel.key(), corruption(&e)),
            })?;
        Ok(PushTarget {
            id,
            name: self.name,
            enabled: self.enabled,
            destination,
            endpoint_host: self.endpoint_host,
            last_test,
        })
    }
}

/// Creates a target (in the caller's transaction); returns its id.
pub async fn create(conn: &mut PgConnection, key: &SecretsKey, new: &NewTarget) -> Result<i64, TargetError> {
    let (settings, secrets) = new.destination.stored();
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
    .bind(new.destination.config.kind().key())
    .bind(new.enabled)
    .bind(sqlx::types::Json(&settings))
    .bind(seal(key, id, &secrets))
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
        if target.destination.webhook_url() == Some(url) {
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
    let (settings, secrets) = destination.stored();
    let updated = sqlx::query(
        "UPDATE push_targets SET name = $2, enabled = $3, settings = $4, secrets = $5, endpoint_host = $6,
                updated_at = now()
          WHERE id = $1",
    )
    .bind(id)
    .bind(name)
    .bind(enabled)
    .bind(sqlx::types::Json(&settings))
    .bind(seal(key, id, &secrets))
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
    use std::collections::BTreeMap;

    use super::*;
    use app::targets::{CustomHook, SignedHook, StandardWebhook, TelegramChat};

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
        let mut to = Destination::of(ChannelConfig::Custom(CustomHook {
            webhook_url: Secret::new("https://hooks.example/cgi-bin/webhook/send?key=KEY123"),
            template: serde_json::json!({"text": "{{text}}"}),
            headers: BTreeMap::from([("Authorization".into(), Secret::new("Bearer HDR000"))]),
        }));
        to.proxy_url = Some(Secret::new("socks5://ops:PXY111@proxy.example:1080"));
        let telegram = Destination::of(ChannelConfig::Telegram(TelegramChat {
            bot_token: Secret::new("123:TOKEN789"),
            chat_id: "-100".into(),
            message_thread_id: None,
            api_base_url: None,
        }));
        let shown = format!("{to:?} {telegram:?}");
        for secret in ["KEY123", "TOKEN789", "HDR000", "PXY111"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(
            shown.contains("hooks.example") && shown.contains("Authorization") && shown.contains("proxy.example"),
            "{shown}"
        );
    }

    #[test]
    fn every_channel_survives_its_columns() {
        let url = || Secret::new("https://example.com/hook?key=k");
        let configs = [
            ChannelConfig::Wecom(Hook { webhook_url: url() }),
            ChannelConfig::Slack(Hook { webhook_url: url() }),
            ChannelConfig::Discord(Hook { webhook_url: url() }),
            ChannelConfig::Feishu(SignedHook {
                webhook_url: url(),
                secret: Some(Secret::new("SEC1")),
            }),
            ChannelConfig::Dingtalk(SignedHook {
                webhook_url: url(),
                secret: None,
            }),
            ChannelConfig::Webhook(StandardWebhook {
                webhook_url: url(),
                secret: Secret::new("whsec_x"),
            }),
            ChannelConfig::Telegram(TelegramChat {
                bot_token: Secret::new("1:t"),
                chat_id: "@channel".into(),
                message_thread_id: Some(7),
                api_base_url: Some("http://127.0.0.1:8081".into()),
            }),
            ChannelConfig::Custom(CustomHook {
                webhook_url: url(),
                template: serde_json::json!({"t": "{{title}}"}),
                headers: BTreeMap::from([("X-Key".into(), Secret::new("v"))]),
            }),
        ];
        for config in configs {
            let mut to = Destination::of(config);
            to.proxy_url = Some(Secret::new("http://127.0.0.1:3128"));
            to.proxy_fallback_direct = true;
            to.rate_limit = Some(BudgetSetting {
                sends: 3,
                per_seconds: 60,
            });
            let (settings, secrets) = to.stored();
            // Through JSON, as the columns hold them.
            let settings = serde_json::from_value(serde_json::to_value(settings).unwrap()).unwrap();
            let secrets = serde_json::from_str(&serde_json::to_string(&secrets).unwrap()).unwrap();
            let opened = Destination::from_stored(to.config.kind(), settings, secrets);
            assert_eq!(opened.ok(), Some(to));
        }
        let missing = Destination::from_stored(
            ChannelKind::Telegram,
            StoredSettings::default(),
            SealedSecrets::default(),
        );
        assert!(corruption(&missing.unwrap_err()).contains("botToken"));
        // A sealed value of the wrong shape is not quoted.
        let wrong = Destination::from_stored(
            ChannelKind::Custom,
            serde_json::from_value(serde_json::json!({"template": {}})).unwrap(),
            serde_json::from_value(serde_json::json!({"webhookUrl": "https://h", "headers": "Bearer SEALED1"}))
                .unwrap(),
        );
        let shown = corruption(&wrong.unwrap_err());
        assert!(!shown.contains("SEALED1"), "{shown}");
    }

    /// The columns keep the JSON rows already hold: settings in clear, write-only values sealed.
    #[test]
    fn the_columns_hold_what_they_held() {
        let columns = |config| {
            let mut to = Destination::of(config);
            to.proxy_url = Some(Secret::new("http://u:p@127.0.0.1:3128"));
            to.rate_limit = Some(BudgetSetting {
                sends: 3,
                per_seconds: 60,
            });
            let (settings, secrets) = to.stored();
            (
                serde_json::to_value(settings).unwrap(),
                serde_json::to_value(secrets).unwrap(),
            )
        };
        assert_eq!(
            columns(ChannelConfig::Telegram(TelegramChat {
                bot_token: Secret::new("1:t"),
                chat_id: "-100".into(),
                message_thread_id: Some(7),
                api_base_url: None,
            })),
            (
                serde_json::json!({"chatId": "-100", "messageThreadId": 7, "rateLimit": {"sends": 3, "perSeconds": 60}}),
                serde_json::json!({"botToken": "1:t", "proxyUrl": "http://u:p@127.0.0.1:3128"}),
            )
        );
        assert_eq!(
            columns(ChannelConfig::Custom(CustomHook {
                webhook_url: Secret::new("https://example.com/h"),
                template: serde_json::json!({"t": "{{title}}"}),
                headers: BTreeMap::from([("X-Key".into(), Secret::new("v"))]),
            })),
            (
                serde_json::json!({"template": {"t": "{{title}}"}, "rateLimit": {"sends": 3, "perSeconds": 60}}),
                serde_json::json!({"webhookUrl": "https://example.com/h", "headers": {"X-Key": "v"},
                    "proxyUrl": "http://u:p@127.0.0.1:3128"}),
            )
        );
        let (settings, secrets) = columns(ChannelConfig::Feishu(SignedHook {
            webhook_url: Secret::new("https://open.feishu.cn/h"),
            secret: None,
        }));
        assert_eq!(
            settings,
            serde_json::json!({"rateLimit": {"sends": 3, "perSeconds": 60}})
        );
        assert_eq!(
            secrets,
            serde_json::json!({"webhookUrl": "https://open.feishu.cn/h", "proxyUrl": "http://u:p@127.0.0.1:3128"})
        );
    }
}
