//! Feishu (飞书) and Lark custom bots: everything particular to them. A bot with signature
//! checking (签名校验) takes `timestamp` (Unix seconds, as a string) and `sign` in the body, where
//! `sign` = base64(HMAC-SHA256(key = timestamp + "\n" + secret, message = empty)); it refuses a
//! wrong sign or a timestamp more than an hour off with code 19021.
use crate::channels::hmac_sha256_base64;

/// The `sign` of a request made at `timestamp_secs` to a bot whose signing secret is `secret`.
pub fn sign(secret: &str, timestamp_secs: i64) -> String {
    // Feishu keys the MAC with the string to sign and MACs nothing: the reverse of the usual.
    hmac_sha256_base64(format!("{timestamp_secs}\n{secret}").as_bytes(), &[])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Computed independently, with Python's `hmac` and `base64`:
    /// `base64.b64encode(hmac.new(b"1599360473\nSEC_feishu_example", b"", hashlib.sha256).digest())`.
    #[test]
    fn the_sign_is_feishus() {
        assert_eq!(
            sign("SEC_feishu_example", 1_599_360_473),
            "t5FOofAiFg9U0wHyXHobC/LNsIGEAoM5QPhEW5yODkU="
        );
        assert_ne!(
            sign("SEC_feishu_example", 1_599_360_474),
            sign("SEC_feishu_example", 1_599_360_473)
        );
    }
}
