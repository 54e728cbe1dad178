//! Slack incoming webhooks: everything particular to them. A message is `text` (the fallback
//! notifications and old clients show) and `blocks`: the heading as a header block, the lines as
//! mrkdwn sections of at most 3,000 characters, the footer as context after a divider. Slack
//! answers HTTP 200 with the body `ok`; a webhook takes about one message a second and answers
//! more with HTTP 429 and `Retry-After`. The URL's last path segment is its secret.
use std::time::Duration;

use serde_json::{json, Value};

use crate::channels::message::Message;
use crate::channels::sender::SendError;
use crate::channels::targets::Destination;
use crate::channels::{cut_to_chars, heading_and_rest, last_path_segment, mask_all, Channel, Envelope, Outgoing};
use crate::platform::config::RateLimit;

/// Slack's limit on a section's text, in characters.
pub const MAX_SECTION_CHARS: usize = 3000;
/// Slack's limit on a header's text, in characters.
pub const MAX_HEADER_CHARS: usize = 150;
/// Sections of one message: Slack takes 50 blocks, three are header, divider and context.
const MAX_SECTIONS: usize = 40;
pub const TRUNCATION_MARKER: &str = "\n…(内容过长,已截断)";
pub const SEND_BUDGET: RateLimit = RateLimit {
    sends: 1,
    window: Duration::from_secs(1),
};

/// The Slack channel.
#[derive(Clone, Copy, Debug, Default)]
pub struct Slack;

/// Slack's mrkdwn of the specification's markdown: `**bold**` is `*bold*`; quotes, inline code
/// and line breaks read the same.
pub fn mrkdwn(text: &str) -> String {
    text.replace("**", "*")
}

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
pub fn payload(content: &str) -> Value {
    let (title, rest) = heading_and_rest(content);
    let (body, footer) = match rest.rsplit_once("\n---\n") {
        Some((body, footer)) => (body, Some(footer)),
        None => (rest, None),
    };
    let mut blocks = vec![json!({
        "type": "header",
        "text": {"type": "plain_text", "text": cut_to_chars(title, MAX_HEADER_CHARS, "…"), "emoji": true}
    })];
    for section in sections(&mrkdwn(body), MAX_SECTION_CHARS) {
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": section}}));
    }
    if let Some(footer) = footer {
        blocks.push(json!({"type": "divider"}));
        blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": cut_to_chars(&mrkdwn(footer), MAX_SECTION_CHARS, "…")}]}));
    }
    // The fallback: what a notification or an old client shows, without the marks.
    let text = cut_to_chars(&mrkdwn(content).replace("## ", ""), MAX_SECTION_CHARS, "…").into_owned();
    json!({"text": text, "blocks": blocks})
}

impl Channel for Slack {
    fn outgoing(&self, to: &Destination, message: &Message, _: &Envelope) -> Result<Outgoing, SendError> {
        let content = message.markdown.as_str();
        Outgoing::to_webhook(&to.secrets, payload(content))
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
        mask_all(text, None, &[last_path_segment(to.secrets.webhook_url.as_deref())])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
