//! The HTTP surface: health, REST API, server functions, pages and static files, behind the
//! access layer and one tracing span per request.
use std::sync::OnceLock;
use std::time::Duration;

use app::{shell, App};
use axum::body::Body;
use axum::routing::get;
use axum::Router;
use http::{HeaderName, Request};
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list, AxumRouteListing, LeptosRoutes};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::state::AppState;
use crate::{access, api, health, metrics};

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The page routes, generated once per process: generating them sets a process-wide flag that
/// makes any resource first polled meanwhile hang forever (leptos#4773), so a second router
/// built while a first one serves pages (tests, twin instances) must not generate them again.
fn page_routes() -> Vec<AxumRouteListing> {
    static ROUTES: OnceLock<Vec<AxumRouteListing>> = OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(App)).clone()
}

pub fn router(state: AppState) -> Router {
    let routes = page_routes();
    let services = state.services();
    let options = state.leptos_options.clone();
    let (api_routes, _openapi) = api::router();

    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::endpoint))
        .merge(api_routes)
        .leptos_routes_with_context(
            &state,
            routes,
            move || provide_context(services.clone()),
            move || shell(options.clone()),
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .layer(axum::middleware::from_fn_with_state(state.clone(), access::layer))
        .layer(
            TraceLayer::new_for_http()
                // Path only: query strings may carry secrets (webhook keys).
                .make_span_with(|req: &Request<Body>| {
                    let request_id = req
                        .headers()
                        .get(&REQUEST_ID)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("");
                    tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id)
                })
                // Every response is logged once below, with its status; no second line for 5xx.
                .on_failure(())
                .on_response(|res: &http::Response<Body>, latency: Duration, _span: &tracing::Span| {
                    tracing::info!(
                        status = res.status().as_u16(),
                        latency_ms = latency.as_millis() as u64,
                        "response"
                    );
                }),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .with_state(state)
}
