//! Slack incoming webhooks: everything particular to them. A message is `text` (the fallback
//! notifications and old clients show) and `blocks`: the heading as a header block, the lines as
//! mrkdwn sections of at most 3,000 characters, the footer as context after a divider. Slack
//! answers HTTP 200 with the body `ok`; a webhook takes about one message a second and answers
//! more with HTTP 429 and `Retry-After`. The URL's last path segment is its secret.
//!
//! mrkdwn escapes `&`, `<` and `>` as entities, which is what keeps outside text from writing a
//! mention (`<!channel>`, `<@U…>`) or a link (`<url|text>`); it has no escape for its marks, so
//! `*`, `_`, `~` and a backtick get full-width look-alikes.
use std::time::Duration;

use serde_json::{json, Value};

use crate::channels::blocks::{edge_underscores, replace_chars, Block, Dialect, TitleStyle, RULE};
use crate::channels::error::SendError;
use crate::channels::message::Message;
use crate::channels::targets::Destination;
use crate::channels::{cut_to_chars, last_path_segment, mask_all, Channel, Envelope, Outgoing};
use crate::platform::config::RateLimit;

/// Slack's limit on a section's text, in characters.
pub const MAX_SECTION_CHARS: usize = 3000;
/// Slack's limit on a header's text, in characters.
pub const MAX_HEADER_CHARS: usize = 150;
/// Sections and dividers of one message's body: Slack takes 50 blocks, three are header,
/// divider and context.
const MAX_SECTIONS: usize = 40;
pub const TRUNCATION_MARKER: &str = "\n…(内容过长,已截断)";
pub const SEND_BUDGET: RateLimit = RateLimit {
    sends: 1,
    window: Duration::from_secs(1),
};

/// The Slack channel.
#[derive(Clone, Copy, Debug, Default)]
pub struct Slack;

fn escape(text: &str) -> String {
    replace_chars(
        &edge_underscores(text),
        &[
            ('&', "&amp;"),
            ('<', "&lt;"),
            ('>', "&gt;"),
            ('*', "＊"),
            ('~', "～"),
            ('`', "'"),
        ],
    )
}

fn escape_code(text: &str) -> String {
    replace_chars(text, &[('&', "&amp;"), ('<', "&lt;"), ('>', "&gt;"), ('`', "'")])
}

/// Slack's mrkdwn: `*bold*`; quotes and inline code as in markdown.
const MRKDWN: Dialect = Dialect {
    escape,
    escape_code,
    bold: ("*", "*"),
    code: ("`", "`"),
    quote: "> ",
    rule: "———",
};

/// `text` in pieces of at most `max` characters, cut at line ends where a line allows.
fn sections(text: &str, max: usize) -> Vec<String> {
    let mut pieces: Vec<String> = Vec::new();
    let mut current = String::new();
    for line in text.split('\n') {
        let line = cut_to_chars(line, max, "…");
        let joined = current.chars().count() + usize::from(!current.is_empty()) + line.chars().count();
        if !current.is_empty() && joined > max {
            pieces.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push('\n');
        }
        current.push_str(&line);
    }
    if !current.is_empty() {
        pieces.push(current);
    }
    if pieces.len() > MAX_SECTIONS {
        pieces.truncate(MAX_SECTIONS);
        let last = pieces.last_mut().expect("sections");
        *last = cut_to_chars(&format!("{last}{TRUNCATION_MARKER}"), max, TRUNCATION_MARKER).into_owned();
    }
    pieces
}

/// The webhook body of a message.
pub fn payload(message: &Message) -> Value {
    let flat = message.document.flattened();
    let mut blocks = vec![json!({
        "type": "header",
        "text": {"type": "plain_text", "text": cut_to_chars(flat.title, MAX_HEADER_CHARS, "…"), "emoji": true}
    })];
    // A rule between parts is a divider between their sections.
    let mut body: Vec<Option<String>> = Vec::new();
    for (i, run) in flat.body.split(|b| *b == Block::Rule).enumerate() {
        if i > 0 {
            body.push(None);
        }
        body.extend(sections(&MRKDWN.blocks(run), MAX_SECTION_CHARS).into_iter().map(Some));
    }
    if body.len() > MAX_SECTIONS {
        body.truncate(MAX_SECTIONS);
        if body.last() == Some(&None) {
            body.pop();
        }
        if let Some(Some(last)) = body.last_mut() {
            *last = cut_to_chars(
                &format!("{last}{TRUNCATION_MARKER}"),
                MAX_SECTION_CHARS,
                TRUNCATION_MARKER,
            )
            .into_owned();
        }
    }
    for section in body {
        blocks.push(match section {
            Some(text) => json!({"type": "section", "text": {"type": "mrkdwn", "text": text}}),
            None => json!({"type": "divider"}),
        });
    }
    let footer = MRKDWN.blocks(flat.footer);
    if !flat.footer.is_empty() {
        blocks.push(json!({"type": "divider"}));
        blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": cut_to_chars(&footer, MAX_SECTION_CHARS, "…")}]}));
    }
    // The fallback: what a notification or an old client shows.
    let title = (MRKDWN.escape)(flat.title);
    let mut fallback = vec![match flat.title_style {
        TitleStyle::Heading => title,
        TitleStyle::Bold => format!("*{title}*"),
    }];
    fallback.push(MRKDWN.blocks(&flat.body));
    if !flat.footer.is_empty() {
        fallback.push(RULE.to_owned());
        fallback.push(footer);
    }
    let fallback: Vec<String> = fallback.into_iter().filter(|l| !l.is_empty()).collect();
    let text = cut_to_chars(&fallback.join("\n"), MAX_SECTION_CHARS, "…").into_owned();
    json!({"text": text, "blocks": blocks})
}

impl Channel for Slack {
    fn outgoing(&self, to: &Destination, message: &Message, _: &Envelope) -> Result<Outgoing, SendError> {
        Outgoing::to_webhook(to, payload(message))
    }

    fn judge(&self, answer: &[u8]) -> Result<(), SendError> {
        match String::from_utf8_lossy(answer).trim() {
            "ok" => Ok(()),
            other => Err(SendError::ErrCode {
                errcode: -1,
                errmsg: other.chars().take(200).collect(),
            }),
        }
    }

    fn send_budget(&self) -> Option<RateLimit> {
        Some(SEND_BUDGET)
    }

    fn mask_secrets(&self, text: String, to: &Destination) -> String {
        mask_all(text, None, &[last_path_segment(to.webhook_url())])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channels::blocks::Inline;
    use crate::channels::message::Event;

    /// A provider name written in Slack's syntaxes: mentions of the channel and of a user, a
    /// link, bold, italics, strike-through, code.
    #[test]
    fn outside_text_cannot_mention_link_or_add_markup() {
        let name = "<!channel> <@U024BE7LH> <https://evil.example|官网> *粗* _斜_ ~删~ `c` & co_op";
        let m = Message::of_blocks(
            Event::CircuitBreakerOpened,
            vec![Block::quote(vec![Inline::text("供应商 "), Inline::bold(name)])],
            vec![Block::line(vec![Inline::code(name)])],
            chrono::Utc::now().fixed_offset(),
        );
        let body = payload(&m);
        assert_eq!(
            body["blocks"][1]["text"]["text"],
            "> 供应商 *&lt;!channel&gt; &lt;@U024BE7LH&gt; &lt;https://evil.example|官网&gt; ＊粗＊ ＿斜＿ ～删～ 'c' &amp; co_op*"
        );
        assert_eq!(
            body["blocks"][3]["elements"][0]["text"],
            "`&lt;!channel&gt; &lt;@U024BE7LH&gt; &lt;https://evil.example|官网&gt; *粗* _斜_ ~删~ 'c' &amp; co_op`"
        );
        assert!(!body["text"].as_str().unwrap().contains('<'), "nor in the fallback");
    }

    #[test]
    fn long_text_is_split_into_sections_of_at_most_3000_characters() {
        let line = "供".repeat(1000);
        let text = [line.as_str(); 7].join("\n");
        let pieces = sections(&text, MAX_SECTION_CHARS);
        assert_eq!(
            pieces.len(),
            4,
            "two lines of 1,000 (and a newline) fit a section, three do not"
        );
        assert!(pieces.iter().all(|p| p.chars().count() <= MAX_SECTION_CHARS));
        assert_eq!(pieces.join("\n"), text, "nothing lost");
        let one_long_line = "x".repeat(5000);
        let pieces = sections(&one_long_line, MAX_SECTION_CHARS);
        assert_eq!(pieces.len(), 1);
        assert_eq!(pieces[0].chars().count(), MAX_SECTION_CHARS);
        assert!(pieces[0].ends_with('…'));
    }

    #[test]
    fn slack_answers_ok_when_it_took_the_message() {
        assert_eq!(Slack.judge(b"ok"), Ok(()));
        assert!(matches!(Slack.judge(b"invalid_blocks"), Err(SendError::ErrCode { .. })));
    }
}
