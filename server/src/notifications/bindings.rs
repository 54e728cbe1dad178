//! Which kinds go to which push targets (`push_target_bindings`), and the start-up move of the
//! clear per-kind URLs of the schema before targets into sealed targets bound to their kinds.
use std::collections::HashMap;

use app::notifications::NotificationKind;
use sqlx::{PgConnection, PgPool};

use crate::channels::targets::{self, TargetError, TargetRef};
use crate::delivery::outbox;
use crate::platform::encryption::SecretsKey;

/// The ids of the targets bound to `kind`, lowest first.
pub async fn bound_to(conn: &mut PgConnection, kind: NotificationKind) -> Result<Vec<i64>, TargetError> {
    Ok(
        sqlx::query_scalar("SELECT target_id FROM push_target_bindings WHERE kind = $1 ORDER BY target_id")
            .bind(kind.key())
            .fetch_all(&mut *conn)
            .await?,
    )
}

/// Where a notification of `kind` goes now: each enabled target of an enabled binding.
pub async fn active_for(db: &PgPool, kind: NotificationKind) -> Result<Vec<TargetRef>, TargetError> {
    let rows: Vec<(i64, String)> = sqlx::query_as(
        "SELECT t.id, t.endpoint_host FROM push_target_bindings b JOIN push_targets t ON t.id = b.target_id
          WHERE b.kind = $1 AND b.enabled AND t.enabled ORDER BY t.id",
    )
    .bind(kind.key())
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, endpoint_host)| TargetRef { id, endpoint_host })
        .collect())
}

/// The target the settings' `webhookUrl` of `kind` stands for, and its URL.
pub async fn webhook_url_target_of(
    conn: &mut PgConnection,
    key: &SecretsKey,
    kind: NotificationKind,
) -> Result<Option<(i64, String)>, TargetError> {
    let id: Option<i64> =
        sqlx::query_scalar("SELECT target_id FROM push_target_bindings WHERE kind = $1 AND from_webhook_url")
            .bind(kind.key())
            .fetch_optional(&mut *conn)
            .await?;
    let Some(id) = id else { return Ok(None) };
    let Some(target) = targets::get(conn, key, id).await? else {
        return Ok(None);
    };
    Ok(target.destination.webhook_url().map(|url| (target.id, url.to_owned())))
}

/// Makes `ids` exactly the targets bound to `kind`, `from_webhook_url` the one its
/// `webhookUrl` stands for (it must be among `ids`); bindings kept keep their enabled flag.
/// Ids that name no target are the caller's to refuse first.
pub async fn set(
    conn: &mut PgConnection,
    kind: NotificationKind,
    ids: &[i64],
    from_webhook_url: Option<i64>,
) -> Result<(), TargetError> {
    sqlx::query("DELETE FROM push_target_bindings WHERE kind = $1 AND NOT (target_id = ANY($2))")
        .bind(kind.key())
        .bind(ids)
        .execute(&mut *conn)
        .await?;
    // Cleared first: the one-per-kind index must hold after each statement.
    sqlx::query("UPDATE push_target_bindings SET from_webhook_url = false WHERE kind = $1 AND from_webhook_url")
        .bind(kind.key())
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO push_target_bindings (kind, target_id, from_webhook_url)
         SELECT $1, i, i IS NOT DISTINCT FROM $3 FROM unnest($2::bigint[]) AS i
         ON CONFLICT (kind, target_id) DO UPDATE SET from_webhook_url = EXCLUDED.from_webhook_url",
    )
    .bind(kind.key())
    .bind(ids)
    .bind(from_webhook_url)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The kinds bound to each target (to `only` alone, when given).
pub async fn kinds_by_target(
    conn: &mut PgConnection,
    only: Option<i64>,
) -> Result<HashMap<i64, Vec<NotificationKind>>, TargetError> {
    let rows: Vec<(i64, String)> =
        sqlx::query_as("SELECT target_id, kind FROM push_target_bindings WHERE $1::bigint IS NULL OR target_id = $1")
            .bind(only)
            .fetch_all(&mut *conn)
            .await?;
    let mut out: HashMap<i64, Vec<NotificationKind>> = HashMap::new();
    for (id, kind) in rows {
        let kind = NotificationKind::from_key(&kind).ok_or_else(|| TargetError::Corrupt {
            id,
            column: "kind",
            value: kind.clone(),
        })?;
        out.entry(id).or_default().push(kind);
    }
    for kinds in out.values_mut() {
        kinds.sort_by_key(|k| *k as usize);
    }
    Ok(out)
}

/// The kinds bound to target `id`.
pub async fn kinds_of(conn: &mut PgConnection, id: i64) -> Result<Vec<NotificationKind>, TargetError> {
    Ok(kinds_by_target(conn, Some(id)).await?.remove(&id).unwrap_or_default())
}

/// A kind's name in the targets start-up creates from its URL.
fn kind_label(kind: NotificationKind) -> &'static str {
    match kind {
        NotificationKind::CircuitBreaker => "熔断告警",
        NotificationKind::DailyLeaderboard => "每日排行榜",
        NotificationKind::CostAlert => "成本预警",
    }
}

/// What [`adopt_legacy_urls`] moved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Adopted {
    pub kinds: usize,
    pub deliveries: u64,
}

/// Moves the clear URLs of the schema before targets into sealed WeCom targets: each kind's URL
/// becomes a target bound to it (kinds with one URL share one target), and each outbox row's URL
/// its target. Idempotent, in one transaction; instances starting together take turns.
pub async fn adopt_legacy_urls(db: &PgPool, key: &SecretsKey) -> Result<Adopted, TargetError> {
    let mut tx = db.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('hub-notify: adopt legacy webhook URLs'))")
        .execute(&mut *tx)
        .await?;
    let urls: Option<(Option<String>, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT circuit_breaker_webhook_url, daily_leaderboard_webhook_url, cost_alert_webhook_url
           FROM notification_settings WHERE id = 1",
    )
    .fetch_optional(&mut *tx)
    .await?;
    let mut adopted = Adopted::default();
    if let Some((cb, dl, ca)) = urls {
        let by_kind = NotificationKind::ALL.into_iter().zip([cb, dl, ca]);
        let by_kind: Vec<(NotificationKind, String)> =
            by_kind.filter_map(|(kind, url)| url.map(|u| (kind, u))).collect();
        for (kind, url) in &by_kind {
            let sharing: Vec<&str> = by_kind
                .iter()
                .filter(|(_, u)| u == url)
                .map(|(k, _)| kind_label(*k))
                .collect();
            let name = || format!("企业微信 · {}", sharing.join("、"));
            let id = targets::wecom_target_for(&mut tx, key, url, name).await?;
            sqlx::query(
                "INSERT INTO push_target_bindings (kind, target_id, from_webhook_url) VALUES ($1, $2, true)
                 ON CONFLICT DO NOTHING",
            )
            .bind(kind.key())
            .bind(id)
            .execute(&mut *tx)
            .await?;
            adopted.kinds += 1;
        }
        sqlx::query(
            "UPDATE notification_settings SET circuit_breaker_webhook_url = NULL,
                daily_leaderboard_webhook_url = NULL, cost_alert_webhook_url = NULL WHERE id = 1",
        )
        .execute(&mut *tx)
        .await?;
    }
    for url in outbox::legacy_target_urls(&mut tx).await? {
        let id = targets::wecom_target_for(&mut tx, key, &url, || targets::wecom_name(&url)).await?;
        adopted.deliveries += outbox::adopt_legacy_target(&mut tx, &url, id).await?;
    }
    tx.commit().await?;
    Ok(adopted)
}
