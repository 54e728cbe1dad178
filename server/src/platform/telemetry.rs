//! Logs through `tracing`: JSON lines in production, human-readable otherwise.
use tracing_subscriber::{fmt, prelude::*, EnvFilter};

use crate::platform::config::AppEnv;

pub fn init(app_env: AppEnv) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,fred=warn,tower_http=info"));
    let registry = tracing_subscriber::registry().with(filter);
    // `try_init`: tests and repeated calls must not panic on an installed subscriber.
    let _ = match app_env {
        AppEnv::Production => registry
            .with(fmt::layer().json().flatten_event(true).with_current_span(true))
            .try_init(),
        AppEnv::Development => registry.with(fmt::layer().compact()).try_init(),
    };
}
