//! Sign-in and sign-out.
use leptos::prelude::*;

use crate::error::AppError;

/// Signs in with the admin token or a user's API key. Answers where to go next (same-site only):
/// the page then loads it afresh, with the new session. A plain form post (no JavaScript) gets a
/// redirect there instead.
#[server]
pub async fn sign_in(token: String, next: Option<String>) -> Result<String, AppError> {
    use crate::ports::{services, with_status};
    use crate::session::safe_next_path;
    use http::header::SET_COOKIE;
    use http::HeaderValue;

    let token = token.trim();
    if token.is_empty() {
        return with_status(Err(AppError::InvalidCredentials));
    }
    let client = leptos_axum::extract::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .await
        .ok()
        .map(|ci| ci.0.ip());
    let signed_in = with_status(services()?.sessions.sign_in(token, client).await)?;
    let response = expect_context::<leptos_axum::ResponseOptions>();
    let cookie = HeaderValue::from_str(&signed_in.set_cookie)
        .map_err(|e| AppError::ServerFn(ServerFnErrorErr::ServerError(e.to_string())))?;
    response.append_header(SET_COOKIE, cookie);
    let next = safe_next_path(next.as_deref()).to_owned();
    redirect_plain_form(&next);
    Ok(next)
}

/// Ends the session; answers where to go (`/login`).
#[server]
pub async fn sign_out() -> Result<String, AppError> {
    use crate::ports::{services, with_status};
    use http::header::SET_COOKIE;
    use http::HeaderValue;

    let headers = leptos_axum::extract::<http::HeaderMap>().await.unwrap_or_default();
    let clear = with_status(services()?.sessions.sign_out(&headers).await)?;
    let response = expect_context::<leptos_axum::ResponseOptions>();
    if let Ok(value) = HeaderValue::from_str(&clear) {
        response.append_header(SET_COOKIE, value);
    }
    redirect_plain_form("/login");
    Ok("/login".to_owned())
}

/// Without JavaScript the browser posted a form and expects a redirect; with it, the page
/// reloads itself (a client-side route change would keep the old identity).
#[cfg(feature = "ssr")]
fn redirect_plain_form(path: &str) {
    let plain_form = use_context::<http::request::Parts>()
        .and_then(|parts| {
            parts
                .headers
                .get(http::header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        })
        .is_some_and(|accept| accept.contains("text/html"));
    if plain_form {
        leptos_axum::redirect(path);
    }
}

/// Loads `path` as a new page (after the session changed).
pub fn reload_at(path: &str) {
    #[cfg(feature = "hydrate")]
    {
        let _ = window().location().set_href(path);
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = path;
}
