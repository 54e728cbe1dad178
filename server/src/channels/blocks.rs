//! The layout of a message as every channel receives it: a small block grammar that the kinds
//! build and each channel renders into its own format, escaping the text itself. No channel reads
//! another's markup back: WeCom's markdown (the specification's text) is one rendering among
//! eight, not the source of the others.
//!
//! A [`Document`] is one or more [`Part`]s (several cost alerts of one check travel together,
//! each in its own layout). A part has a title, a body of [`Block`]s and a footer: what the
//! specification writes after its `---`. Text inside the blocks ([`Inline`]) may come from
//! outside (a provider's name, an upstream error): channels escape every inline for their own
//! syntax, so such text can neither mention anyone nor link nor add markup.
use serde::{Deserialize, Serialize};

/// How a message should look, decided by its event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Tone {
    /// Something broke (a circuit opened).
    Alert,
    /// Attention needed (spending near a quota).
    Warning,
    /// Back to normal, or a test that worked.
    Good,
    /// A report.
    Info,
}

/// A run of text in one style.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "style", content = "text", rename_all = "camelCase")]
pub enum Inline {
    Text(String),
    Bold(String),
    /// Verbatim text, such as an upstream error (one line).
    Code(String),
}

impl Inline {
    pub fn text(s: impl Into<String>) -> Inline {
        Inline::Text(s.into())
    }
    pub fn bold(s: impl Into<String>) -> Inline {
        Inline::Bold(s.into())
    }
    pub fn code(s: impl Into<String>) -> Inline {
        Inline::Code(s.into())
    }

    /// The text without its style.
    pub fn as_str(&self) -> &str {
        match self {
            Inline::Text(s) | Inline::Bold(s) | Inline::Code(s) => s,
        }
    }
}

/// One block of a part.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "block", rename_all = "camelCase")]
pub enum Block {
    /// The part's lead sentence, set apart (a quote in markdown).
    Quote { inlines: Vec<Inline> },
    /// A heading inside the part (`详细信息`).
    Heading { text: String },
    /// One line.
    Line { inlines: Vec<Inline> },
    /// Where one part ends and the next begins, in the flattened body of a platform that shows
    /// one title and one footer ([`Document::flattened`]).
    Rule,
}

impl Block {
    pub fn quote(inlines: Vec<Inline>) -> Block {
        Block::Quote { inlines }
    }
    pub fn heading(text: impl Into<String>) -> Block {
        Block::Heading { text: text.into() }
    }
    pub fn line(inlines: Vec<Inline>) -> Block {
        Block::Line { inlines }
    }
    /// A line of plain text.
    pub fn text(text: impl Into<String>) -> Block {
        Block::Line {
            inlines: vec![Inline::text(text)],
        }
    }

    /// The block as plain text (no marks).
    pub fn plain(&self) -> String {
        match self {
            Block::Quote { inlines } | Block::Line { inlines } => inlines.iter().map(Inline::as_str).collect(),
            Block::Heading { text } => text.clone(),
            Block::Rule => RULE.to_owned(),
        }
    }
}

/// Blocks as plain text, one line each: a footer where a platform shows it as plain text.
pub fn plain_lines(blocks: &[Block]) -> String {
    blocks.iter().map(Block::plain).collect::<Vec<_>>().join("\n")
}

/// How plain text and WeCom's markdown write the line between a body and its footer.
pub const RULE: &str = "---";

/// How a part's title is set where a title is a line of the text (WeCom, DingTalk, a fallback).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TitleStyle {
    /// A heading: the alerts and reports.
    #[default]
    Heading,
    /// A bold line: a short note (the specification's 测试消息).
    Bold,
}

/// One message of the specification: title, body, and footer (after its `---`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Part {
    pub title: String,
    #[serde(default)]
    pub title_style: TitleStyle,
    pub body: Vec<Block>,
    /// Empty: no footer, and no rule.
    #[serde(default)]
    pub footer: Vec<Block>,
}

/// The layout of a message: one part, or several sent together.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Document {
    pub parts: Vec<Part>,
}

/// A document as a platform with one title and one footer shows it ([`Document::flattened`]).
pub struct Flat<'a> {
    pub title: &'a str,
    pub title_style: TitleStyle,
    pub body: Vec<Block>,
    pub footer: &'a [Block],
}

/// Between parts, in the text of platforms that show every part whole: a blank line.
pub const PART_SEPARATOR: &str = "\n\n";

impl Document {
    pub fn single(part: Part) -> Document {
        Document { parts: vec![part] }
    }

    /// The first part's title: the message's title where a platform shows one.
    pub fn title(&self) -> &str {
        self.parts.first().map_or("Hub Notify", |p| p.title.as_str())
    }

    /// The document as plain text: titles, lines, the rule, footers; parts apart by a blank line.
    pub fn plain_text(&self) -> String {
        self.parts
            .iter()
            .map(|part| {
                let mut lines = vec![part.title.clone()];
                lines.extend(part.body.iter().map(Block::plain));
                if !part.footer.is_empty() {
                    lines.push(RULE.to_owned());
                    lines.extend(part.footer.iter().map(Block::plain));
                }
                lines.join("\n")
            })
            .collect::<Vec<_>>()
            .join(PART_SEPARATOR)
    }

    /// One title, one body and one footer: the first part's title and body, each later part
    /// after a [`Block::Rule`] with its title as a heading, and the last part's footer; an earlier
    /// footer that differs from the last one stays in the body, so nothing is lost.
    pub fn flattened(&self) -> Flat<'_> {
        let Some((first, rest)) = self.parts.split_first() else {
            return Flat {
                title: self.title(),
                title_style: TitleStyle::Heading,
                body: Vec::new(),
                footer: &[],
            };
        };
        let footer = self.parts.last().map_or(&[][..], |p| p.footer.as_slice());
        let mut body = first.body.clone();
        let mut previous = first;
        for part in rest {
            if previous.footer.as_slice() != footer {
                body.extend(previous.footer.iter().cloned());
            }
            body.push(Block::Rule);
            body.push(Block::heading(part.title.clone()));
            body.extend(part.body.iter().cloned());
            previous = part;
        }
        Flat {
            title: &first.title,
            title_style: first.title_style,
            body,
            footer,
        }
    }
}

/// How a channel's markup writes blocks and inlines: its escaping of text, its bold and code
/// marks, the start of a quoted line. Each channel has its own, in its own file.
pub struct Dialect {
    /// Makes text (which may come from outside) plain text in the markup.
    pub escape: fn(&str) -> String,
    /// Makes text safe inside a code span.
    pub escape_code: fn(&str) -> String,
    pub bold: (&'static str, &'static str),
    pub code: (&'static str, &'static str),
    /// Written before a quoted line's text.
    pub quote: &'static str,
    /// A [`Block::Rule`] as a line.
    pub rule: &'static str,
}

impl Dialect {
    pub fn inline(&self, inline: &Inline) -> String {
        match inline {
            Inline::Text(t) => (self.escape)(t),
            Inline::Bold(t) => format!("{}{}{}", self.bold.0, (self.escape)(t), self.bold.1),
            Inline::Code(t) => format!("{}{}{}", self.code.0, (self.escape_code)(t), self.code.1),
        }
    }

    pub fn inlines(&self, inlines: &[Inline]) -> String {
        inlines.iter().map(|i| self.inline(i)).collect()
    }

    /// A block as one line of the markup.
    pub fn block(&self, block: &Block) -> String {
        match block {
            Block::Quote { inlines } => format!("{}{}", self.quote, self.inlines(inlines)),
            Block::Heading { text } => self.inline(&Inline::Bold(text.clone())),
            Block::Line { inlines } => self.inlines(inlines),
            Block::Rule => self.rule.to_owned(),
        }
    }

    /// Blocks as lines of the markup, one under the other.
    pub fn blocks(&self, blocks: &[Block]) -> String {
        blocks.iter().map(|b| self.block(b)).collect::<Vec<_>>().join("\n")
    }
}

/// `text` with each character of `table` replaced by its replacement: how channels defuse markup
/// that cannot be escaped otherwise (each channel keeps its own table).
pub fn replace_chars(text: &str, table: &[(char, &str)]) -> String {
    replace_from(text, table.iter())
}

/// `text` with each character found in `table` replaced (the first entry for it wins).
fn replace_from<'a>(text: &str, table: impl Iterator<Item = &'a (char, &'a str)> + Clone) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match table.clone().find(|(from, _)| *from == c) {
            Some((_, to)) => out.push_str(to),
            None => out.push(c),
        }
    }
    out
}

/// What a markdown without escapes (WeCom's, DingTalk's, Feishu's) reads as markup — bold,
/// code, a link, a tag or mention — and the full-width look-alike shown instead.
const MARKDOWN_LOOK_ALIKES: [(char, &str); 6] = [
    ('*', "＊"),
    ('`', "'"),
    ('[', "［"),
    (']', "］"),
    ('<', "＜"),
    ('>', "＞"),
];

/// Text for a markdown without escapes: look-alikes for [`MARKDOWN_LOOK_ALIKES`] and for the
/// platform's own `extra` marks.
pub fn markdown_look_alikes(text: &str, extra: &[(char, &str)]) -> String {
    replace_from(text, MARKDOWN_LOOK_ALIKES.iter().chain(extra))
}

/// Code text for a markdown without escapes: look-alikes for what would close the span (a
/// backtick) or open a tag.
pub fn code_look_alikes(text: &str) -> String {
    replace_chars(text, &[('`', "'"), ('<', "＜"), ('>', "＞")])
}

/// `text` with each `_` that could open or close italics — one at a word's edge — as a
/// full-width look-alike (`＿`); one inside a word (`claude_code`) is no markup, and stays.
pub fn edge_underscores(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let word = |i: Option<usize>| i.and_then(|i| chars.get(i)).is_some_and(|c| c.is_alphanumeric());
    chars
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            if c == '_' && !(word(i.checked_sub(1)) && word(Some(i + 1))) {
                '＿'
            } else {
                c
            }
        })
        .collect()
}

/// A zero-width word joiner: put after `@`, it keeps a name from reading as a mention
/// (`@everyone`, `@username`) while it looks the same.
pub const WORD_JOINER: &str = "\u{2060}";

#[cfg(test)]
mod tests {
    use super::*;

    fn part(title: &str, line: &str, footer: &str) -> Part {
        Part {
            title: title.into(),
            title_style: TitleStyle::Heading,
            body: vec![
                Block::quote(vec![Inline::text("a "), Inline::bold("b")]),
                Block::text(line),
            ],
            footer: vec![Block::text(footer)],
        }
    }

    #[test]
    fn plain_text_and_flattening_keep_every_part() {
        let doc = Document {
            parts: vec![part("T", "one", "f1"), part("T", "two", "f2"), part("T", "three", "f2")],
        };
        assert_eq!(doc.parts[0].body[0].plain(), "a b");
        assert_eq!(
            doc.plain_text(),
            "T\na b\none\n---\nf1\n\nT\na b\ntwo\n---\nf2\n\nT\na b\nthree\n---\nf2"
        );
        let flat = doc.flattened();
        assert_eq!(flat.title, "T");
        assert_eq!(flat.footer, &[Block::text("f2")][..]);
        let lines: Vec<String> = flat.body.iter().map(Block::plain).collect();
        assert_eq!(
            lines,
            ["a b", "one", "f1", "---", "T", "a b", "two", "---", "T", "a b", "three"]
        );
    }

    #[test]
    fn only_underscores_at_a_words_edge_are_replaced() {
        assert_eq!(edge_underscores("claude_code 张三_李四"), "claude_code 张三_李四");
        assert_eq!(edge_underscores("_斜_ a _b_c_ __x"), "＿斜＿ a ＿b_c＿ ＿＿x");
    }

    #[test]
    fn a_document_round_trips_through_json() {
        let doc = Document::single(part("T", "x", "y"));
        let json = serde_json::to_value(&doc).unwrap();
        assert_eq!(
            json["parts"][0]["body"][0]["inlines"][1],
            serde_json::json!({"style": "bold", "text": "b"})
        );
        assert_eq!(serde_json::from_value::<Document>(json).unwrap(), doc);
    }
}
