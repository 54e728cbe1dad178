//! How a message reaches a receiving platform. A [`Channel`] is one platform's format and rules
//! (body, success judgement, size limit, send budget, secret masking), each in its own file;
//! the [`sender`] is the one HTTP path they all take, behind the [`ssrf`] guard.
use std::borrow::Cow;

use chrono::{DateTime, Utc};

use crate::channels::error::SendError;
use crate::channels::message::Message;
use crate::channels::targets::Destination;
use crate::platform::config::RateLimit;

pub mod blocks;
pub mod custom;
pub mod dingtalk;
pub mod discord;
pub mod error;
pub mod feishu;
pub mod message;
pub mod platforms;
pub mod sender;
pub mod slack;
pub mod ssrf;
pub mod targets;
pub mod telegram;
pub mod webhook;
pub mod wecom;

/// One request to a platform, built by its channel.
#[derive(Clone, Debug, PartialEq)]
pub struct Outgoing {
    /// Holds the target's key for most platforms: never logged.
    pub url: String,
    pub body: serde_json::Value,
    /// Headers of the channel's own (signatures, a custom target's headers); their values may
    /// be secret.
    pub headers: Vec<(String, String)>,
}

/// What one sending of a message carries besides the message: its id (the same on every retry
/// of one delivery) and the moment it is signed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    pub id: String,
    pub now: DateTime<Utc>,
}

impl Envelope {
    /// The envelope of a delivery with idempotency key `key`, or of a one-off send (a test).
    pub fn for_key(key: Option<&str>, now: DateTime<Utc>) -> Self {
        use sha2::{Digest, Sha256};
        let id = match key {
            Some(key) => hex::encode(&Sha256::digest(key.as_bytes())[..12]),
            None => uuid::Uuid::new_v4().simple().to_string(),
        };
        Envelope {
            id: format!("msg_{id}"),
            now,
        }
    }
}

/// One receiving platform. The sender posts the channel's [`Channel::outgoing`] request and, on a
/// 2xx answer, asks [`Channel::judge`] whether the platform took the message.
pub trait Channel: Send + Sync {
    /// The request carrying `message` to the target, in the platform's format, cut to its limit
    /// and signed as of the envelope's time where the platform signs.
    fn outgoing(&self, to: &Destination, message: &Message, envelope: &Envelope) -> Result<Outgoing, SendError>;
    /// The platform's verdict in a 2xx answer's body.
    fn judge(&self, answer: &[u8]) -> Result<(), SendError>;
    /// How many messages one target takes per window, unless configured otherwise; `None` for
    /// receivers with no limit of their own (signed webhooks, custom).
    fn send_budget(&self) -> Option<RateLimit>;
    /// `text` (what a receiver said back) with the target's secrets masked.
    fn mask_secrets(&self, text: String, to: &Destination) -> String;
    /// What names the target's send budget: one robot, one budget, whichever targets post to it.
    fn budget_key(&self, to: &Destination) -> String {
        to.webhook_url().unwrap_or_default().to_owned()
    }
    /// How long a throttled platform asks to wait, by the body of its HTTP 429 (for platforms
    /// that say it there rather than in `Retry-After`).
    fn retry_after(&self, _answer: &[u8]) -> Option<std::time::Duration> {
        None
    }
    /// How long the target must rest after an answer with these headers, for platforms that
    /// announce their limits as they go (Discord's `X-RateLimit-*`).
    fn rest_after(&self, _headers: &http::HeaderMap) -> Option<std::time::Duration> {
        None
    }
}

impl Outgoing {
    /// `body` to the target's webhook URL.
    pub fn to_webhook(to: &Destination, body: serde_json::Value) -> Result<Outgoing, SendError> {
        Ok(Outgoing {
            url: webhook_url(to)?.to_owned(),
            body,
            headers: Vec::new(),
        })
    }

    /// The body's bytes as sent: the one serialization, so what a channel signs is what leaves.
    pub fn body_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(&self.body).expect("a JSON value serializes")
    }
}

/// A platform's refusal: its code and (at most 200 characters of) what it said.
pub fn refusal(code: Option<i64>, message: Option<&serde_json::Value>) -> SendError {
    SendError::ErrCode {
        errcode: code.unwrap_or(-1),
        errmsg: message
            .and_then(serde_json::Value::as_str)
            .unwrap_or("")
            .chars()
            .take(200)
            .collect(),
    }
}

/// A platform's JSON answer; an answer that is not JSON is a failure naming the platform.
pub fn json_answer(answer: &[u8], platform: &str) -> Result<serde_json::Value, SendError> {
    serde_json::from_slice(answer).map_err(|_| SendError::ErrCode {
        errcode: -1,
        errmsg: format!("the answer is not {platform}'s JSON"),
    })
}

/// The target's webhook URL, which every channel here posts to.
pub fn webhook_url(to: &Destination) -> Result<&str, SendError> {
    to.webhook_url()
        .ok_or_else(|| SendError::Request("the target has no webhook URL".into()))
}

/// The last segment of a URL's path: the token of the hook URLs that carry it there (Feishu,
/// Slack, Discord).
pub fn last_path_segment(url: Option<&str>) -> &str {
    url.and_then(|u| u.split(['?', '#']).next())
        .and_then(|u| u.trim_end_matches('/').rsplit('/').next())
        .unwrap_or("")
}

/// What answers, errors and logs show in place of a secret: the mark pages also show in a
/// proxy URL's password and send back to mean "the stored one".
pub const MASK: &str = app::targets::MASKED_PASSWORD;

/// `text` with every query value of `url` and every given secret masked (values of fewer than 4
/// characters are no secret, and masking them would garble the text).
pub fn mask_all(mut text: String, url: Option<&str>, secrets: &[&str]) -> String {
    if let Some(query) = url
        .and_then(|u| url::Url::parse(u).ok())
        .and_then(|u| u.query().map(str::to_owned))
    {
        for pair in query.split('&') {
            let raw = pair.split_once('=').map_or(pair, |(_, v)| v);
            let decoded = url::form_urlencoded::parse(pair.as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
            for secret in [raw, decoded.as_str()] {
                if secret.len() >= 4 {
                    text = text.replace(secret, MASK);
                }
            }
        }
    }
    for secret in secrets {
        if secret.len() >= 4 {
            text = text.replace(secret, MASK);
        }
    }
    text
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
