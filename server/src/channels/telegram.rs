//! Telegram bots: everything particular to them. A message is `POST {apiBaseUrl}/bot{token}/
//! sendMessage` (the default API base `https://api.telegram.org`, or a self-hosted Bot API
//! server) with `chat_id`, optional `message_thread_id`, `text` in HTML parse mode (only `<`, `>`
//! and `&` need escaping) of at most 4,096 characters after entity parsing, and
//! `disable_web_page_preview`. The bot token sits in the path, so what Telegram (or a proxy)
//! says back is masked by it.
//!
//! A message is Telegram HTML: the title and bold as `<b>`, code as `<code>`, a part's quoted
//! lines as one `<blockquote>`, the rule as a line. Outside text is HTML-escaped (no tag, so no
//! link or mention tag) and an `@` is followed by a word joiner, so `@username` reads as text
//! rather than notifying that user. Telegram answers `{"ok":true}`; over its limit (about 20
//! messages a minute to a group) it answers HTTP 429 with `parameters.retry_after`.
use std::borrow::Cow;
use std::time::Duration;

use serde_json::{json, Value};

use crate::channels::blocks::{Block, Dialect, Part, PART_SEPARATOR, WORD_JOINER};
use crate::channels::error::SendError;
use crate::channels::message::Message;
use app::targets::{ChannelConfig, TelegramChat};

use crate::channels::targets::{Destination, Secret};
use crate::channels::{json_answer, refusal, Channel, Envelope, Outgoing, MASK};
use crate::platform::config::RateLimit;

/// Telegram's own API base.
pub const DEFAULT_API_BASE: &str = "https://api.telegram.org";
/// The most characters a message's text may hold.
pub const MAX_TEXT_CHARS: usize = 4096;
pub const TRUNCATION_MARKER: &str = "\n…(内容过长,已截断)";
pub const SEND_BUDGET: RateLimit = RateLimit {
    sends: 20,
    window: Duration::from_secs(60),
};

/// The Telegram channel.
#[derive(Clone, Copy, Debug, Default)]
pub struct Telegram;

fn escape(text: &str) -> String {
    escape_html(text).replace('@', &format!("@{WORD_JOINER}"))
}

fn escape_code(text: &str) -> String {
    escape_html(text).into_owned()
}

const HTML: Dialect = Dialect {
    escape,
    escape_code,
    bold: ("<b>", "</b>"),
    code: ("<code>", "</code>"),
    quote: "",
    rule: RULE,
};

/// The rule drawn with box characters: HTML mode has no `<hr>`.
const RULE: &str = "──────────";

/// A part's lines: consecutive quoted blocks in one `<blockquote>`.
fn part_lines(part: &Part) -> Vec<String> {
    let mut lines = vec![format!("<b>{}</b>", escape(&part.title))];
    let mut quote: Vec<String> = Vec::new();
    let flush = |quote: &mut Vec<String>, lines: &mut Vec<String>| {
        if !quote.is_empty() {
            lines.push(format!("<blockquote>{}</blockquote>", quote.join("\n")));
            quote.clear();
        }
    };
    let rule = (!part.footer.is_empty()).then_some(&Block::Rule);
    for block in part.body.iter().chain(rule).chain(&part.footer) {
        match block {
            Block::Quote { inlines } => quote.push(HTML.inlines(inlines)),
            other => {
                flush(&mut quote, &mut lines);
                lines.push(HTML.block(other));
            }
        }
    }
    flush(&mut quote, &mut lines);
    lines
}

/// The Telegram HTML of a message, cut to Telegram's 4,096 characters (of text: tags do not
/// count, an entity counts as one).
pub fn html(message: &Message) -> String {
    let parts: Vec<String> = message
        .document
        .parts
        .iter()
        .map(|p| part_lines(p).join("\n"))
        .collect();
    cut_html(&parts.join(PART_SEPARATOR), MAX_TEXT_CHARS, TRUNCATION_MARKER)
}

/// A piece of an HTML message: a tag, or one character of text (an entity counts as one, as
/// Telegram counts them).
enum Piece<'a> {
    Tag(&'a str),
    Char(&'a str),
}

impl Piece<'_> {
    fn text(&self) -> &str {
        match self {
            Piece::Tag(t) | Piece::Char(t) => t,
        }
    }
}

/// The pieces of `html`, in order.
fn pieces(html: &str) -> impl Iterator<Item = Piece<'_>> {
    let mut rest = html;
    std::iter::from_fn(move || {
        let first = rest.chars().next()?;
        let len = match first {
            '<' => rest.find('>').map_or(rest.len(), |i| i + 1),
            '&' => rest.find(';').map_or(1, |i| i + 1),
            c => c.len_utf8(),
        };
        let (piece, after) = rest.split_at(len);
        rest = after;
        Some(if first == '<' {
            Piece::Tag(piece)
        } else {
            Piece::Char(piece)
        })
    })
}

/// Characters of text in `html` (tags skipped, an entity counted once).
fn text_chars(html: &str) -> usize {
    pieces(html).filter(|p| matches!(p, Piece::Char(_))).count()
}

/// `html` cut to at most `max` characters of text, ending in `marker` when cut, with the tags
/// still open at the cut closed.
fn cut_html(html: &str, max: usize, marker: &str) -> String {
    if text_chars(html) <= max {
        return html.to_owned();
    }
    let keep = max.saturating_sub(marker.chars().count());
    let (mut kept, mut at) = (0, 0);
    let mut open: Vec<&str> = Vec::new();
    for piece in pieces(html) {
        match piece {
            Piece::Char(_) if kept == keep => break,
            Piece::Char(_) => kept += 1,
            Piece::Tag(tag) if tag.starts_with("</") => {
                open.pop();
            }
            Piece::Tag(tag) => open.push(tag.trim_start_matches('<').trim_end_matches('>')),
        }
        at += piece.text().len();
    }
    let closing: String = open.iter().rev().map(|t| format!("</{t}>")).collect();
    format!("{}{closing}{}", &html[..at], escape_html(marker))
}

impl Channel for Telegram {
    fn outgoing(&self, to: &Destination, message: &Message, _: &Envelope) -> Result<Outgoing, SendError> {
        let chat = chat(to)?;
        // An integer, or a string for `@channelusername`: both as Telegram documents them.
        let chat_id = chat
            .chat_id
            .parse::<i64>()
            .map_or_else(|_| json!(chat.chat_id), |id| json!(id));
        let mut body = json!({
            "chat_id": chat_id,
            "text": html(message),
            "parse_mode": "HTML",
            "disable_web_page_preview": true,
        });
        if let Some(thread) = chat.message_thread_id {
            body["message_thread_id"] = json!(thread);
        }
        Ok(Outgoing {
            url: send_message_url(
                chat.api_base_url.as_deref().unwrap_or(DEFAULT_API_BASE),
                chat.bot_token.expose(),
            ),
            body,
            headers: Vec::new(),
        })
    }

    fn judge(&self, answer: &[u8]) -> Result<(), SendError> {
        let value = json_answer(answer, "Telegram")?;
        if value.get("ok").and_then(Value::as_bool) == Some(true) {
            return Ok(());
        }
        Err(refusal(
            value.get("error_code").and_then(Value::as_i64),
            value.get("description"),
        ))
    }

    fn send_budget(&self) -> Option<RateLimit> {
        Some(SEND_BUDGET)
    }

    /// One bot's budget per chat: Telegram limits what a bot sends to each group.
    fn budget_key(&self, to: &Destination) -> String {
        match chat(to) {
            Ok(chat) => format!("telegram:{}:{}", chat.bot_token.expose(), chat.chat_id),
            Err(_) => String::new(),
        }
    }

    fn retry_after(&self, answer: &[u8]) -> Option<Duration> {
        let value: Value = serde_json::from_slice(answer).ok()?;
        let seconds = value["parameters"]["retry_after"].as_u64()?;
        Some(Duration::from_secs(seconds.min(3600)))
    }

    fn mask_secrets(&self, text: String, to: &Destination) -> String {
        match chat(to) {
            Ok(chat) if !chat.bot_token.expose().is_empty() => mask_token(text, chat.bot_token.expose()),
            _ => text,
        }
    }
}

/// The chat `to` reaches.
fn chat(to: &Destination) -> Result<&TelegramChat<Secret>, SendError> {
    match &to.config {
        ChannelConfig::Telegram(chat) => Ok(chat),
        _ => Err(SendError::Request("the target has no bot token".into())),
    }
}

/// `text` safe inside an HTML-mode message.
pub fn escape_html(text: &str) -> Cow<'_, str> {
    if !text.contains(['<', '>', '&']) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Where `sendMessage` of the bot `token` is, on `api_base` (no trailing slash needed).
pub fn send_message_url(api_base: &str, token: &str) -> String {
    format!("{}/bot{token}/sendMessage", api_base.trim_end_matches('/'))
}

/// `text` with the bot token masked (whole, and its secret half after the `:`).
pub fn mask_token(text: String, token: &str) -> String {
    let mut text = text.replace(token, MASK);
    if let Some((_, secret)) = token.split_once(':') {
        if secret.len() >= 8 {
            text = text.replace(secret, MASK);
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::channels::blocks::Inline;
    use crate::channels::message::Event;

    fn message(body: Vec<Block>, footer: Vec<Block>) -> Message {
        Message::of_blocks(Event::CostAlert, body, footer, chrono::Utc::now().fixed_offset())
    }

    #[test]
    fn blocks_become_telegram_html() {
        let m = message(
            vec![
                Block::quote(vec![
                    Inline::text("用户 "),
                    Inline::bold("A<B>"),
                    Inline::text(" 的消费"),
                ]),
                Block::quote(vec![Inline::text("第二行")]),
                Block::line(vec![Inline::text("最后错误: "), Inline::code("x < y")]),
            ],
            vec![Block::text("尾")],
        );
        assert_eq!(
            html(&m),
            "<b>成本预警提醒</b>\n<blockquote>用户 <b>A&lt;B&gt;</b> 的消费\n第二行</blockquote>\n\
             最后错误: <code>x &lt; y</code>\n──────────\n尾"
        );
        let long = message(vec![Block::text("供".repeat(5000))], Vec::new());
        let text = html(&long);
        assert_eq!(text_chars(&text), MAX_TEXT_CHARS);
        assert!(text.ends_with("…(内容过长,已截断)"));
        let long_bold = message(vec![Block::line(vec![Inline::bold("&".repeat(5000))])], Vec::new());
        let text = html(&long_bold);
        assert_eq!(text_chars(&text), MAX_TEXT_CHARS, "an entity is one character");
        assert!(
            text.contains("&amp;</b>\n…"),
            "the open tag is closed at the cut: {}",
            &text[text.len() - 60..]
        );
    }

    /// A provider name written in Telegram's HTML: a link, a mention by username and by id, bold,
    /// code.
    #[test]
    fn outside_text_cannot_mention_link_or_add_markup() {
        let name = "<a href=\"https://evil.example\">官网</a> @admin <a href=\"tg://user?id=1\">x</a> <b>粗</b> <code>c</code>";
        let text = html(&message(
            vec![Block::quote(vec![Inline::text("供应商 "), Inline::bold(name)])],
            Vec::new(),
        ));
        assert_eq!(
            text,
            "<b>成本预警提醒</b>\n<blockquote>供应商 <b>&lt;a href=\"https://evil.example\"&gt;官网&lt;/a&gt; \
             @\u{2060}admin &lt;a href=\"tg://user?id=1\"&gt;x&lt;/a&gt; &lt;b&gt;粗&lt;/b&gt; &lt;code&gt;c&lt;/code&gt;</b></blockquote>"
        );
    }

    #[test]
    fn telegram_says_how_long_to_wait_in_its_body() {
        let answer = br#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 7","parameters":{"retry_after":7}}"#;
        assert_eq!(Telegram.retry_after(answer), Some(Duration::from_secs(7)));
        assert_eq!(Telegram.judge(br#"{"ok":true,"result":{}}"#), Ok(()));
        assert_eq!(
            Telegram.judge(br#"{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}"#),
            Err(SendError::ErrCode {
                errcode: 400,
                errmsg: "Bad Request: chat not found".into()
            })
        );
    }

    #[test]
    fn only_the_three_html_characters_are_escaped() {
        assert_eq!(
            escape_html("供应商 A & B <x> \"q\" 'a'"),
            "供应商 A &amp; B &lt;x&gt; \"q\" 'a'"
        );
        assert!(matches!(escape_html("plain 文本"), Cow::Borrowed(_)));
        assert_eq!(escape_html("&amp;"), "&amp;amp;");
    }

    #[test]
    fn the_url_names_the_bot_on_the_chosen_server() {
        assert_eq!(
            send_message_url(DEFAULT_API_BASE, "123:ABC"),
            "https://api.telegram.org/bot123:ABC/sendMessage"
        );
        assert_eq!(
            send_message_url("http://10.0.0.5:8081/", "123:ABC"),
            "http://10.0.0.5:8081/bot123:ABC/sendMessage"
        );
    }

    #[test]
    fn the_token_is_masked_in_what_comes_back() {
        let token = "123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";
        assert_eq!(
            mask_token(
                format!("POST /bot{token}/sendMessage: 401; AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"),
                token
            ),
            "POST /bot***/sendMessage: 401; ***"
        );
    }
}
