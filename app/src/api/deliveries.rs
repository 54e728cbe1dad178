//! 投递记录: the delivery history (admin only).
use leptos::prelude::*;
use leptos::server_fn::codec::Json;

use crate::deliveries::{DeliveryFilter, DeliveryPage};
use crate::error::AppError;

#[server(input = Json)]
pub async fn list_deliveries(filter: DeliveryFilter) -> Result<DeliveryPage, AppError> {
    use crate::ports::{require_admin, services, with_status};
    require_admin()?;
    with_status(services()?.deliveries.list(filter).await)
}
