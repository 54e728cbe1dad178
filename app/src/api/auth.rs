//! Sign-in, sign-out and "who am I".
use leptos::prelude::*;

use crate::error::AppError;
use crate::session::CurrentUser;

/// Signs in with the admin token or a user's API key, then redirects to `next` (same-site only).
#[server]
pub async fn sign_in(token: String, next: Option<String>) -> Result<(), AppError> {
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
    leptos_axum::redirect(safe_next_path(next.as_deref()));
    Ok(())
}

#[server]
pub async fn sign_out() -> Result<(), AppError> {
    use crate::ports::{services, with_status};
    use http::header::SET_COOKIE;
    use http::HeaderValue;

    let headers = leptos_axum::extract::<http::HeaderMap>()
        .await
        .unwrap_or_default();
    let clear = with_status(services()?.sessions.sign_out(&headers).await)?;
    let response = expect_context::<leptos_axum::ResponseOptions>();
    if let Ok(value) = HeaderValue::from_str(&clear) {
        response.append_header(SET_COOKIE, value);
    }
    leptos_axum::redirect("/login");
    Ok(())
}

/// The signed-in user, or `None`.
#[server]
pub async fn whoami() -> Result<Option<CurrentUser>, AppError> {
    Ok(crate::ports::current_user())
}
