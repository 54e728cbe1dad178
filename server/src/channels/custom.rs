//! Custom templates: the admin's own JSON body, for a receiver no native channel speaks. The
//! template is a JSON object whose string values may hold `{{placeholders}}` (`{{ name }}` with
//! spaces works too); each is replaced by the notification's field of that name. A string that is
//! one placeholder and nothing else takes the field's JSON value as it is (numbers stay numbers,
//! lists stay lists); inside a longer string the field is written as text. Substitution works on
//! the parsed JSON, so a value can never break out of its string. Keys are left as written.
use serde_json::{Map, Value};

use crate::channels::error::SendError;
use crate::channels::message::{CostAlertEntry, Event, Message};
use app::targets::{ChannelConfig, CustomHook};

use crate::channels::targets::{Destination, Secret};
use crate::channels::{json_answer, mask_all, refusal, Channel, Envelope, Outgoing};
use crate::platform::config::RateLimit;

/// The `custom` channel: the admin's template to the admin's URL, with the admin's headers.
#[derive(Clone, Copy, Debug, Default)]
pub struct Custom;

impl Channel for Custom {
    fn outgoing(&self, to: &Destination, message: &Message, _: &Envelope) -> Result<Outgoing, SendError> {
        let hook = hook(to)?;
        let template =
            Template::from_value(hook.template.clone()).map_err(|e| SendError::Request(format!("the template {e}")))?;
        let mut out = Outgoing::to_webhook(to, template.render(&placeholders(message)))?;
        out.headers = hook
            .headers
            .iter()
            .map(|(name, value)| (name.clone(), value.expose().to_owned()))
            .collect();
        Ok(out)
    }

    /// 2xx, and `errcode` 0 when the answer has one (receivers in WeCom's mould).
    fn judge(&self, answer: &[u8]) -> Result<(), SendError> {
        let Ok(value) = json_answer(answer, "the receiver") else {
            return Ok(());
        };
        match value.get("errcode") {
            None => Ok(()),
            Some(code) if code.as_i64() == Some(0) => Ok(()),
            Some(code) => Err(refusal(code.as_i64(), value.get("errmsg"))),
        }
    }

    /// The receiver is the admin's own: no budget unless the target sets one.
    fn send_budget(&self) -> Option<RateLimit> {
        None
    }

    fn mask_secrets(&self, text: String, to: &Destination) -> String {
        let values: Vec<&str> = hook(to)
            .map(|h| h.headers.values().map(Secret::expose).collect())
            .unwrap_or_default();
        mask_all(text, to.webhook_url(), &values)
    }
}

/// The custom config of `to`.
fn hook(to: &Destination) -> Result<&CustomHook<Secret>, SendError> {
    match &to.config {
        ChannelConfig::Custom(hook) => Ok(hook),
        _ => Err(SendError::Request("the target has no template".into())),
    }
}

/// The placeholders of every message, whatever its kind.
pub const COMMON_FIELDS: [&str; 8] = ["type", "kind", "title", "text", "markdown", "time", "timestamp", "test"];

/// Every placeholder a template may name: the common fields, every event's data fields (a target
/// may receive any kind) and, for a cost alert, the first alert's fields.
pub fn known_placeholders() -> Vec<&'static str> {
    let mut known: Vec<&'static str> = COMMON_FIELDS.to_vec();
    for event in Event::ALL {
        known.extend_from_slice(event.fields());
    }
    known.extend_from_slice(serde_aux::serde_introspection::serde_introspect::<CostAlertEntry>());
    known.sort_unstable();
    known.dedup();
    known
}

/// The values of a message's placeholders.
pub fn placeholders(message: &Message) -> Map<String, Value> {
    let event = message.event();
    let data = message.data.to_map();
    let mut fields = Map::new();
    fields.insert("type".into(), event.key().into());
    fields.insert("kind".into(), event.kind().map_or(Value::Null, |k| k.key().into()));
    fields.insert("title".into(), message.title().into());
    fields.insert("text".into(), message.text().into());
    fields.insert("markdown".into(), crate::channels::wecom::markdown(message).into());
    fields.insert("time".into(), message.local_time().into());
    fields.insert("timestamp".into(), message.timestamp().into());
    fields.insert("test".into(), message.test.into());
    if let Some(Value::Object(first)) = data
        .get("alerts")
        .and_then(Value::as_array)
        .and_then(|alerts| alerts.first())
    {
        fields.extend(first.clone());
    }
    fields.extend(data);
    fields
}

/// A template's longest accepted source, in bytes.
pub const MAX_TEMPLATE_BYTES: usize = 16 * 1024;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("is not JSON: {0}")]
    NotJson(String),
    #[error("must be a JSON object")]
    NotAnObject,
    #[error("is longer than {MAX_TEMPLATE_BYTES} bytes")]
    TooLong,
    #[error("has an unclosed {{{{ in {0:?}")]
    Unclosed(String),
    #[error("names an unknown placeholder {{{{{name}}}}} (known: {known})")]
    Unknown { name: String, known: String },
}

/// A checked template, its strings already split into text and placeholders.
#[derive(Clone, Debug, PartialEq)]
pub struct Template(Vec<(String, Node)>);

#[derive(Clone, Debug, PartialEq)]
enum Node {
    /// Anything but a string, and strings without placeholders: sent as written.
    Literal(Value),
    /// A string that is one placeholder (and perhaps spaces): the field's JSON value.
    Whole(String),
    /// A string with text around or between placeholders: the fields written as text.
    Text(Vec<Piece>),
    Array(Vec<Node>),
    Object(Vec<(String, Node)>),
}

#[derive(Clone, Debug, PartialEq)]
enum Piece {
    Text(String),
    Field(String),
}

impl Template {
    /// Parses `source` and checks every placeholder against `known` (the fields every kind
    /// of notification the target may receive has).
    pub fn parse(source: &str, known: &[&str]) -> Result<Template, TemplateError> {
        if source.len() > MAX_TEMPLATE_BYTES {
            return Err(TemplateError::TooLong);
        }
        let value: Value = serde_json::from_str(source).map_err(|e| TemplateError::NotJson(e.to_string()))?;
        let Value::Object(map) = value else {
            return Err(TemplateError::NotAnObject);
        };
        Ok(Template(compile_object(map, known)?))
    }

    /// A template given as JSON (the API's and the settings' form), checked against every
    /// placeholder a notification has.
    pub fn from_value(value: Value) -> Result<Template, TemplateError> {
        let Value::Object(map) = value else {
            return Err(TemplateError::NotAnObject);
        };
        if serde_json::to_vec(&map).map_or(true, |b| b.len() > MAX_TEMPLATE_BYTES) {
            return Err(TemplateError::TooLong);
        }
        Ok(Template(compile_object(map, &known_placeholders())?))
    }

    /// The body for a notification whose fields are `fields`; a field it lacks is empty (or
    /// `null`, as a whole value).
    pub fn render(&self, fields: &Map<String, Value>) -> Value {
        render_object(&self.0, fields)
    }
}

fn compile_object(map: Map<String, Value>, known: &[&str]) -> Result<Vec<(String, Node)>, TemplateError> {
    map.into_iter().map(|(k, v)| Ok((k, compile(v, known)?))).collect()
}

fn compile(value: Value, known: &[&str]) -> Result<Node, TemplateError> {
    Ok(match value {
        Value::String(s) => compile_string(s, known)?,
        Value::Array(items) => Node::Array(items.into_iter().map(|v| compile(v, known)).collect::<Result<_, _>>()?),
        Value::Object(map) => Node::Object(compile_object(map, known)?),
        other => Node::Literal(other),
    })
}

fn compile_string(s: String, known: &[&str]) -> Result<Node, TemplateError> {
    let mut pieces = Vec::new();
    let mut rest = s.as_str();
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or_else(|| TemplateError::Unclosed(s.clone()))?;
        if start > 0 {
            pieces.push(Piece::Text(rest[..start].to_owned()));
        }
        pieces.push(Piece::Field(after[..end].trim().to_owned()));
        rest = &after[end + 2..];
    }
    let unknown = pieces.iter().find_map(|p| match p {
        Piece::Field(name) if !known.contains(&name.as_str()) => Some(name),
        _ => None,
    });
    if let Some(name) = unknown {
        return Err(TemplateError::Unknown {
            name: name.clone(),
            known: known.join(", "),
        });
    }
    if pieces.is_empty() {
        return Ok(Node::Literal(Value::String(s)));
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest.to_owned()));
    }
    let blank = |p: &Piece| matches!(p, Piece::Text(t) if t.trim().is_empty());
    let mut fields = pieces.iter().filter(|p| !blank(p));
    Ok(match (fields.next(), fields.next()) {
        (Some(Piece::Field(name)), None) => Node::Whole(name.clone()),
        _ => Node::Text(pieces),
    })
}

fn render_object(entries: &[(String, Node)], fields: &Map<String, Value>) -> Value {
    Value::Object(entries.iter().map(|(k, n)| (k.clone(), render(n, fields))).collect())
}

fn render(node: &Node, fields: &Map<String, Value>) -> Value {
    match node {
        Node::Literal(value) => value.clone(),
        Node::Whole(name) => fields.get(name).cloned().unwrap_or(Value::Null),
        Node::Text(pieces) => {
            let mut out = String::new();
            for piece in pieces {
                match piece {
                    Piece::Text(text) => out.push_str(text),
                    Piece::Field(name) => match fields.get(name) {
                        None | Some(Value::Null) => {}
                        Some(Value::String(text)) => out.push_str(text),
                        Some(other) => out.push_str(&other.to_string()),
                    },
                }
            }
            Value::String(out)
        }
        Node::Array(items) => Value::Array(items.iter().map(|n| render(n, fields)).collect()),
        Node::Object(entries) => render_object(entries, fields),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn placeholders_hold_the_common_fields_the_data_and_the_first_alert() {
        use crate::channels::blocks::{Block, Document, Inline, Part, TitleStyle};
        use crate::channels::message::{CostAlertTriggered, EntityType, EventData};
        use app::usage::{UsageLevel, UsageWindow};
        use chrono::TimeZone;
        let at = chrono::FixedOffset::east_opt(8 * 3600)
            .unwrap()
            .with_ymd_and_hms(2025, 1, 15, 14, 0, 0)
            .unwrap();
        let entry = |name: &str| CostAlertEntry {
            entity_type: EntityType::User,
            name: name.into(),
            owner: None,
            window: UsageWindow::Week,
            window_label: "本周".into(),
            current_usd: "8.5000".into(),
            limit_usd: "10.0000".into(),
            usage_percent: Some(85.0),
            level: UsageLevel::Yellow,
            remaining_usd: "1.5000".into(),
        };
        let data = EventData::CostAlert(CostAlertTriggered {
            count: 2,
            alerts: vec![entry("张三"), entry("李四")],
        });
        let part = Part {
            title: "成本预警提醒".into(),
            title_style: TitleStyle::Heading,
            body: vec![
                Block::quote(vec![
                    Inline::text("用户 "),
                    Inline::bold("张三"),
                    Inline::text(" 的消费已达到预警阈值"),
                ]),
                Block::line(vec![Inline::text("最后: "), Inline::code("x")]),
            ],
            footer: Vec::new(),
        };
        let m = Message::new(data, Document::single(part), at);
        let p = placeholders(&m);
        assert_eq!(p["type"], "costAlert.triggered");
        assert_eq!(p["kind"], "costAlert");
        assert_eq!(p["title"], "成本预警提醒");
        assert_eq!(p["text"], "成本预警提醒\n用户 张三 的消费已达到预警阈值\n最后: x");
        assert_eq!(p["time"], "2025-01-15 14:00:00");
        assert_eq!(p["name"], "张三");
        assert_eq!(p["level"], "yellow");
        assert_eq!(p["count"], 2);
        assert_eq!(p["alerts"].as_array().unwrap().len(), 2);
        let known = known_placeholders();
        for key in p.keys() {
            assert!(known.contains(&key.as_str()), "{key}");
        }
    }

    const KNOWN: &[&str] = &["title", "providerName", "failureCount", "text", "entries"];

    fn fields() -> Map<String, Value> {
        let Value::Object(map) = json!({
            "title": "供应商 \"A\" 熔断",
            "providerName": "Claude\nMain",
            "failureCount": 5,
            "text": "line 1\nline 2",
            "entries": [{"name": "u1"}],
        }) else {
            unreachable!()
        };
        map
    }

    #[test]
    fn whole_values_keep_their_type_and_text_is_escaped_by_json() {
        let t = Template::parse(
            r#"{"msg_type":"text","count":"{{failureCount}}","list":"{{ entries }}",
                "content":{"text":"{{title}}: {{providerName}} ×{{failureCount}}"},
                "tags":["{{providerName}}", 3, true, null]}"#,
            KNOWN,
        )
        .unwrap();
        let body = t.render(&fields());
        assert_eq!(
            body,
            json!({
                "msg_type": "text",
                "count": 5,
                "list": [{"name": "u1"}],
                "content": {"text": "供应商 \"A\" 熔断: Claude\nMain ×5"},
                "tags": ["Claude\nMain", 3, true, null],
            })
        );
        // Quotes and newlines in values stay inside their strings.
        let text = serde_json::to_string(&body).unwrap();
        assert!(text.contains(r#""供应商 \"A\" 熔断: Claude\nMain ×5""#), "{text}");
    }

    #[test]
    fn fields_a_notification_lacks_are_empty() {
        let t = Template::parse(r#"{"a":"{{title}}","b":"x{{title}}y"}"#, KNOWN).unwrap();
        assert_eq!(t.render(&Map::new()), json!({"a": null, "b": "xy"}));
    }

    #[test]
    fn bad_templates_say_what_is_wrong() {
        assert!(matches!(Template::parse("{", KNOWN), Err(TemplateError::NotJson(_))));
        assert_eq!(
            Template::parse(r#"["{{title}}"]"#, KNOWN),
            Err(TemplateError::NotAnObject)
        );
        assert_eq!(
            Template::parse(r#"{"a":"{{title"}"#, KNOWN),
            Err(TemplateError::Unclosed("{{title".into()))
        );
        let err = Template::parse(r#"{"a":{"b":["{{secret}}"]}}"#, KNOWN).unwrap_err();
        assert_eq!(
            err.to_string(),
            "names an unknown placeholder {{secret}} (known: title, providerName, failureCount, text, entries)"
        );
        let long = format!(r#"{{"a":"{}"}}"#, "x".repeat(MAX_TEMPLATE_BYTES));
        assert_eq!(Template::parse(&long, KNOWN), Err(TemplateError::TooLong));
    }
}
