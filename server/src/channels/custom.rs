//! Custom templates: the admin's own JSON body, for a receiver no native channel speaks. The
//! template is a JSON object whose string values may hold `{{placeholders}}` (`{{ name }}` with
//! spaces works too); each is replaced by the notification's field of that name. A string that is
//! one placeholder and nothing else takes the field's JSON value as it is (numbers stay numbers,
//! lists stay lists); inside a longer string the field is written as text. Substitution works on
//! the parsed JSON, so a value can never break out of its string. Keys are left as written.
use serde_json::{Map, Value};

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

/// A checked template.
#[derive(Clone, Debug, PartialEq)]
pub struct Template(Map<String, Value>);

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
        let mut problem = None;
        let mut check = |s: &str| {
            if problem.is_some() {
                return;
            }
            match placeholders(s) {
                Err(e) => problem = Some(e),
                Ok(names) => {
                    if let Some(name) = names.into_iter().find(|n| !known.contains(n)) {
                        problem = Some(TemplateError::Unknown {
                            name: name.to_owned(),
                            known: known.join(", "),
                        });
                    }
                }
            }
        };
        map.values().for_each(|v| visit_strings(v, &mut check));
        match problem {
            Some(e) => Err(e),
            None => Ok(Template(map)),
        }
    }

    /// The body for a notification whose fields are `fields`; a field it lacks is empty (or
    /// `null`, as a whole value).
    pub fn render(&self, fields: &Map<String, Value>) -> Value {
        Value::Object(self.0.iter().map(|(k, v)| (k.clone(), substitute(v, fields))).collect())
    }
}

fn visit_strings(value: &Value, f: &mut impl FnMut(&str)) {
    match value {
        Value::String(s) => f(s),
        Value::Array(items) => items.iter().for_each(|v| visit_strings(v, f)),
        Value::Object(map) => map.values().for_each(|v| visit_strings(v, f)),
        _ => {}
    }
}

/// The names of the placeholders in `s`, in order.
fn placeholders(s: &str) -> Result<Vec<&str>, TemplateError> {
    let mut names = Vec::new();
    let mut rest = s;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or_else(|| TemplateError::Unclosed(s.to_owned()))?;
        names.push(after[..end].trim());
        rest = &after[end + 2..];
    }
    Ok(names)
}

fn substitute(value: &Value, fields: &Map<String, Value>) -> Value {
    match value {
        Value::String(s) => substitute_string(s, fields),
        Value::Array(items) => Value::Array(items.iter().map(|v| substitute(v, fields)).collect()),
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), substitute(v, fields))).collect()),
        other => other.clone(),
    }
}

fn substitute_string(s: &str, fields: &Map<String, Value>) -> Value {
    let trimmed = s.trim();
    if let Some(inner) = trimmed.strip_prefix("{{").and_then(|t| t.strip_suffix("}}")) {
        if !inner.contains("{{") && !inner.contains("}}") {
            return fields.get(inner.trim()).cloned().unwrap_or(Value::Null);
        }
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            // Parse refused this; kept as written should it ever get here.
            out.push_str(&rest[start..]);
            return Value::String(out);
        };
        match fields.get(after[..end].trim()) {
            None | Some(Value::Null) => {}
            Some(Value::String(text)) => out.push_str(text),
            Some(other) => out.push_str(&other.to_string()),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Value::String(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
