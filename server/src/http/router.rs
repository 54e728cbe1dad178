//! The HTTP surface: health, REST API, server functions, pages and static files, behind the
//! access layer and one tracing span per request.
use std::future::Future;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use app::{shell, App};
use axum::body::Body;
use axum::routing::get;
use axum::serve::ListenerExt;
use axum::Router;
use http::{HeaderName, Request};
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list, AxumRouteListing, LeptosRoutes};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use super::state::AppState;
use super::{access, api, health, metrics};

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The page routes, generated once per process: generating them sets a process-wide flag that
/// makes any resource first polled meanwhile hang forever (leptos#4773), so a second router
/// built while a first one serves pages (tests, twin instances) must not generate them again.
fn page_routes() -> Vec<AxumRouteListing> {
    static ROUTES: OnceLock<Vec<AxumRouteListing>> = OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(App)).clone()
}

/// Serves the app on `listener` until `shutdown` resolves; what `server serve` and the tests run.
///
/// Every accepted socket gets `TCP_NODELAY`: a page leaves in several writes, and with Nagle's
/// algorithm on, the last small one waited for the browser's delayed ACK (≈ 40 ms per response
/// on a kept-alive connection).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = listener.tap_io(|socket| {
        if let Err(e) = socket.set_nodelay(true) {
            tracing::warn!(error = %e, "cannot set TCP_NODELAY on an accepted connection");
        }
    });
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}

/// Caching of the front end's files (`/pkg/…`). With hashed file names (`hash-files`, the
/// release build) a name never changes its content, so browsers keep them a year without asking
/// again; otherwise they revalidate on every use.
async fn asset_caching(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: Request<Body>,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let options = &state.leptos_options;
    let is_asset = req
        .uri()
        .path()
        .strip_prefix('/')
        .and_then(|p| p.strip_prefix(&*options.site_pkg_dir))
        .is_some_and(|rest| rest.starts_with('/'));
    let mut res = next.run(req).await;
    if is_asset && res.status().is_success() {
        let policy = if options.hash_files {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        };
        res.headers_mut()
            .insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static(policy));
    }
    res
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
        // Static files, with their `.br` / `.gz` twins when the build made them.
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .layer(axum::middleware::from_fn_with_state(state.clone(), asset_caching))
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
                        latency_ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX),
                        "response"
                    );
                }),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .with_state(state)
}
