//! Signed webhooks, per the Standard Webhooks specification (standardwebhooks.com): each request
//! carries `webhook-id`, `webhook-timestamp` (Unix seconds) and `webhook-signature:
//! v1,<base64(HMAC-SHA256(key, id + "." + timestamp + "." + body))>`, where the key is the
//! base64 after `whsec_` in the target's signing secret. Receivers verify with any Standard
//! Webhooks library, and reject timestamps too far from their clock.
//!
//! The event (`SignedWebhook`) is a versioned JSON document: `type` (`circuitBreaker.opened`, …),
//! `id` (the `webhook-id`, the same on every retry of one delivery), `timestamp` (when it
//! happened, RFC 3339), `version`, `test`, `data` (the notification's fields), and `title`,
//! `text`, `markdown` for receivers that only show it. Any 2xx answer takes it.
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};

use crate::channels::error::SendError;
use crate::channels::message::Message;
use crate::channels::targets::Destination;
use crate::channels::{hmac_sha256_base64, mask_all, Channel, Envelope, Outgoing};
use crate::platform::config::RateLimit;
use crate::platform::secrets::random_bytes;

/// The version of the event's shape; a change that breaks receivers raises it.
pub const EVENT_VERSION: u32 = 1;

/// The `webhook` channel: Standard Webhooks events.
#[derive(Clone, Copy, Debug, Default)]
pub struct SignedWebhook;

/// The event a message is sent as.
pub fn event(message: &Message, envelope: &Envelope) -> Value {
    json!({
        "type": message.event().key(),
        "id": envelope.id,
        "timestamp": message.timestamp(),
        "version": EVENT_VERSION,
        "test": message.test,
        "data": message.data.to_map(),
        "title": message.title(),
        "text": message.text(),
        "markdown": crate::channels::wecom::markdown(message),
    })
}

impl Channel for SignedWebhook {
    fn outgoing(&self, to: &Destination, message: &Message, envelope: &Envelope) -> Result<Outgoing, SendError> {
        let secret = to
            .secret()
            .ok_or_else(|| SendError::Request("the target has no signing secret".into()))
            .and_then(|s| SigningSecret::parse(s).map_err(|e| SendError::Request(format!("the signing secret {e}"))))?;
        let mut out = Outgoing::to_webhook(to, event(message, envelope))?;
        let timestamp = envelope.now.timestamp();
        let signature = secret.sign(&envelope.id, timestamp, &out.body_bytes());
        out.headers = vec![
            ("webhook-id".into(), envelope.id.clone()),
            ("webhook-timestamp".into(), timestamp.to_string()),
            ("webhook-signature".into(), signature),
        ];
        Ok(out)
    }

    /// Any 2xx: the receiver is the admin's own.
    fn judge(&self, _: &[u8]) -> Result<(), SendError> {
        Ok(())
    }

    /// The receiver is the admin's own: no budget unless the target sets one.
    fn send_budget(&self) -> Option<RateLimit> {
        None
    }

    fn mask_secrets(&self, text: String, to: &Destination) -> String {
        let secret = to.secret().unwrap_or("");
        let key = secret.strip_prefix(SECRET_PREFIX).unwrap_or("");
        mask_all(text, to.webhook_url(), &[secret, key])
    }
}

const SECRET_PREFIX: &str = "whsec_";
/// The specification asks for 24 to 64 bytes of key.
const KEY_BYTES: std::ops::RangeInclusive<usize> = 24..=64;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("must be whsec_ followed by base64")]
    NotWhsec,
    #[error("must hold 24 to 64 bytes of key, holds {0}")]
    Length(usize),
}

/// A target's signing key. Debug never shows it.
#[derive(Clone)]
pub struct SigningSecret(Vec<u8>);

impl std::fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningSecret(***)")
    }
}

impl SigningSecret {
    /// A secret as the specification writes it: `whsec_` + base64 of the key.
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let key = text
            .trim()
            .strip_prefix(SECRET_PREFIX)
            .and_then(|b64| STANDARD.decode(b64).ok())
            .ok_or(SecretError::NotWhsec)?;
        if !KEY_BYTES.contains(&key.len()) {
            return Err(SecretError::Length(key.len()));
        }
        Ok(SigningSecret(key))
    }

    /// A new secret of 32 random bytes, in the `whsec_` form (shown to the admin once).
    pub fn generate() -> String {
        format!("{SECRET_PREFIX}{}", STANDARD.encode(random_bytes::<32>()))
    }

    /// The `webhook-signature` header value of message `id` sent at `timestamp` with `body`.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let timestamp = timestamp.to_string();
        let message: [&[u8]; 5] = [id.as_bytes(), b".", timestamp.as_bytes(), b".", body];
        format!("v1,{}", hmac_sha256_base64(&self.0, &message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// JSON has no markup: `data` and `text` carry a name as the gateway wrote it, and only the
    /// `markdown` field (WeCom's text) is escaped for WeCom.
    #[test]
    fn outside_text_is_data_as_written_and_escaped_only_in_the_markdown() {
        let name = "<@all> **粗** [官网](https://evil.example)";
        use crate::channels::blocks::{Block, Document, Inline, Part, TitleStyle};
        use crate::channels::message::{CircuitBreakerClosed, EventData};
        let now = chrono::Utc::now().fixed_offset();
        let data = EventData::CircuitBreakerClosed(CircuitBreakerClosed {
            provider_id: 7,
            provider_ref: None,
            provider_name: name.into(),
            opened_at: now,
            open_seconds: 0,
        });
        let part = Part {
            title: "供应商熔断恢复".into(),
            title_style: TitleStyle::Heading,
            body: vec![Block::quote(vec![Inline::text("供应商 "), Inline::bold(name)])],
            footer: Vec::new(),
        };
        let message = Message::new(data, Document::single(part), now);
        let envelope = Envelope::for_key(Some("k"), chrono::Utc::now());
        let body = event(&message, &envelope);
        assert_eq!(body["data"]["providerName"], name);
        assert!(body["text"].as_str().unwrap().contains(name));
        assert!(body["markdown"]
            .as_str()
            .unwrap()
            .contains("**＜@all＞ ＊＊粗＊＊ ［官网］(https://evil.example)**"));
    }

    /// The specification's own test vector.
    #[test]
    fn the_specifications_vector() {
        let secret = SigningSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(
            secret.sign(
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1_614_265_330,
                br#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    /// What we sign, an independent implementation (the `standardwebhooks` crate) verifies; and
    /// it refuses the same body signed with another secret or altered.
    #[test]
    fn an_independent_verifier_accepts_our_signature() {
        let text = SigningSecret::generate();
        let secret = SigningSecret::parse(&text).unwrap();
        let now = chrono::Utc::now().timestamp();
        let body = br#"{"type":"circuitBreaker.opened","data":{"providerName":"\u4f9b"}}"#;
        let headers = |signature: String| {
            let mut h = http::HeaderMap::new();
            h.insert("webhook-id", "msg_2Zt1".parse().unwrap());
            h.insert("webhook-timestamp", now.to_string().parse().unwrap());
            h.insert("webhook-signature", signature.parse().unwrap());
            h
        };
        let verifier = standardwebhooks::Webhook::new(&text).unwrap();
        assert!(verifier
            .verify(body, &headers(secret.sign("msg_2Zt1", now, body)))
            .is_ok());
        let other = SigningSecret::parse(&SigningSecret::generate()).unwrap();
        assert!(verifier
            .verify(body, &headers(other.sign("msg_2Zt1", now, body)))
            .is_err());
        assert!(verifier
            .verify(b"{}", &headers(secret.sign("msg_2Zt1", now, body)))
            .is_err());
    }

    #[test]
    fn secrets_are_whsec_of_24_to_64_bytes() {
        assert!(SigningSecret::generate().starts_with("whsec_"));
        assert_eq!(
            SigningSecret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap_err(),
            SecretError::NotWhsec
        );
        assert_eq!(
            SigningSecret::parse("whsec_not base64!").unwrap_err(),
            SecretError::NotWhsec
        );
        assert_eq!(
            SigningSecret::parse("whsec_c2hvcnQ=").unwrap_err(),
            SecretError::Length(5)
        );
        let s = SigningSecret::parse(&SigningSecret::generate()).unwrap();
        assert_eq!(format!("{s:?}"), "SigningSecret(***)");
    }
}
