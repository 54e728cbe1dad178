//! DingTalk (钉钉) custom robots: everything particular to them. A robot with signing (加签)
//! takes `timestamp` (Unix milliseconds) and `sign` in the URL's query, freshly per request, where
//! `sign` = url-encoded base64(HMAC-SHA256(key = secret, message = timestamp + "\n" + secret));
//! DingTalk refuses a timestamp more than an hour off.
use crate::channels::hmac_sha256_base64;

/// The `sign` of a request made at `timestamp_ms`, before URL encoding.
pub fn sign(secret: &str, timestamp_ms: i64) -> String {
    hmac_sha256_base64(secret.as_bytes(), &[format!("{timestamp_ms}\n{secret}").as_bytes()])
}

/// `url` (the robot's, with its `access_token`) with this request's `timestamp` and `sign`.
pub fn signed_url(url: &str, secret: &str, timestamp_ms: i64) -> String {
    let signature: String = url::form_urlencoded::byte_serialize(sign(secret, timestamp_ms).as_bytes()).collect();
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}timestamp={timestamp_ms}&sign={signature}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Computed independently, with Python's `hmac`, `base64` and `urllib.parse.quote_plus`.
    #[test]
    fn the_sign_is_dingtalks() {
        assert_eq!(
            sign("SEC1234567890abcdef", 1_577_262_236_757),
            "f7qQ1A8KagEZ45y1gasTtKsEq5ERTeDXP9T+WkIqzDk="
        );
        assert_eq!(
            signed_url(
                "https://oapi.dingtalk.com/robot/send?access_token=abc",
                "SEC1234567890abcdef",
                1_577_262_236_757
            ),
            "https://oapi.dingtalk.com/robot/send?access_token=abc&timestamp=1577262236757\
             &sign=f7qQ1A8KagEZ45y1gasTtKsEq5ERTeDXP9T%2BWkIqzDk%3D"
        );
    }
}
