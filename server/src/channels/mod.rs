//! How a message reaches a receiving platform. A [`Channel`] is one platform's format and rules
//! (body, success judgement, size limit, send budget, secret masking), each in its own file;
//! the [`sender`] is the one HTTP path they all take, behind the [`ssrf`] guard.
use std::borrow::Cow;

use crate::channels::sender::SendError;
use crate::platform::config::RateLimit;

pub mod custom;
pub mod dingtalk;
pub mod feishu;
pub mod sender;
pub mod ssrf;
pub mod targets;
pub mod telegram;
pub mod webhook;
pub mod wecom;

/// One receiving platform. The sender posts [`Channel::body`] to the target's URL and, on a 2xx
/// answer, asks [`Channel::judge`] whether the platform took the message.
pub trait Channel: Send + Sync {
    /// The JSON body carrying `content`, cut to the platform's limit.
    fn body(&self, content: &str) -> serde_json::Value;
    /// The platform's verdict in a 2xx answer's body.
    fn judge(&self, answer: &[u8]) -> Result<(), SendError>;
    /// The most content one message may carry, in bytes of UTF-8; longer lists are split into
    /// several messages of at most this.
    fn max_content_bytes(&self) -> usize;
    /// How many messages one target takes per window, unless configured otherwise.
    fn send_budget(&self) -> RateLimit;
    /// `text` (what a receiver said back) with the target's secrets masked.
    fn mask_secrets(&self, text: String, url: &str) -> String;
}

/// `content` cut to at most `max_bytes` on a character boundary, ending in `marker` when cut.
pub fn cut_to_bytes<'a>(content: &'a str, max_bytes: usize, marker: &str) -> Cow<'a, str> {
    if content.len() <= max_bytes {
        return Cow::Borrowed(content);
    }
    let mut end = max_bytes.saturating_sub(marker.len());
    while !content.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}{marker}", &content[..end]))
}

/// base64(HMAC-SHA256(`key`, the `message` parts one after another)): the signature of every
/// platform that signs, each with its own key and message.
pub fn hmac_sha256_base64(key: &[u8], message: &[&[u8]]) -> String {
    use base64::Engine;
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    for part in message {
        mac.update(part);
    }
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// `content` cut to at most `max_chars` characters (Unicode scalar values, as Telegram, Slack and
/// Discord count), ending in `marker` when cut.
pub fn cut_to_chars<'a>(content: &'a str, max_chars: usize, marker: &str) -> Cow<'a, str> {
    if content.chars().nth(max_chars).is_none() {
        return Cow::Borrowed(content);
    }
    let keep = max_chars.saturating_sub(marker.chars().count());
    let cut = content.char_indices().nth(keep).map_or(content.len(), |(i, _)| i);
    Cow::Owned(format!("{}{marker}", &content[..cut]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cutting_by_characters_counts_characters_not_bytes() {
        assert_eq!(cut_to_chars("供应商", 3, "…"), "供应商");
        let cut = cut_to_chars("供应商熔断告警", 5, "…");
        assert_eq!(cut, "供应商熔…");
        assert_eq!(cut.chars().count(), 5);
        assert_eq!(cut_to_bytes("供应商熔断", 7, "…"), "供…");
    }
}
