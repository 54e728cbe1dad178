//! Telegram bots: everything particular to them. A message is `POST {apiBaseUrl}/bot{token}/
//! sendMessage` (the default API base `https://api.telegram.org`, or a self-hosted Bot API
//! server) with `chat_id`, optional `message_thread_id`, `text` in HTML parse mode (only `<`, `>`
//! and `&` need escaping) of at most 4,096 characters after entity parsing, and
//! `disable_web_page_preview`. The bot token sits in the path, so what Telegram (or a proxy)
//! says back is masked by it.
use std::borrow::Cow;

/// Telegram's own API base.
pub const DEFAULT_API_BASE: &str = "https://api.telegram.org";
/// The most characters a message's text may hold.
pub const MAX_TEXT_CHARS: usize = 4096;

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
    let mut text = text.replace(token, "***");
    if let Some((_, secret)) = token.split_once(':') {
        if secret.len() >= 8 {
            text = text.replace(secret, "***");
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

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
