//! `/healthz`: the process is alive. `/readyz`: PostgreSQL and Redis answer (503 names the one that does not).
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use fred::prelude::*;
use serde_json::{json, Value};

use crate::http::state::AppState;

const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let postgres = async {
        match tokio::time::timeout(PROBE_TIMEOUT, sqlx::query("SELECT 1").execute(&state.db)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("timed out".to_owned()),
        }
    };
    let redis = async {
        match tokio::time::timeout(PROBE_TIMEOUT, state.redis.ping::<String>(None)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("timed out".to_owned()),
        }
    };
    let (postgres, redis) = tokio::join!(postgres, redis);
    let describe = |r: &Result<(), String>| match r {
        Ok(()) => "ok".to_owned(),
        Err(e) => format!("unavailable: {e}"),
    };
    let body = json!({
        "status": if postgres.is_ok() && redis.is_ok() { "ready" } else { "unavailable" },
        "postgres": describe(&postgres),
        "redis": describe(&redis),
    });
    let status = if postgres.is_ok() && redis.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}
