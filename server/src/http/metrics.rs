//! `GET /metrics`: the delivery metrics ([`crate::delivery::metrics`]) and the sources'
//! ([`crate::sources::metrics`]) in Prometheus text format,
//! behind `METRICS_TOKEN` when it is set.
/// `GET /metrics`. With `METRICS_TOKEN` set, only `Authorization: Bearer <METRICS_TOKEN>` may read.
pub async fn endpoint(
    axum::extract::State(state): axum::extract::State<super::state::AppState>,
    headers: http::HeaderMap,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    use subtle::ConstantTimeEq;

    if let Some(token) = &state.config.metrics_token {
        let given = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if !bool::from(given.as_bytes().ct_eq(token.expose().as_bytes())) {
            return (
                http::StatusCode::UNAUTHORIZED,
                [(http::header::WWW_AUTHENTICATE, "Bearer")],
                "METRICS_TOKEN required\n",
            )
                .into_response();
        }
    }
    let mut body = state
        .metrics
        .render(state.deliveries.queue(), state.deliveries.outbox())
        .await;
    body.push_str(&state.sources.metrics().render());
    (
        [(http::header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        body,
    )
        .into_response()
}
