//! Access rules, enforced on the server for every request (the UI's guards are only a courtesy):
//! signed out → `/login`; a non-admin on `/settings/*` → `/dashboard`; APIs answer 401/403.
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use http::Method;

use crate::http::auth::Identity;
use crate::http::state::AppState;

/// What a page path requires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PagePolicy {
    /// `/`: send the visitor where they belong.
    Root,
    /// `/login`: signed-in visitors go to the dashboard instead.
    SignedOutOnly,
    SignedIn,
    Admin,
}

/// The policy of each page; `None` for everything that is not a page (assets, APIs, health).
pub fn page_policy(path: &str) -> Option<PagePolicy> {
    let under = |prefix: &str| path == prefix || path.starts_with(&format!("{prefix}/"));
    if path == "/" {
        Some(PagePolicy::Root)
    } else if path == "/login" {
        Some(PagePolicy::SignedOutOnly)
    } else if under("/settings") {
        Some(PagePolicy::Admin)
    } else if under("/dashboard") {
        Some(PagePolicy::SignedIn)
    } else {
        None
    }
}

fn login_redirect(path_and_query: &str) -> Response {
    let next: String = url::form_urlencoded::byte_serialize(path_and_query.as_bytes()).collect();
    Redirect::to(&format!("/login?next={next}")).into_response()
}

/// Attaches the caller's identity to the request (as `CurrentUser` in its extensions, where
/// server functions and API handlers find it) and applies the page rules.
pub async fn layer(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let identity = state.auth.identify(req.headers()).await;
    let user = match &identity {
        Identity::User(user) => Some(user.clone()),
        _ => None,
    };
    req.extensions_mut().insert(identity);
    if let Some(user) = &user {
        req.extensions_mut().insert(user.clone());
    }

    if matches!(*req.method(), Method::GET | Method::HEAD) {
        if let Some(policy) = page_policy(req.uri().path()) {
            let path_and_query = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/").to_owned();
            match (policy, &user) {
                (PagePolicy::Root, Some(_)) | (PagePolicy::SignedOutOnly, Some(_)) => {
                    return Redirect::to("/dashboard").into_response()
                }
                (PagePolicy::Root, None) => return Redirect::to("/login").into_response(),
                (PagePolicy::SignedIn | PagePolicy::Admin, None) => return login_redirect(&path_and_query),
                (PagePolicy::Admin, Some(u)) if !u.is_admin() => return Redirect::to("/dashboard").into_response(),
                _ => {}
            }
        }
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_policies() {
        assert_eq!(page_policy("/"), Some(PagePolicy::Root));
        assert_eq!(page_policy("/login"), Some(PagePolicy::SignedOutOnly));
        assert_eq!(page_policy("/dashboard"), Some(PagePolicy::SignedIn));
        assert_eq!(page_policy("/settings"), Some(PagePolicy::Admin));
        assert_eq!(page_policy("/settings/notifications"), Some(PagePolicy::Admin));
        assert_eq!(page_policy("/settingsx"), None);
        assert_eq!(page_policy("/pkg/hub-notify.js"), None);
        assert_eq!(page_policy("/api/v1/users"), None);
        assert_eq!(page_policy("/healthz"), None);
    }
}
