//! Users (admin only).
use leptos::prelude::*;

use crate::error::AppError;
use crate::users::UserSummary;

#[server]
pub async fn list_users() -> Result<Vec<UserSummary>, AppError> {
    use crate::ports::{require_admin, services, with_status};
    require_admin()?;
    with_status(services()?.users.list().await)
}
