//! 用户 and 供应商 (admin only): consumption per window, quotas and breaker settings; and the
//! signed-in user's own consumption (the dashboard).
use leptos::prelude::*;
use leptos::server_fn::codec::Json;

use crate::error::AppError;
use crate::usage::{KeyUsage, ProviderInput, ProviderUsage, UserQuotaInput, UserUsage};

#[server]
pub async fn list_user_usage() -> Result<Vec<UserUsage>, AppError> {
    use crate::ports::{require_admin, services, with_status};
    require_admin()?;
    with_status(services()?.usage.list_users().await)
}

#[server]
pub async fn list_key_usage() -> Result<Vec<KeyUsage>, AppError> {
    use crate::ports::{require_admin, services, with_status};
    require_admin()?;
    with_status(services()?.usage.list_keys().await)
}

#[server]
pub async fn list_provider_usage() -> Result<Vec<ProviderUsage>, AppError> {
    use crate::ports::{require_admin, services, with_status};
    require_admin()?;
    with_status(services()?.usage.list_providers().await)
}

#[server(input = Json)]
pub async fn update_user_quotas(id: i64, quotas: UserQuotaInput) -> Result<UserUsage, AppError> {
    use crate::ports::{require_admin, services, with_status};
    require_admin()?;
    with_status(services()?.usage.update_user(id, quotas).await)
}

#[server(input = Json)]
pub async fn update_provider_settings(id: i64, settings: ProviderInput) -> Result<ProviderUsage, AppError> {
    use crate::ports::{require_admin, services, with_status};
    require_admin()?;
    with_status(services()?.usage.update_provider(id, settings).await)
}

/// The signed-in user's own windows against their quotas; `None` for the admin token (it has
/// no gateway id, so no quotas) or an id the gateway has not reported.
#[server]
pub async fn my_usage() -> Result<Option<UserUsage>, AppError> {
    use crate::ports::{require_user, services, with_status};
    let me = require_user()?;
    match me.user_id {
        None => Ok(None),
        Some(id) => with_status(services()?.usage.my_usage(id).await),
    }
}
