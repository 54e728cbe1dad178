//! A notification as every channel renders it: the specification's markdown (WeCom's body, byte
//! for byte, and the source of every chat platform's layout) beside the same facts as data (the
//! `webhook` event's `data`, the `custom` template's placeholders).
use app::notifications::NotificationKind;
use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::channels::heading_and_rest;

/// What happened, as the `webhook` event's `type` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Event {
    #[serde(rename = "circuitBreaker.opened")]
    CircuitBreakerOpened,
    #[serde(rename = "circuitBreaker.closed")]
    CircuitBreakerClosed,
    #[serde(rename = "dailyLeaderboard.published")]
    DailyLeaderboard,
    #[serde(rename = "costAlert.triggered")]
    CostAlert,
    /// 测试连接 of the settings page.
    #[serde(rename = "test.connection")]
    ConnectionTest,
}

/// The placeholders of every message, whatever its kind.
pub const COMMON_FIELDS: [&str; 8] = ["type", "kind", "title", "text", "markdown", "time", "timestamp", "test"];

impl Event {
    pub const ALL: [Event; 5] = [
        Event::CircuitBreakerOpened,
        Event::CircuitBreakerClosed,
        Event::DailyLeaderboard,
        Event::CostAlert,
        Event::ConnectionTest,
    ];

    pub fn key(self) -> &'static str {
        match self {
            Event::CircuitBreakerOpened => "circuitBreaker.opened",
            Event::CircuitBreakerClosed => "circuitBreaker.closed",
            Event::DailyLeaderboard => "dailyLeaderboard.published",
            Event::CostAlert => "costAlert.triggered",
            Event::ConnectionTest => "test.connection",
        }
    }

    /// The notification kind it belongs to (a connection test belongs to none).
    pub fn kind(self) -> Option<NotificationKind> {
        match self {
            Event::CircuitBreakerOpened | Event::CircuitBreakerClosed => Some(NotificationKind::CircuitBreaker),
            Event::DailyLeaderboard => Some(NotificationKind::DailyLeaderboard),
            Event::CostAlert => Some(NotificationKind::CostAlert),
            Event::ConnectionTest => None,
        }
    }

    /// The fields of its `data`, which are also its placeholders (besides [`COMMON_FIELDS`]).
    /// A cost alert's placeholders also name the first alert's fields ([`COST_ALERT_FIELDS`]).
    pub fn fields(self) -> &'static [&'static str] {
        match self {
            Event::CircuitBreakerOpened => &["providerId", "providerName", "failureCount", "recoversAt", "lastError"],
            Event::CircuitBreakerClosed => &["providerId", "providerName", "openedAt", "openSeconds"],
            Event::DailyLeaderboard => &["date", "entries", "totalRequests", "totalCostUsd"],
            Event::CostAlert => &["count", "alerts"],
            Event::ConnectionTest => &[],
        }
    }
}

/// The fields of one cost alert (an entry of `alerts`).
pub const COST_ALERT_FIELDS: [&str; 9] = [
    "entityType",
    "name",
    "window",
    "windowLabel",
    "currentUsd",
    "limitUsd",
    "usagePercent",
    "level",
    "remainingUsd",
];

/// Every placeholder a custom template may name: a target may receive any kind.
pub fn known_placeholders() -> Vec<&'static str> {
    let mut known: Vec<&'static str> = COMMON_FIELDS.to_vec();
    for event in Event::ALL {
        known.extend_from_slice(event.fields());
    }
    known.extend_from_slice(&COST_ALERT_FIELDS);
    known.sort_unstable();
    known.dedup();
    known
}

/// One notification's message.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    pub event: Event,
    /// The specification's text: WeCom's body as is.
    pub markdown: String,
    pub data: Map<String, Value>,
    /// The time the message states (its last line), in `APP_TIMEZONE`.
    pub at: DateTime<FixedOffset>,
    /// A target test's sample rather than a real event.
    pub test: bool,
}

/// How the outbox keeps a message beside its markdown (`notification_deliveries.event`).
#[derive(Serialize, Deserialize)]
struct Record {
    #[serde(rename = "type")]
    event: Event,
    at: DateTime<FixedOffset>,
    #[serde(default)]
    data: Map<String, Value>,
    #[serde(default)]
    test: bool,
}

impl Message {
    pub fn new(event: Event, markdown: String, data: Map<String, Value>, at: DateTime<FixedOffset>) -> Self {
        Message {
            event,
            markdown,
            data,
            at,
            test: false,
        }
    }

    /// A message known only by its markdown (rows raised before messages carried data).
    pub fn from_markdown(kind: NotificationKind, markdown: String, at: DateTime<FixedOffset>) -> Self {
        let event = match kind {
            NotificationKind::CircuitBreaker if markdown.starts_with("## 供应商熔断恢复") => {
                Event::CircuitBreakerClosed
            }
            NotificationKind::CircuitBreaker => Event::CircuitBreakerOpened,
            NotificationKind::DailyLeaderboard => Event::DailyLeaderboard,
            NotificationKind::CostAlert => Event::CostAlert,
        };
        Message::new(event, markdown, Map::new(), at)
    }

    /// What the outbox stores beside the markdown.
    pub fn record(&self) -> Value {
        serde_json::to_value(Record {
            event: self.event,
            at: self.at,
            data: self.data.clone(),
            test: self.test,
        })
        .expect("a message record serializes")
    }

    /// The message of an outbox row: its markdown and record (`None` for rows older than
    /// records, known by kind and time alone).
    pub fn from_record(
        kind: NotificationKind,
        markdown: String,
        record: Option<Value>,
        created_at: DateTime<Utc>,
    ) -> Self {
        match record.and_then(|r| serde_json::from_value::<Record>(r).ok()) {
            Some(r) => Message {
                event: r.event,
                markdown,
                data: r.data,
                at: r.at,
                test: r.test,
            },
            None => Message::from_markdown(kind, markdown, created_at.fixed_offset()),
        }
    }

    /// The heading (`供应商熔断告警`), as platforms with a title of their own show it.
    pub fn title(&self) -> &str {
        heading_and_rest(&self.markdown).0
    }

    /// The markdown as plain text: no heading marks, quote marks, bold or code marks.
    pub fn text(&self) -> String {
        self.markdown
            .lines()
            .map(|line| {
                let line = line.strip_prefix("## ").unwrap_or(line);
                let line = line.strip_prefix("> ").unwrap_or(line);
                line.replace("**", "").replace('`', "")
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The time as messages write it (`2025-01-15 14:00:00`).
    pub fn local_time(&self) -> String {
        self.at.format("%Y-%m-%d %H:%M:%S").to_string()
    }

    /// RFC 3339 in UTC.
    pub fn timestamp(&self) -> String {
        self.at.to_utc().to_rfc3339_opts(SecondsFormat::Secs, true)
    }

    /// The values of a custom template's placeholders.
    pub fn placeholders(&self) -> Map<String, Value> {
        let mut fields = Map::new();
        fields.insert("type".into(), self.event.key().into());
        fields.insert("kind".into(), self.event.kind().map_or(Value::Null, |k| k.key().into()));
        fields.insert("title".into(), self.title().into());
        fields.insert("text".into(), self.text().into());
        fields.insert("markdown".into(), self.markdown.clone().into());
        fields.insert("time".into(), self.local_time().into());
        fields.insert("timestamp".into(), self.timestamp().into());
        fields.insert("test".into(), self.test.into());
        if let Some(Value::Object(first)) = self
            .data
            .get("alerts")
            .and_then(Value::as_array)
            .and_then(|alerts| alerts.first())
        {
            fields.extend(first.clone());
        }
        fields.extend(self.data.clone());
        fields
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at() -> DateTime<FixedOffset> {
        FixedOffset::east_opt(8 * 3600)
            .unwrap()
            .with_ymd_and_hms(2025, 1, 15, 14, 0, 0)
            .unwrap()
    }

    #[test]
    fn a_record_round_trips_and_old_rows_are_known_by_kind() {
        let mut data = Map::new();
        data.insert("providerId".into(), 1.into());
        let m = Message::new(Event::CircuitBreakerOpened, "## 供应商熔断告警\n> x".into(), data, at());
        let back = Message::from_record(
            NotificationKind::CircuitBreaker,
            m.markdown.clone(),
            Some(m.record()),
            Utc::now(),
        );
        assert_eq!(back, m);
        let old = Message::from_record(
            NotificationKind::CircuitBreaker,
            "## 供应商熔断恢复\n> y".into(),
            None,
            at().to_utc(),
        );
        assert_eq!(old.event, Event::CircuitBreakerClosed);
        assert_eq!(old.timestamp(), "2025-01-15T06:00:00Z");
        assert!(old.data.is_empty());
    }

    #[test]
    fn placeholders_hold_the_common_fields_the_data_and_the_first_alert() {
        let data = serde_json::json!({"count": 2, "alerts": [{"name": "张三", "level": "yellow"}, {"name": "李四"}]});
        let m = Message::new(
            Event::CostAlert,
            "## 成本预警提醒\n> 用户 **张三** 的消费已达到预警阈值\n使用比例: **85.0%** 🟡\n最后: `x`".into(),
            data.as_object().unwrap().clone(),
            at(),
        );
        let p = m.placeholders();
        assert_eq!(p["type"], "costAlert.triggered");
        assert_eq!(p["kind"], "costAlert");
        assert_eq!(p["title"], "成本预警提醒");
        assert_eq!(
            p["text"],
            "成本预警提醒\n用户 张三 的消费已达到预警阈值\n使用比例: 85.0% 🟡\n最后: x"
        );
        assert_eq!(p["time"], "2025-01-15 14:00:00");
        assert_eq!(p["name"], "张三");
        assert_eq!(p["count"], 2);
        assert_eq!(p["alerts"].as_array().unwrap().len(), 2);
        let known = known_placeholders();
        for key in p.keys() {
            assert!(known.contains(&key.as_str()), "{key}");
        }
    }
}
