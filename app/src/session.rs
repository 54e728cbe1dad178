//! Who is signed in: shared by the server (which resolves it from a cookie or a bearer token)
//! and the views (which render it).
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    User,
}

impl Role {
    /// As serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::User => "user",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CurrentUser {
    pub role: Role,
    /// Display name: the user's name, or "admin" for the admin token.
    pub name: String,
    /// The gateway's user id; `None` for the admin token.
    pub user_id: Option<i64>,
}

impl CurrentUser {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

/// The identity the server resolved for this request (SSR), or `None` (in the browser, where
/// it arrives serialized in the page instead).
pub fn request_user() -> Option<CurrentUser> {
    #[cfg(feature = "ssr")]
    {
        crate::ports::current_user()
    }
    #[cfg(not(feature = "ssr"))]
    {
        None
    }
}

/// The cookie that carries the session id.
pub const SESSION_COOKIE: &str = "hn_session";

/// Where to go after signing in: only same-site absolute paths, so `next` cannot be an open redirect.
pub fn safe_next_path(next: Option<&str>) -> &str {
    match next {
        Some(p) if p.starts_with('/') && !p.starts_with("//") && !p.contains('\\') => p,
        _ => "/dashboard",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_path_rejects_other_sites() {
        assert_eq!(
            safe_next_path(Some("/settings/notifications")),
            "/settings/notifications"
        );
        assert_eq!(safe_next_path(Some("//evil.example/x")), "/dashboard");
        assert_eq!(safe_next_path(Some("/\\evil.example")), "/dashboard");
        assert_eq!(safe_next_path(Some("https://evil.example")), "/dashboard");
        assert_eq!(safe_next_path(Some("")), "/dashboard");
        assert_eq!(safe_next_path(None), "/dashboard");
    }

    #[test]
    fn role_serializes_lowercase() {
        let json = serde_json::to_string(&Role::Admin).unwrap();
        assert_eq!(json, "\"admin\"");
    }
}
