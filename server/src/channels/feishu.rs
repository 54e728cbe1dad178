//! Feishu (飞书) and Lark custom bots: everything particular to them. A bot with signature
//! checking (签名校验) takes `timestamp` (Unix seconds, as a string) and `sign` in the body, where
//! `sign` = base64(HMAC-SHA256(key = timestamp + "\n" + secret, message = empty)); it refuses a
//! wrong sign or a timestamp more than an hour off with code 19021.
//!
//! A message is an interactive card: the heading as the card's title (coloured by its tone), the
//! rest as lark_md, the footer after a rule. A request body may be 20 KB; a bot takes 100
//! messages a minute (5 a second) and answers code 0 when it took one, 11232 when throttled.
use std::time::Duration;

use serde_json::{json, Value};

use crate::channels::message::Message;
use crate::channels::sender::SendError;
use crate::channels::targets::Destination;
use crate::channels::{
    cut_to_bytes, heading_and_rest, hmac_sha256_base64, last_path_segment, mask_all, plain, Channel, Envelope,
    Outgoing, Tone,
};
use crate::channels::{json_answer, refusal};
use crate::platform::config::RateLimit;

/// The most message text a card carries, in bytes: the body's 20 KB less room for the card.
pub const MAX_CONTENT_BYTES: usize = 18 * 1024;
pub const TRUNCATION_MARKER: &str = "\n\n…(内容过长,已截断)";
/// Feishu's answer to a bot over its frequency limit.
pub const THROTTLED: i64 = 11232;
pub const SEND_BUDGET: RateLimit = RateLimit {
    sends: 100,
    window: Duration::from_secs(60),
};

/// The Feishu / Lark channel.
#[derive(Clone, Copy, Debug, Default)]
pub struct Feishu;

/// The card's header colour of a tone.
fn template(tone: Tone) -> &'static str {
    match tone {
        Tone::Alert => "red",
        Tone::Warning => "orange",
        Tone::Good => "green",
        Tone::Info => "blue",
    }
}

/// lark_md has no block quotes: a quoted line reads as a plain one.
fn lark_md(text: &str) -> String {
    text.lines()
        .map(|line| line.strip_prefix("> ").unwrap_or(line))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The card of a message: title, body, and (after the specification's `---`) the footer.
pub fn card(content: &str) -> Value {
    let content = cut_to_bytes(content, MAX_CONTENT_BYTES, TRUNCATION_MARKER);
    let (title, rest) = heading_and_rest(&content);
    let (body, footer) = match rest.rsplit_once("\n---\n") {
        Some((body, footer)) => (body, Some(footer)),
        None => (rest, None),
    };
    let mut elements = vec![json!({"tag": "markdown", "content": lark_md(body)})];
    if let Some(footer) = footer {
        elements.push(json!({"tag": "hr"}));
        elements.push(json!({"tag": "note", "elements": [{"tag": "plain_text", "content": plain(footer)}]}));
    }
    json!({
        "msg_type": "interactive",
        "card": {
            "config": {"wide_screen_mode": true},
            "header": {"title": {"tag": "plain_text", "content": title}, "template": template(Tone::of(title))},
            "elements": elements,
        }
    })
}

impl Channel for Feishu {
    fn outgoing(&self, to: &Destination, message: &Message, envelope: &Envelope) -> Result<Outgoing, SendError> {
        let content = message.markdown.as_str();
        let now = envelope.now;
        let mut body = card(content);
        if let Some(secret) = to.secrets.secret.as_deref() {
            let timestamp = now.timestamp();
            body["timestamp"] = json!(timestamp.to_string());
            body["sign"] = json!(sign(secret, timestamp));
        }
        Outgoing::to_webhook(&to.secrets, body)
    }

    fn judge(&self, answer: &[u8]) -> Result<(), SendError> {
        let value = json_answer(answer, "Feishu")?;
        // `code` today; `StatusCode` in the answers of older bots.
        let code = value
            .get("code")
            .or_else(|| value.get("StatusCode"))
            .and_then(Value::as_i64);
        match code {
            Some(0) => Ok(()),
            Some(THROTTLED) => Err(SendError::Throttled { retry_after: None }),
            other => Err(refusal(other, value.get("msg").or_else(|| value.get("StatusMessage")))),
        }
    }

    fn send_budget(&self) -> Option<RateLimit> {
        Some(SEND_BUDGET)
    }

    fn mask_secrets(&self, text: String, to: &Destination) -> String {
        // The bot's token is the hook URL's last path segment.
        let token = last_path_segment(to.secrets.webhook_url.as_deref());
        mask_all(
            text,
            to.secrets.webhook_url.as_deref(),
            &[token, to.secrets.secret.as_deref().unwrap_or("")],
        )
    }
}

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
