//! Who is calling: the admin token, a user's API key (both as bearer tokens or at sign-in), or a
//! browser session. Failed sign-ins are counted per client address and throttled.
use std::net::IpAddr;

use app::error::AppError;
use app::ports::{SessionService, SignedIn};
use app::session::{CurrentUser, Role};
use async_trait::async_trait;
use fred::prelude::*;
use http::HeaderMap;
use sqlx::PgPool;

use crate::http::sessions::SessionStore;
use crate::platform::config::Secret;
use crate::platform::redis::Keys;
use crate::platform::secrets::secrets_equal;

/// Failed sign-ins allowed per client address within [`THROTTLE_WINDOW_SECS`].
pub const MAX_FAILED_SIGN_INS: i64 = 10;
pub const THROTTLE_WINDOW_SECS: i64 = 15 * 60;

/// How a request identified itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Identity {
    Anonymous,
    /// A bearer token was sent but matches nothing.
    InvalidToken,
    User(CurrentUser),
    /// The gateway, with `INGEST_TOKEN`: may report usage and read circuits, nothing else.
    Ingest,
}

#[derive(Clone)]
pub struct Authenticator {
    admin_token: Secret,
    ingest_token: Option<Secret>,
    db: PgPool,
    redis: Pool,
    keys: Keys,
    pub sessions: SessionStore,
}

fn admin() -> CurrentUser {
    CurrentUser {
        role: Role::Admin,
        name: "admin".into(),
        user_id: None,
    }
}

impl Authenticator {
    pub fn new(
        admin_token: Secret,
        ingest_token: Option<Secret>,
        db: PgPool,
        redis: Pool,
        keys: Keys,
        sessions: SessionStore,
    ) -> Self {
        Authenticator {
            admin_token,
            ingest_token,
            db,
            redis,
            keys,
            sessions,
        }
    }

    /// Checks an admin token or API key.
    pub async fn check_secret(&self, secret: &str) -> Result<Option<CurrentUser>, AppError> {
        if secrets_equal(secret, self.admin_token.expose()) {
            return Ok(Some(admin()));
        }
        crate::usage::users::find_by_api_key(&self.db, secret)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "API key lookup failed");
                AppError::Unavailable
            })
    }

    /// Resolves a request: `Authorization: Bearer …` first, then the session cookie.
    pub async fn identify(&self, headers: &HeaderMap) -> Identity {
        if let Some(token) = bearer_token(headers) {
            if let Some(ingest) = &self.ingest_token {
                if secrets_equal(token, ingest.expose()) {
                    return Identity::Ingest;
                }
            }
            return match self.check_secret(token).await {
                Ok(Some(user)) => Identity::User(user),
                _ => Identity::InvalidToken,
            };
        }
        match self.sessions.load(headers).await {
            Ok(Some(user)) => Identity::User(user),
            Ok(None) => Identity::Anonymous,
            Err(e) => {
                tracing::warn!(error = %e, "session store unreachable; treating request as signed out");
                Identity::Anonymous
            }
        }
    }

    fn failures_key(&self, client: Option<IpAddr>) -> String {
        let who = client.map(|ip| ip.to_string()).unwrap_or_else(|| "unknown".into());
        self.keys.key(&["sign-in-failures", &who])
    }
}

pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

fn unavailable(e: fred::error::Error) -> AppError {
    tracing::error!(error = %e, "Redis unavailable during sign-in");
    AppError::Unavailable
}

#[async_trait]
impl SessionService for Authenticator {
    async fn sign_in(&self, secret: &str, client: Option<IpAddr>) -> Result<SignedIn, AppError> {
        let failures_key = self.failures_key(client);
        let failures: Option<i64> = self.redis.get(&failures_key).await.map_err(unavailable)?;
        if failures.unwrap_or(0) >= MAX_FAILED_SIGN_INS {
            return Err(AppError::Throttled);
        }
        let Some(user) = self.check_secret(secret).await? else {
            let count: i64 = self.redis.incr(&failures_key).await.map_err(unavailable)?;
            if count == 1 {
                let _: bool = self
                    .redis
                    .expire(&failures_key, THROTTLE_WINDOW_SECS, None)
                    .await
                    .map_err(unavailable)?;
            }
            tracing::info!(client = ?client, "sign-in refused");
            return Err(AppError::InvalidCredentials);
        };
        let set_cookie = self.sessions.create(&user).await.map_err(unavailable)?;
        tracing::info!(user = %user.name, role = ?user.role, "signed in");
        Ok(SignedIn { user, set_cookie })
    }

    async fn sign_out(&self, headers: &HeaderMap) -> Result<String, AppError> {
        self.sessions.destroy(headers).await.map_err(unavailable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn bearer_parsing() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer_token(&h), None);
        h.insert(http::header::AUTHORIZATION, HeaderValue::from_static("Bearer abc"));
        assert_eq!(bearer_token(&h), Some("abc"));
        h.insert(http::header::AUTHORIZATION, HeaderValue::from_static("bearer   abc "));
        assert_eq!(bearer_token(&h), Some("abc"));
        h.insert(http::header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer_token(&h), None);
        h.insert(http::header::AUTHORIZATION, HeaderValue::from_static("Bearer "));
        assert_eq!(bearer_token(&h), None);
    }
}
