//! Feishu (飞书) and Lark custom bots: everything particular to them. A bot with signature
//! checking (签名校验) takes `timestamp` (Unix seconds, as a string) and `sign` in the body, where
//! `sign` = base64(HMAC-SHA256(key = timestamp + "\n" + secret, message = empty)); it refuses a
//! wrong sign or a timestamp more than an hour off with code 19021.
//!
//! A message is an interactive card: the heading as the card's title (coloured by its tone), the
//! rest as lark_md, the footer after a rule. A request body may be 20 KB; a bot takes 100
//! messages a minute (5 a second) and answers code 0 when it took one, 11232 when throttled.
//!
//! Title and footer are plain text; the body is lark_md, which has no quotes (a lead reads as
//! a plain line) and no escapes: outside text gets full-width look-alikes for what would open
//! bold, italics, strike-through, code, a link, a mention (`<at id=all>`) or a tag.
use std::time::Duration;

use serde_json::{json, Value};

use crate::channels::blocks::{
    code_look_alikes, edge_underscores, markdown_look_alikes, plain_lines, Block, Dialect, Tone,
};
use crate::channels::error::SendError;
use crate::channels::message::Message;
use crate::channels::targets::Destination;
use crate::channels::{cut_to_bytes, hmac_sha256_base64, last_path_segment, mask_all, Channel, Envelope, Outgoing};
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

/// lark_md also reads `_` and `*` as italics and `~~` as strike-through.
fn escape(text: &str) -> String {
    markdown_look_alikes(&edge_underscores(text), &[('~', "～")])
}

/// lark_md: no block quotes, so a quoted line reads as a plain one.
const DIALECT: Dialect = Dialect {
    escape,
    escape_code: code_look_alikes,
    bold: ("**", "**"),
    code: ("`", "`"),
    quote: "",
    rule: "———",
};

/// The card of a message: title, body, and (after the specification's `---`) the footer.
pub fn card(message: &Message) -> Value {
    let flat = message.document.flattened();
    // A rule between parts is an `hr` between their markdown; the text of all of them together
    // keeps to the limit.
    let mut elements = Vec::new();
    let mut room = MAX_CONTENT_BYTES;
    for run in flat.body.split(|b| *b == Block::Rule) {
        if room == 0 {
            break;
        }
        if !elements.is_empty() {
            elements.push(json!({"tag": "hr"}));
        }
        let text = DIALECT.blocks(run);
        let text = cut_to_bytes(&text, room, TRUNCATION_MARKER);
        room = room.saturating_sub(text.len());
        elements.push(json!({"tag": "markdown", "content": text}));
    }
    if !flat.footer.is_empty() {
        elements.push(json!({"tag": "hr"}));
        elements.push(json!({"tag": "note", "elements": [{"tag": "plain_text", "content": plain_lines(flat.footer)}]}));
    }
    json!({
        "msg_type": "interactive",
        "card": {
            "config": {"wide_screen_mode": true},
            "header": {"title": {"tag": "plain_text", "content": flat.title}, "template": template(message.event().tone())},
            "elements": elements,
        }
    })
}

impl Channel for Feishu {
    fn outgoing(&self, to: &Destination, message: &Message, envelope: &Envelope) -> Result<Outgoing, SendError> {
        let now = envelope.now;
        let mut body = card(message);
        if let Some(secret) = to.secret() {
            let timestamp = now.timestamp();
            body["timestamp"] = json!(timestamp.to_string());
            body["sign"] = json!(sign(secret, timestamp));
        }
        Outgoing::to_webhook(to, body)
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
        let token = last_path_segment(to.webhook_url());
        let secret = to.secret().unwrap_or("");
        mask_all(text, to.webhook_url(), &[token, secret])
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
    use crate::channels::blocks::Inline;
    use crate::channels::message::Event;

    /// A provider name written in lark_md: a mention of everyone, a link, bold, italics,
    /// strike-through, code, a font tag; an underscore inside a word stays.
    #[test]
    fn outside_text_cannot_mention_link_or_add_markup() {
        let name = "<at id=all></at> [官网](https://evil.example) **粗** *斜* _斜_ ~~删~~ `c` <font color='red'>x</font> snake_case";
        let m = Message::of_blocks(
            Event::CircuitBreakerOpened,
            vec![Block::quote(vec![Inline::text("供应商 "), Inline::bold(name)])],
            vec![Block::line(vec![Inline::text(name)])],
            chrono::Utc::now().fixed_offset(),
        );
        let card = card(&m);
        assert_eq!(
            card["card"]["elements"][0]["content"],
            "供应商 **＜at id=all＞＜/at＞ ［官网］(https://evil.example) ＊＊粗＊＊ ＊斜＊ ＿斜＿ ～～删～～ 'c' ＜font color='red'＞x＜/font＞ snake_case**"
        );
        assert_eq!(
            card["card"]["elements"][2]["elements"][0]["tag"], "plain_text",
            "the footer is not markdown"
        );
        assert_eq!(
            card["card"]["header"]["template"], "red",
            "the tone comes from the event"
        );
    }

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
