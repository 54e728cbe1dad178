//! 数据来源 (admin only): every source with what it delivered lately, and this server's
//! address for the set-up snippets.
use leptos::prelude::*;

use crate::error::AppError;
use crate::sources::SourcesPage;

#[server]
pub async fn list_sources() -> Result<SourcesPage, AppError> {
    use crate::ports::{request_origin, require_admin, services, with_status};
    require_admin()?;
    let sources = with_status(services()?.sources.list().await)?;
    Ok(SourcesPage {
        sources,
        base_url: request_origin(),
    })
}
