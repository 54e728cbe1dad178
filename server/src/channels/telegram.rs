//! Telegram bots: everything particular to them. A message is `POST {apiBaseUrl}/bot{token}/
//! sendMessage` (the default API base `https://api.telegram.org`, or a self-hosted Bot API
//! server) with `chat_id`, optional `message_thread_id`, `text` in HTML parse mode (only `<`, `>`
//! and `&` need escaping) of at most 4,096 characters after entity parsing, and
//! `disable_web_page_preview`. The bot token sits in the path, so what Telegram (or a proxy)
//! says back is masked by it.
//!
//! A message's markdown becomes Telegram HTML: the heading and `**bold**` as `<b>`, inline code
//! as `<code>`, quoted lines as one `<blockquote>`, the rule as a line. Telegram answers
//! `{"ok":true}`; over its limit (about 20 messages a minute to a group) it answers HTTP 429
//! with `parameters.retry_after`.
use std::borrow::Cow;
use std::time::Duration;

use serde_json::{json, Value};

use crate::channels::message::Message;
use crate::channels::sender::SendError;
use crate::channels::targets::Destination;
use crate::channels::{cut_to_chars, json_answer, refusal, Channel, Envelope, Outgoing, MASK};
use crate::platform::config::RateLimit;

/// Telegram's own API base.
pub const DEFAULT_API_BASE: &str = "https://api.telegram.org";
/// The most characters a message's text may hold.
pub const MAX_TEXT_CHARS: usize = 4096;
pub const TRUNCATION_MARKER: &str = "\n…(内容过长,已截断)";
/// Settings of a Telegram target (no secret).
pub const CHAT_ID: &str = "chatId";
pub const MESSAGE_THREAD_ID: &str = "messageThreadId";
pub const API_BASE_URL: &str = "apiBaseUrl";
pub const SEND_BUDGET: RateLimit = RateLimit {
    sends: 20,
    window: Duration::from_secs(60),
};

/// The Telegram channel.
#[derive(Clone, Copy, Debug, Default)]
pub struct Telegram;

/// `text` with `**bold**` and `` `code` `` as HTML, everything else escaped.
fn inline_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for (i, part) in text.split('`').enumerate() {
        // An odd piece sits between backticks (an unpaired last one stays as written).
        if i % 2 == 1 {
            out.push_str("<code>");
            out.push_str(&escape_html(part));
            out.push_str("</code>");
            continue;
        }
        for (j, piece) in part.split("**").enumerate() {
            if j % 2 == 1 {
                out.push_str("<b>");
                out.push_str(&escape_html(piece));
                out.push_str("</b>");
            } else {
                out.push_str(&escape_html(piece));
            }
        }
    }
    out
}

/// The Telegram HTML of a message of the specification, cut to Telegram's 4,096 characters
/// (tags do not count, and the markdown's marks are more characters than what replaces them).
pub fn html(content: &str) -> String {
    let content = cut_to_chars(content, MAX_TEXT_CHARS, TRUNCATION_MARKER);
    let mut lines: Vec<String> = Vec::new();
    let mut quote: Vec<String> = Vec::new();
    let flush = |quote: &mut Vec<String>, lines: &mut Vec<String>| {
        if !quote.is_empty() {
            lines.push(format!("<blockquote>{}</blockquote>", quote.join("\n")));
            quote.clear();
        }
    };
    for line in content.split('\n') {
        if let Some(quoted) = line.strip_prefix("> ") {
            quote.push(inline_html(quoted));
            continue;
        }
        flush(&mut quote, &mut lines);
        lines.push(match line {
            "---" => "──────────".to_owned(),
            _ => match line.strip_prefix("## ") {
                Some(title) => format!("<b>{}</b>", escape_html(title)),
                None => inline_html(line),
            },
        });
    }
    flush(&mut quote, &mut lines);
    lines.join("\n")
}

impl Channel for Telegram {
    fn outgoing(&self, to: &Destination, message: &Message, _: &Envelope) -> Result<Outgoing, SendError> {
        let content = message.markdown.as_str();
        let token = to
            .secrets
            .bot_token
            .as_deref()
            .ok_or_else(|| SendError::Request("the target has no bot token".into()))?;
        let chat = to
            .settings
            .get(CHAT_ID)
            .filter(|c| c.is_string() || c.is_i64())
            .ok_or_else(|| SendError::Request("the target has no chat id".into()))?;
        let mut body = json!({
            "chat_id": chat,
            "text": html(content),
            "parse_mode": "HTML",
            "disable_web_page_preview": true,
        });
        if let Some(thread) = to.settings.get(MESSAGE_THREAD_ID).and_then(Value::as_i64) {
            body["message_thread_id"] = json!(thread);
        }
        Ok(Outgoing {
            url: send_message_url(to.setting(API_BASE_URL).unwrap_or(DEFAULT_API_BASE), token),
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
        let token = to.secrets.bot_token.as_deref().unwrap_or("");
        let chat = to.settings.get(CHAT_ID).map(Value::to_string).unwrap_or_default();
        format!("telegram:{token}:{chat}")
    }

    fn retry_after(&self, answer: &[u8]) -> Option<Duration> {
        let value: Value = serde_json::from_slice(answer).ok()?;
        let seconds = value["parameters"]["retry_after"].as_u64()?;
        Some(Duration::from_secs(seconds.min(3600)))
    }

    fn mask_secrets(&self, text: String, to: &Destination) -> String {
        match to.secrets.bot_token.as_deref() {
            Some(token) if !token.is_empty() => mask_token(text, token),
            _ => text,
        }
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

    #[test]
    fn markdown_becomes_telegram_html() {
        assert_eq!(
            html("## 成本预警提醒\n> 用户 **A<B>** 的消费\n> 第二行\n最后错误: `x < y`\n---\n尾"),
            "<b>成本预警提醒</b>\n<blockquote>用户 <b>A&lt;B&gt;</b> 的消费\n第二行</blockquote>\n\
             最后错误: <code>x &lt; y</code>\n──────────\n尾"
        );
        let long = "供".repeat(5000);
        let text = html(&long);
        assert_eq!(text.chars().count(), MAX_TEXT_CHARS);
        assert!(text.ends_with("…(内容过长,已截断)"));
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
