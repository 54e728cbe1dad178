//! WeCom (企业微信) group robots: everything particular to them. The body is the markdown
//! message `{"msgtype":"markdown","markdown":{"content":…}}` with content of at most 4,096 bytes;
//! a 2xx answer succeeds when it has no `errcode` or `errcode` 0; the robot's key sits in the
//! URL's query, so what a robot says back is masked by query value; a robot takes 20 messages a
//! minute.
//!
//! The markdown is the specification's text: a part's title as a `## ` heading (a note's in bold),
//! its lead quoted, headings in bold, the footer after `---`, parts apart by a blank line. WeCom's
//! markdown has no escapes, so outside text gets full-width look-alikes for the characters that
//! would open bold, code, a link, a mention (`<@userid>`) or a font tag.
use std::borrow::Cow;
use std::time::Duration;

use serde_json::json;

use crate::channels::blocks::{
    code_look_alikes, markdown_look_alikes, Dialect, Part, TitleStyle, PART_SEPARATOR, RULE,
};
use crate::channels::error::SendError;
use crate::channels::message::Message;

use crate::channels::refusal;
use crate::channels::targets::Destination;
use crate::channels::{cut_to_bytes, mask_all, Channel, Envelope, Outgoing};
use crate::platform::config::RateLimit;

/// WeCom's limit on markdown content, in bytes of UTF-8.
pub const MAX_CONTENT_BYTES: usize = 4096;
/// Appended where content was cut to fit.
pub const TRUNCATION_MARKER: &str = "\n\n…(内容过长,已截断)";
/// A WeCom robot takes 20 messages a minute and answers the 21st with errcode 45009.
pub const WECOM_SEND_BUDGET: RateLimit = RateLimit {
    sends: 20,
    window: Duration::from_secs(60),
};
/// WeCom's answer to a robot over its 20 a minute.
pub const THROTTLED: i64 = 45009;
/// The WeCom channel.
#[derive(Clone, Copy, Debug, Default)]
pub struct WeCom;

impl Channel for WeCom {
    fn outgoing(&self, to: &Destination, message: &Message, _: &Envelope) -> Result<Outgoing, SendError> {
        let content = markdown(message);
        Outgoing::to_webhook(
            to,
            json!({ "msgtype": "markdown", "markdown": { "content": fit_content(&content) } }),
        )
    }

    fn judge(&self, answer: &[u8]) -> Result<(), SendError> {
        judge_body(answer)
    }

    fn send_budget(&self) -> Option<RateLimit> {
        Some(WECOM_SEND_BUDGET)
    }

    fn mask_secrets(&self, text: String, to: &Destination) -> String {
        mask_all(text, to.webhook_url(), &[])
    }
}

/// WeCom's markdown has nothing beyond the common marks (its `<font>` and `<@userid>` are tags).
fn escape(text: &str) -> String {
    markdown_look_alikes(text, &[])
}

/// WeCom's markdown, which DingTalk's is also written in (with its own escaping).
pub const DIALECT: Dialect = Dialect {
    escape,
    escape_code: code_look_alikes,
    bold: ("**", "**"),
    code: ("`", "`"),
    quote: "> ",
    rule: RULE,
};

/// A part's lines in `dialect`: the title, the body, and the footer after the rule.
pub fn part_lines(dialect: &Dialect, part: &Part) -> Vec<String> {
    let title = (dialect.escape)(&part.title);
    let mut lines = vec![match part.title_style {
        TitleStyle::Heading => format!("## {title}"),
        TitleStyle::Bold => format!("{}{title}{}", dialect.bold.0, dialect.bold.1),
    }];
    lines.extend(part.body.iter().map(|b| dialect.block(b)));
    if !part.footer.is_empty() {
        lines.push(RULE.to_owned());
        lines.extend(part.footer.iter().map(|b| dialect.block(b)));
    }
    lines
}

/// The specification's text of a message: WeCom's markdown content, before the cut to its limit.
pub fn markdown(message: &Message) -> String {
    message
        .document
        .parts
        .iter()
        .map(|part| part_lines(&DIALECT, part).join("\n"))
        .collect::<Vec<_>>()
        .join(PART_SEPARATOR)
}

/// Cuts content to WeCom's limit on a character boundary, with a visible marker.
pub fn fit_content(content: &str) -> Cow<'_, str> {
    cut_to_bytes(content, MAX_CONTENT_BYTES, TRUNCATION_MARKER)
}

/// A 2xx answer: JSON with a non-zero `errcode` is a failure; anything else is success.
fn judge_body(bytes: &[u8]) -> Result<(), SendError> {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return Ok(());
    };
    match value.get("errcode") {
        None => Ok(()),
        Some(code) => match code.as_i64() {
            Some(0) => Ok(()),
            Some(THROTTLED) => Err(SendError::Throttled { retry_after: None }),
            other => Err(refusal(other, value.get("errmsg"))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channels::blocks::{Block, Inline};
    use crate::channels::message::Event;

    /// A provider name written in WeCom's own syntaxes: a mention, a link, bold, code, a font tag.
    #[test]
    fn outside_text_cannot_mention_link_or_add_markup() {
        let name = "<@all> [官网](https://evil.example) **粗** `c` <font color=\"warning\">x</font>";
        let m = Message::of_blocks(
            Event::CircuitBreakerOpened,
            vec![
                Block::quote(vec![Inline::text("供应商 "), Inline::bold(name)]),
                Block::line(vec![Inline::code(name)]),
            ],
            Vec::new(),
            chrono::Utc::now().fixed_offset(),
        );
        let text = markdown(&m);
        assert_eq!(
            text,
            "## 供应商熔断告警\n\
             > 供应商 **＜@all＞ ［官网］(https://evil.example) ＊＊粗＊＊ 'c' ＜font color=\"warning\"＞x＜/font＞**\n\
             `＜@all＞ [官网](https://evil.example) **粗** 'c' ＜font color=\"warning\"＞x＜/font＞`",
            "in code only a backtick and tags are markup"
        );
    }

    #[test]
    fn query_values_of_the_url_are_masked_in_what_a_receiver_says() {
        let url = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=ab%2Fcd-1234&debug=1";
        assert_eq!(
            mask_all("bad key ab%2Fcd-1234 (ab/cd-1234), debug=1".into(), Some(url), &[]),
            "bad key *** (***), debug=1"
        );
        assert_eq!(mask_all("no query".into(), Some("https://h/x"), &[]), "no query");
    }

    #[test]
    fn short_content_is_untouched() {
        assert_eq!(fit_content("hello"), "hello");
        let exact = "a".repeat(MAX_CONTENT_BYTES);
        assert_eq!(fit_content(&exact).len(), MAX_CONTENT_BYTES);
    }

    #[test]
    fn long_content_is_cut_on_a_char_boundary_with_a_marker() {
        let long = "供应商熔断".repeat(1000); // 3 bytes a character
        let cut = fit_content(&long);
        assert!(cut.len() <= MAX_CONTENT_BYTES, "{}", cut.len());
        assert!(cut.ends_with(TRUNCATION_MARKER));
        assert!(cut.len() > MAX_CONTENT_BYTES - 8, "cut no more than needed");
    }

    #[test]
    fn body_judgement() {
        assert_eq!(judge_body(br#"{"errcode":0,"errmsg":"ok"}"#), Ok(()));
        assert_eq!(judge_body(b"not json"), Ok(()));
        assert_eq!(judge_body(b""), Ok(()));
        assert_eq!(judge_body(br#"{"ok":true}"#), Ok(()));
        assert_eq!(
            judge_body(br#"{"errcode":93000,"errmsg":"invalid webhook url"}"#),
            Err(SendError::ErrCode {
                errcode: 93000,
                errmsg: "invalid webhook url".into()
            })
        );
        assert_eq!(
            judge_body(br#"{"errcode":"x"}"#),
            Err(SendError::ErrCode {
                errcode: -1,
                errmsg: String::new()
            })
        );
    }
}
