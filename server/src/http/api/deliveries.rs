//! `/api/v1/notifications/deliveries`: the delivery history (投递记录) for scripts.
use std::collections::BTreeMap;

use app::deliveries::{DeliveryFilter, DeliveryPage, DeliveryStatus, MAX_PAGE_SIZE};
use app::notifications::NotificationKind;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;

use super::notifications::{validation_error, ValidationErrorBody};
use super::{AdminCaller, ApiError, ErrorBody};
use crate::http::state::AppState;

/// Raw query parameters, checked one by one so each bad value gets its own message.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryQuery {
    /// circuitBreaker, dailyLeaderboard or costAlert; all kinds when absent.
    pub kind: Option<String>,
    /// pending, sending, delivered or failed; all when absent.
    pub status: Option<String>,
    /// Page size, 1 to 200 (default 20).
    pub limit: Option<String>,
    /// Only records with an id below this: the previous page's `nextBefore`.
    pub before: Option<String>,
    /// Only the deliveries to this push target.
    #[serde(rename = "targetId")]
    pub target_id: Option<String>,
}

impl DeliveryQuery {
    fn filter(self) -> Result<DeliveryFilter, BTreeMap<String, String>> {
        let mut errors = BTreeMap::new();
        let present = |v: Option<String>| v.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let kind = present(self.kind).and_then(|k| {
            NotificationKind::from_key(&k).map(Some).unwrap_or_else(|| {
                errors.insert(
                    "kind".into(),
                    "must be one of circuitBreaker, dailyLeaderboard, costAlert".into(),
                );
                None
            })
        });
        let status = present(self.status).and_then(|s| {
            DeliveryStatus::parse(&s).map(Some).unwrap_or_else(|| {
                errors.insert(
                    "status".into(),
                    "must be one of pending, sending, delivered, failed".into(),
                );
                None
            })
        });
        let limit = present(self.limit).and_then(|l| match l.parse::<u32>() {
            Ok(n) if (1..=MAX_PAGE_SIZE).contains(&n) => Some(n),
            _ => {
                errors.insert(
                    "limit".into(),
                    format!("must be a whole number between 1 and {MAX_PAGE_SIZE}"),
                );
                None
            }
        });
        let before = present(self.before).and_then(|b| match b.parse::<i64>() {
            Ok(n) if n > 0 => Some(n),
            _ => {
                errors.insert("before".into(), "must be a positive record id".into());
                None
            }
        });
        let target_id = present(self.target_id).and_then(|t| match t.parse::<i64>() {
            Ok(n) if n > 0 => Some(n),
            _ => {
                errors.insert("targetId".into(), "must be a positive push target id".into());
                None
            }
        });
        if errors.is_empty() {
            Ok(DeliveryFilter {
                kind,
                status,
                target_id,
                limit,
                before,
            })
        } else {
            Err(errors)
        }
    }
}

/// Delivery history, newest first. Targets are `scheme://host[:port]` only: webhook keys are
/// never returned. Page with `before` = the previous answer's `nextBefore`.
#[utoipa::path(get, path = "/api/v1/notifications/deliveries", tag = "notifications",
    params(DeliveryQuery),
    responses(
        (status = 200, body = DeliveryPage),
        (status = 400, body = ValidationErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 503, description = "PostgreSQL or Redis is unavailable", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_deliveries(
    _: AdminCaller,
    State(state): State<AppState>,
    query: Result<Query<DeliveryQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let query = match query {
        Ok(Query(q)) => q,
        Err(rejection) => {
            return validation_error(format!("invalid query: {}", rejection.body_text()), BTreeMap::new())
        }
    };
    let filter = match query.filter() {
        Ok(filter) => filter,
        Err(fields) => return validation_error("invalid query", fields),
    };
    let page_size = filter.page_size().unwrap_or(app::deliveries::DEFAULT_PAGE_SIZE);
    match state
        .deliveries
        .outbox()
        .list(&filter, page_size, state.config.timezone)
        .await
    {
        Ok(page) => Json(page).into_response(),
        Err(e) => ApiError::unavailable(e).into_response(),
    }
}
