//! Browser sessions in Redis. The cookie holds a random id; Redis holds who it belongs to under
//! the id's SHA-256, so a Redis dump yields no usable cookie. Logout deletes the entry.
use std::time::Duration;

use app::session::{CurrentUser, SESSION_COOKIE};
use fred::prelude::*;
use http::HeaderMap;

use crate::platform::redis::Keys;
use crate::platform::secrets::{random_token, sha256};

#[derive(Clone)]
pub struct SessionStore {
    redis: Pool,
    keys: Keys,
    ttl: Duration,
    cookie_secure: bool,
}

impl SessionStore {
    pub fn new(redis: Pool, keys: Keys, ttl: Duration, cookie_secure: bool) -> Self {
        SessionStore {
            redis,
            keys,
            ttl,
            cookie_secure,
        }
    }

    fn key(&self, session_id: &str) -> String {
        self.keys.key(&["session", &hex::encode(sha256(session_id))])
    }

    /// Starts a session; returns its `Set-Cookie` value.
    pub async fn create(&self, user: &CurrentUser) -> Result<String, fred::error::Error> {
        let id = random_token();
        let value = serde_json::to_string(user).expect("CurrentUser serializes");
        let _: () = self
            .redis
            .set(
                self.key(&id),
                value,
                Some(Expiration::EX(i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX))),
                None,
                false,
            )
            .await?;
        Ok(self.cookie(&id, self.ttl.as_secs()))
    }

    pub async fn load(&self, headers: &HeaderMap) -> Result<Option<CurrentUser>, fred::error::Error> {
        let Some(id) = session_id(headers) else {
            return Ok(None);
        };
        let raw: Option<String> = self.redis.get(self.key(&id)).await?;
        Ok(raw.and_then(|r| serde_json::from_str(&r).ok()))
    }

    /// Ends the session named by the request's cookie; returns the `Set-Cookie` value clearing it.
    pub async fn destroy(&self, headers: &HeaderMap) -> Result<String, fred::error::Error> {
        if let Some(id) = session_id(headers) {
            let _: i64 = self.redis.del(self.key(&id)).await?;
        }
        Ok(self.cookie("", 0))
    }

    fn cookie(&self, value: &str, max_age: u64) -> String {
        let secure = if self.cookie_secure { "; Secure" } else { "" };
        format!("{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}")
    }
}

/// The session id from the `Cookie` header(s), if present.
pub fn session_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, value)| *name == SESSION_COOKIE && !value.is_empty())
        .map(|(_, value)| value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn finds_the_session_cookie_among_others() {
        let mut headers = HeaderMap::new();
        headers.append(
            http::header::COOKIE,
            HeaderValue::from_static("a=1; hn_session=abc; b=2"),
        );
        assert_eq!(session_id(&headers).as_deref(), Some("abc"));
        let mut headers = HeaderMap::new();
        headers.append(
            http::header::COOKIE,
            HeaderValue::from_static("x_hn_session=zzz; hn_session="),
        );
        assert_eq!(session_id(&headers), None);
    }
}
