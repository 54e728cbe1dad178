//! 推送目标: list, create, edit, delete and test push targets (admin only).
use leptos::prelude::*;
use leptos::server_fn::codec::Json;

use crate::error::AppError;
use crate::notifications::NotificationKind;
use crate::targets::{PushTargetInput, PushTargetView};

#[server]
pub async fn list_push_targets() -> Result<Vec<PushTargetView>, AppError> {
    use crate::ports::{require_admin, services, with_status};
    require_admin()?;
    with_status(services()?.targets.list().await)
}

/// Creates a target; a `webhook` target created without a secret answers its generated secret
/// once, in `generatedSecret`.
#[server(input = Json)]
pub async fn create_push_target(input: PushTargetInput) -> Result<PushTargetView, AppError> {
    use crate::ports::{require_admin, services, with_status};
    require_admin()?;
    with_status(services()?.targets.create(input).await)
}

#[server(input = Json)]
pub async fn update_push_target(id: i64, input: PushTargetInput) -> Result<PushTargetView, AppError> {
    use crate::ports::{require_admin, services, with_status};
    require_admin()?;
    with_status(services()?.targets.update(id, input).await)
}

/// Deletes a target; answers the kinds that no longer go to it.
#[server(input = Json)]
pub async fn delete_push_target(id: i64) -> Result<Vec<NotificationKind>, AppError> {
    use crate::ports::{require_admin, services, with_status};
    require_admin()?;
    with_status(services()?.targets.delete(id).await)
}

/// Sends a realistic message of `kind` to the target; answers the platform's latency in ms.
#[server(input = Json)]
pub async fn test_push_target(id: i64, kind: NotificationKind) -> Result<u32, AppError> {
    use crate::ports::{require_admin, services, with_status};
    require_admin()?;
    with_status(services()?.targets.test(id, kind).await)
}
