//! 消息推送 settings as stored: the single row of `notification_settings` and each kind's
//! targets, read and saved in one transaction. The service over them is `settings_service`.
use app::notifications::{
    CircuitBreakerSettings, CostAlertSettings, DailyLeaderboardSettings, FieldErrors, FieldProblem, NotificationKind,
    NotificationSettings,
};
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

use crate::channels::targets::{self, TargetError};
use crate::notifications::bindings;
use crate::platform::encryption::SecretsKey;

/// Saved settings with who saved them and when.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredSettings {
    pub settings: NotificationSettings,
    pub updated_at: DateTime<Utc>,
    pub updated_by: Option<String>,
}

#[derive(sqlx::FromRow)]
struct Row {
    enabled: bool,
    circuit_breaker_enabled: bool,
    daily_leaderboard_enabled: bool,
    daily_leaderboard_time: String,
    daily_leaderboard_top_n: i32,
    cost_alert_enabled: bool,
    cost_alert_threshold_percent: i32,
    cost_alert_check_interval_minutes: i32,
    updated_at: DateTime<Utc>,
    updated_by: Option<String>,
}

/// Where each kind goes, as the settings show it.
#[derive(Default)]
struct KindTargets {
    webhook_url: Option<String>,
    target_ids: Vec<i64>,
}

fn stored(r: Row, targets: [KindTargets; 3]) -> StoredSettings {
    let [cb, dl, ca] = targets;
    StoredSettings {
        settings: NotificationSettings {
            enabled: r.enabled,
            circuit_breaker: CircuitBreakerSettings {
                enabled: r.circuit_breaker_enabled,
                webhook_url: cb.webhook_url,
                target_ids: Some(cb.target_ids),
            },
            daily_leaderboard: DailyLeaderboardSettings {
                enabled: r.daily_leaderboard_enabled,
                webhook_url: dl.webhook_url,
                target_ids: Some(dl.target_ids),
                time: r.daily_leaderboard_time,
                top_n: r.daily_leaderboard_top_n,
            },
            cost_alert: CostAlertSettings {
                enabled: r.cost_alert_enabled,
                webhook_url: ca.webhook_url,
                target_ids: Some(ca.target_ids),
                threshold_percent: r.cost_alert_threshold_percent,
                check_interval_minutes: r.cost_alert_check_interval_minutes,
            },
        },
        updated_at: r.updated_at,
        updated_by: r.updated_by,
    }
}

const COLUMNS: &str = "enabled, circuit_breaker_enabled, daily_leaderboard_enabled, daily_leaderboard_time,
    daily_leaderboard_top_n, cost_alert_enabled, cost_alert_threshold_percent, cost_alert_check_interval_minutes,
    updated_at, updated_by";

async fn kind_targets(conn: &mut PgConnection, key: &SecretsKey) -> Result<[KindTargets; 3], TargetError> {
    let mut out: [KindTargets; 3] = Default::default();
    for kind in NotificationKind::ALL {
        out[kind as usize] = KindTargets {
            webhook_url: bindings::webhook_url_target_of(conn, key, kind)
                .await?
                .map(|(_, url)| url),
            target_ids: bindings::bound_to(conn, kind).await?,
        };
    }
    Ok(out)
}

/// The settings; the row is created with the defaults on first read.
pub async fn load(db: &PgPool, key: &SecretsKey) -> Result<StoredSettings, TargetError> {
    let mut conn = db.acquire().await?;
    sqlx::query("INSERT INTO notification_settings (id) VALUES (1) ON CONFLICT (id) DO NOTHING")
        .execute(&mut *conn)
        .await?;
    let row: Row = sqlx::query_as(&format!("SELECT {COLUMNS} FROM notification_settings WHERE id = 1"))
        .fetch_one(&mut *conn)
        .await?;
    let targets = kind_targets(&mut conn, key).await?;
    Ok(stored(row, targets))
}

/// What `kind` is bound to after a save of `s`: `targetIds` as given (or, left out, as bound
/// now), with the target of its old `webhookUrl` replaced by the WeCom target of the new one
/// (also returned).
async fn next_bindings(
    conn: &mut PgConnection,
    key: &SecretsKey,
    s: &NotificationSettings,
    kind: NotificationKind,
) -> Result<(Vec<i64>, Option<i64>), TargetError> {
    let old = bindings::webhook_url_target_of(conn, key, kind)
        .await?
        .map(|(id, _)| id);
    let mut ids = match s.target_ids(kind) {
        Some(ids) => ids.to_vec(),
        None => bindings::bound_to(conn, kind).await?,
    };
    ids.retain(|id| Some(*id) != old);
    let mut new = None;
    if let Some(url) = s.webhook_url(kind) {
        let id = targets::wecom_target_for(conn, key, url, || targets::wecom_name(url)).await?;
        ids.push(id);
        new = Some(id);
    }
    ids.sort_unstable();
    ids.dedup();
    Ok((ids, new))
}

/// Saves already validated settings; `Invalid` when a kind names targets that do not exist or
/// is on with nowhere to go. Nothing is saved then.
pub async fn save(
    db: &PgPool,
    key: &SecretsKey,
    s: &NotificationSettings,
    updated_by: &str,
) -> Result<StoredSettings, SaveError> {
    let mut tx = db.begin().await?;
    let mut errors = FieldErrors::default();
    let mut bindings = Vec::new();
    for kind in NotificationKind::ALL {
        let given = s.target_ids(kind).unwrap_or_default();
        let missing = targets::missing(&mut tx, given).await?;
        if !missing.is_empty() {
            errors.insert(
                format!("{}.targetIds", kind.key()),
                FieldProblem::UnknownTargets(missing),
            );
            continue;
        }
        let (ids, from_webhook_url) = next_bindings(&mut tx, key, s, kind).await?;
        if ids.is_empty() && s.kind_enabled(kind) {
            errors.insert(format!("{}.webhookUrl", kind.key()), FieldProblem::UrlRequired);
        }
        bindings.push((kind, ids, from_webhook_url));
    }
    if !errors.is_empty() {
        // Dropped, the transaction takes back any target created on the way.
        return Err(SaveError::Invalid(errors));
    }
    for (kind, ids, from_webhook_url) in &bindings {
        bindings::set(&mut tx, *kind, ids, *from_webhook_url).await?;
    }
    let row: Row = sqlx::query_as(&format!(
        "INSERT INTO notification_settings AS t (id, enabled, circuit_breaker_enabled, daily_leaderboard_enabled,
            daily_leaderboard_time, daily_leaderboard_top_n, cost_alert_enabled, cost_alert_threshold_percent,
            cost_alert_check_interval_minutes, updated_at, updated_by)
         VALUES (1, $1, $2, $3, $4, $5, $6, $7, $8, now(), $9)
         ON CONFLICT (id) DO UPDATE SET
            enabled = EXCLUDED.enabled,
            circuit_breaker_enabled = EXCLUDED.circuit_breaker_enabled,
            daily_leaderboard_enabled = EXCLUDED.daily_leaderboard_enabled,
            daily_leaderboard_time = EXCLUDED.daily_leaderboard_time,
            daily_leaderboard_top_n = EXCLUDED.daily_leaderboard_top_n,
            cost_alert_enabled = EXCLUDED.cost_alert_enabled,
            cost_alert_threshold_percent = EXCLUDED.cost_alert_threshold_percent,
            cost_alert_check_interval_minutes = EXCLUDED.cost_alert_check_interval_minutes,
            updated_at = now(),
            updated_by = EXCLUDED.updated_by
         RETURNING {COLUMNS}"
    ))
    .bind(s.enabled)
    .bind(s.circuit_breaker.enabled)
    .bind(s.daily_leaderboard.enabled)
    .bind(&s.daily_leaderboard.time)
    .bind(s.daily_leaderboard.top_n)
    .bind(s.cost_alert.enabled)
    .bind(s.cost_alert.threshold_percent)
    .bind(s.cost_alert.check_interval_minutes)
    .bind(updated_by)
    .fetch_one(&mut *tx)
    .await?;
    let targets = kind_targets(&mut tx, key).await?;
    tx.commit().await?;
    Ok(stored(row, targets))
}

#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    #[error("invalid settings")]
    Invalid(FieldErrors),
    #[error(transparent)]
    Targets(#[from] TargetError),
}

impl From<sqlx::Error> for SaveError {
    fn from(e: sqlx::Error) -> Self {
        SaveError::Targets(TargetError::Db(e))
    }
}

/// How long validation may wait for DNS before leaving the verdict to delivery time.
pub const SAVE_DNS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);
