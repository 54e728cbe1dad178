//! Discord webhooks: everything particular to them. A message is one embed: the heading as its
//! title, the lines as its description (Discord reads the same markdown), the footer as its
//! footer, the colour by the message's tone. Discord answers HTTP 204 (or 200) when it took the
//! message, announces what is left of its limit in `X-RateLimit-Remaining` and
//! `X-RateLimit-Reset-After` (read after every send, so the next one waits instead of meeting a
//! 429), and answers 429 with `Retry-After` and `retry_after` when over it anyway.
//! The URL's last path segment is the webhook's token.
//!
//! Outside text is backslash-escaped for Discord's markdown (bold, italics, strike-through,
//! spoilers, code, masked links, `<@…>` mentions, headings) and an `@` is followed by a word
//! joiner, so `@everyone` reads as text; `allowed_mentions` parses none besides.
use std::time::Duration;

use serde_json::{json, Value};

use crate::channels::blocks::{plain_lines, Dialect, Tone, WORD_JOINER};
use crate::channels::error::SendError;
use crate::channels::message::Message;
use crate::channels::targets::Destination;
use crate::channels::{cut_to_chars, last_path_segment, mask_all, Channel, Envelope, Outgoing};
use crate::platform::config::RateLimit;

/// Discord's embed limits, in characters.
pub const MAX_TITLE_CHARS: usize = 256;
pub const MAX_DESCRIPTION_CHARS: usize = 4096;
pub const MAX_FOOTER_CHARS: usize = 2048;
pub const TRUNCATION_MARKER: &str = "\n…(内容过长,已截断)";
pub const SEND_BUDGET: RateLimit = RateLimit {
    sends: 30,
    window: Duration::from_secs(60),
};

/// The Discord channel.
#[derive(Clone, Copy, Debug, Default)]
pub struct Discord;

fn colour(tone: Tone) -> u32 {
    match tone {
        Tone::Alert => 0x00E5_3935,
        Tone::Warning => 0x00FB_8C00,
        Tone::Good => 0x0043_A047,
        Tone::Info => 0x001E_88E5,
    }
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\\' | '*' | '_' | '~' | '`' | '|' | '[' | ']' | '<' | '>' | '#' => {
                out.push('\\');
                out.push(c);
            }
            '@' => {
                out.push('@');
                out.push_str(WORD_JOINER);
            }
            c => out.push(c),
        }
    }
    out
}

/// Inside code nothing is markup but the backtick that would close it.
fn escape_code(text: &str) -> String {
    text.replace('`', "'")
}

const MARKDOWN: Dialect = Dialect {
    escape,
    escape_code,
    bold: ("**", "**"),
    code: ("`", "`"),
    quote: "> ",
    rule: "———",
};

/// The webhook body of a message.
pub fn payload(message: &Message) -> Value {
    let flat = message.document.flattened();
    let mut embed = json!({
        "title": cut_to_chars(flat.title, MAX_TITLE_CHARS, "…"),
        "description": cut_to_chars(&MARKDOWN.blocks(&flat.body), MAX_DESCRIPTION_CHARS, TRUNCATION_MARKER),
        "color": colour(message.event().tone()),
    });
    if !flat.footer.is_empty() {
        // A footer is plain text.
        embed["footer"] = json!({"text": cut_to_chars(&plain_lines(flat.footer), MAX_FOOTER_CHARS, "…")});
    }
    // No pings from a notification, whatever its text holds.
    json!({"embeds": [embed], "allowed_mentions": {"parse": []}})
}

impl Channel for Discord {
    fn outgoing(&self, to: &Destination, message: &Message, _: &Envelope) -> Result<Outgoing, SendError> {
        Outgoing::to_webhook(to, payload(message))
    }

    /// Any 2xx: 204 without a body, or 200 with the message when `?wait=true`.
    fn judge(&self, _: &[u8]) -> Result<(), SendError> {
        Ok(())
    }

    fn send_budget(&self) -> Option<RateLimit> {
        Some(SEND_BUDGET)
    }

    fn mask_secrets(&self, text: String, to: &Destination) -> String {
        mask_all(text, None, &[last_path_segment(to.webhook_url())])
    }

    /// Discord's 429 body says `retry_after` in seconds (a float).
    fn retry_after(&self, answer: &[u8]) -> Option<Duration> {
        let value: Value = serde_json::from_slice(answer).ok()?;
        seconds(value.get("retry_after")?.as_f64()?)
    }

    /// Discord announces its bucket on every answer: with `X-RateLimit-Remaining: 0` the next
    /// message waits `X-RateLimit-Reset-After` seconds instead of meeting a 429.
    fn rest_after(&self, headers: &http::HeaderMap) -> Option<Duration> {
        let header = |name: &str| headers.get(name)?.to_str().ok()?.trim().parse::<f64>().ok();
        if header("x-ratelimit-remaining")? > 0.0 {
            return None;
        }
        seconds(header("x-ratelimit-reset-after")?)
    }
}

/// A wait Discord states in seconds, at most an hour.
fn seconds(s: f64) -> Option<Duration> {
    (s.is_finite() && s > 0.0).then(|| Duration::from_secs_f64(s.min(3600.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::channels::blocks::{Block, Inline};
    use crate::channels::message::Event;

    fn message(body: Vec<Block>, footer: Vec<Block>) -> Message {
        Message::of_blocks(Event::CostAlert, body, footer, chrono::Utc::now().fixed_offset())
    }

    #[test]
    fn an_embed_keeps_to_discords_limits() {
        let body = payload(&message(
            vec![Block::text("供".repeat(5000))],
            vec![Block::text("footer")],
        ));
        let embed = &body["embeds"][0];
        assert_eq!(embed["title"], "成本预警提醒");
        assert_eq!(embed["color"], 0x00FB_8C00);
        let description = embed["description"].as_str().unwrap();
        assert_eq!(description.chars().count(), MAX_DESCRIPTION_CHARS);
        assert!(description.ends_with(TRUNCATION_MARKER));
        assert_eq!(embed["footer"]["text"], "footer");
    }

    /// A provider name written in Discord's syntaxes: mentions, a masked link, bold, italics,
    /// strike-through, a spoiler, code, a heading.
    #[test]
    fn outside_text_cannot_mention_link_or_add_markup() {
        let name = "@everyone <@123> [官网](https://evil.example) **粗** _斜_ ~~删~~ ||藏|| `c` # 标题";
        let body = payload(&message(
            vec![
                Block::quote(vec![Inline::text("供应商 "), Inline::bold(name)]),
                Block::line(vec![Inline::code(name)]),
            ],
            Vec::new(),
        ));
        assert_eq!(
            body["embeds"][0]["description"],
            "> 供应商 **@\u{2060}everyone \\<@\u{2060}123\\> \\[官网\\](https://evil.example) \\*\\*粗\\*\\* \\_斜\\_ \\~\\~删\\~\\~ \\|\\|藏\\|\\| \\`c\\` \\# 标题**\n\
             `@everyone <@123> [官网](https://evil.example) **粗** _斜_ ~~删~~ ||藏|| 'c' # 标题`"
        );
        assert_eq!(body["allowed_mentions"]["parse"], serde_json::json!([]));
    }

    #[test]
    fn the_rate_limit_headers_and_the_429_body_say_how_long_to_rest() {
        let headers = |remaining: &str, reset: &str| {
            let mut h = http::HeaderMap::new();
            h.insert("x-ratelimit-remaining", remaining.parse().unwrap());
            h.insert("x-ratelimit-reset-after", reset.parse().unwrap());
            h
        };
        assert_eq!(
            Discord.rest_after(&headers("0", "1.5")),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(Discord.rest_after(&headers("3", "1.5")), None);
        assert_eq!(Discord.rest_after(&http::HeaderMap::new()), None);
        assert_eq!(
            Discord.retry_after(br#"{"message":"You are being rate limited.","retry_after":0.25,"global":false}"#),
            Some(Duration::from_millis(250))
        );
        assert_eq!(Discord.retry_after(b"nope"), None);
    }
}
