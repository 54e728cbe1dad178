//! DingTalk (钉钉) custom robots: everything particular to them. A robot with signing (加签)
//! takes `timestamp` (Unix milliseconds) and `sign` in the URL's query, freshly per request, where
//! `sign` = url-encoded base64(HMAC-SHA256(key = secret, message = timestamp + "\n" + secret));
//! DingTalk refuses a timestamp more than an hour off.
//!
//! A message is `msgtype` markdown with a `title` (what the notification list shows: the
//! heading) and the text, whose lines DingTalk joins unless they end in a hard break. A robot
//! takes 20 messages a minute and answers errcode 0 when it took one, 130101 when throttled (it
//! then refuses for 10 minutes).
//!
//! The text is WeCom's markdown (the specification's) with DingTalk's line breaks. A mention
//! pings only through the body's `at` field, which is never sent; outside text gets full-width
//! look-alikes for what would open bold, code, a link, an image or a heading.
use std::time::Duration;

use serde_json::{json, Value};

use crate::channels::blocks::{markdown_look_alikes, Dialect, PART_SEPARATOR, RULE};
use crate::channels::error::SendError;
use crate::channels::message::Message;
use crate::channels::targets::Destination;
use crate::channels::{cut_to_bytes, hmac_sha256_base64, mask_all, webhook_url, Channel, Envelope, Outgoing};
use crate::channels::{json_answer, refusal};
use crate::platform::config::RateLimit;

/// The most text a message carries, in bytes (DingTalk takes 20,000).
pub const MAX_CONTENT_BYTES: usize = 18_000;
pub const TRUNCATION_MARKER: &str = "\n\n…(内容过长,已截断)";
/// DingTalk's answer to a robot over its limit: sending stops for 10 minutes.
pub const THROTTLED: i64 = 130_101;
const THROTTLED_FOR: Duration = Duration::from_secs(600);
pub const SEND_BUDGET: RateLimit = RateLimit {
    sends: 20,
    window: Duration::from_secs(60),
};

/// The DingTalk channel.
#[derive(Clone, Copy, Debug, Default)]
pub struct DingTalk;

/// DingTalk's markdown also reads a `#` as a heading.
fn escape(text: &str) -> String {
    markdown_look_alikes(text, &[('#', "＃")])
}

const DIALECT: Dialect = Dialect {
    escape,
    ..crate::channels::wecom::DIALECT
};

/// The markdown body of a message.
pub fn markdown(message: &Message) -> Value {
    let parts: Vec<String> = message
        .document
        .parts
        .iter()
        .map(|part| hard_breaks(&crate::channels::wecom::part_lines(&DIALECT, part)))
        .collect();
    let text = parts.join(PART_SEPARATOR);
    let text = cut_to_bytes(&text, MAX_CONTENT_BYTES, TRUNCATION_MARKER);
    json!({"msgtype": "markdown", "markdown": {"title": message.title(), "text": text}})
}

/// Lines kept apart as DingTalk renders markdown: a line break is two spaces before the newline;
/// a quote takes in the lines after it up to a blank line, so one ends it; a rule stands between
/// blank lines, or it would make the line above it a heading. A heading ends at its line anyway.
fn hard_breaks(lines: &[String]) -> String {
    let mut text = String::new();
    for (i, line) in lines.iter().enumerate() {
        text.push_str(line);
        let Some(next) = lines.get(i + 1) else { break };
        let quote = |l: &str| l.starts_with(DIALECT.quote);
        text.push_str(if line == RULE || next == RULE || (quote(line) && !quote(next)) {
            "\n\n"
        } else if line.starts_with('#') {
            "\n"
        } else {
            "  \n"
        });
    }
    text
}

impl Channel for DingTalk {
    fn outgoing(&self, to: &Destination, message: &Message, envelope: &Envelope) -> Result<Outgoing, SendError> {
        let now = envelope.now;
        let url = webhook_url(to)?;
        let url = match to.secret() {
            Some(secret) => signed_url(url, secret, now.timestamp_millis()),
            None => url.to_owned(),
        };
        Ok(Outgoing {
            url,
            body: markdown(message),
            headers: Vec::new(),
        })
    }

    fn judge(&self, answer: &[u8]) -> Result<(), SendError> {
        let value = json_answer(answer, "DingTalk")?;
        match value.get("errcode").and_then(Value::as_i64) {
            Some(0) => Ok(()),
            Some(THROTTLED) => Err(SendError::Throttled {
                retry_after: Some(THROTTLED_FOR),
            }),
            other => Err(refusal(other, value.get("errmsg"))),
        }
    }

    fn send_budget(&self) -> Option<RateLimit> {
        Some(SEND_BUDGET)
    }

    fn mask_secrets(&self, text: String, to: &Destination) -> String {
        mask_all(text, to.webhook_url(), &[to.secret().unwrap_or("")])
    }
}

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
    use crate::channels::blocks::{Block, Inline};
    use crate::channels::message::Event;

    /// A provider name written in DingTalk's markdown: a link, an image, bold, code, a heading,
    /// a mention (which pings only through the `at` field, never sent).
    #[test]
    fn outside_text_cannot_link_or_add_markup() {
        let name = "# 标题 [官网](https://evil.example) ![i](https://evil.example/i.png) **粗** `c` @13800000000";
        let m = Message::of_blocks(
            Event::CostAlert,
            vec![Block::line(vec![Inline::text("用户 "), Inline::bold(name)])],
            Vec::new(),
            chrono::Utc::now().fixed_offset(),
        );
        let body = markdown(&m);
        assert_eq!(
            body["markdown"]["text"],
            "## 成本预警提醒\n用户 **＃ 标题 ［官网］(https://evil.example) !［i］(https://evil.example/i.png) ＊＊粗＊＊ 'c' @13800000000**"
        );
        assert!(body.get("at").is_none());
    }

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
