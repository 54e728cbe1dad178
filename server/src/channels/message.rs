//! A notification as every channel receives it: what happened as typed data (one struct per
//! event: the signed webhook's `data`, the custom templates' placeholders) and how it reads as a
//! [`Document`] of blocks, which each channel renders in its own format.
use app::notifications::NotificationKind;
use app::usage::{UsageLevel, UsageWindow};
use chrono::{DateTime, FixedOffset, NaiveDate, SecondsFormat, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::channels::blocks::{Block, Document, Part, TitleStyle, Tone};

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

    /// The title of its messages, as the specification writes it.
    pub fn title(self) -> &'static str {
        match self {
            Event::CircuitBreakerOpened => "供应商熔断告警",
            Event::CircuitBreakerClosed => "供应商熔断恢复",
            Event::DailyLeaderboard => "今日用户消费排行榜",
            Event::CostAlert => "成本预警提醒",
            Event::ConnectionTest => "测试消息",
        }
    }

    /// How its messages look: a card's or an embed's colour.
    pub fn tone(self) -> Tone {
        match self {
            Event::CircuitBreakerOpened => Tone::Alert,
            Event::CostAlert => Tone::Warning,
            Event::CircuitBreakerClosed | Event::ConnectionTest => Tone::Good,
            Event::DailyLeaderboard => Tone::Info,
        }
    }

    /// The fields of its `data` (which are also a custom template's placeholders), read off its
    /// data's struct.
    pub fn fields(self) -> &'static [&'static str] {
        use serde_aux::serde_introspection::serde_introspect as fields_of;
        match self {
            Event::CircuitBreakerOpened => fields_of::<CircuitBreakerOpened>(),
            Event::CircuitBreakerClosed => fields_of::<CircuitBreakerClosed>(),
            Event::DailyLeaderboard => fields_of::<DailyLeaderboardPublished>(),
            Event::CostAlert => fields_of::<CostAlertTriggered>(),
            Event::ConnectionTest => fields_of::<ConnectionTest>(),
        }
    }
}

/// `circuitBreaker.opened`. Times are RFC 3339 in `APP_TIMEZONE`'s offset.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CircuitBreakerOpened {
    pub provider_id: i64,
    /// The id its gateway gives it, for a provider a connected gateway reports: the message
    /// shows it in place of `providerId`, which is Hub Notify's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_ref: Option<String>,
    pub provider_name: String,
    pub failure_count: u32,
    pub recovers_at: DateTime<FixedOffset>,
    /// The last failure's text, on one line and cut as the message shows it.
    pub last_error: Option<String>,
}

/// `circuitBreaker.closed`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CircuitBreakerClosed {
    pub provider_id: i64,
    /// The id its gateway gives it, for a provider a connected gateway reports: the message
    /// shows it in place of `providerId`, which is Hub Notify's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_ref: Option<String>,
    pub provider_name: String,
    pub opened_at: DateTime<FixedOffset>,
    pub open_seconds: i64,
}

/// One user of a leaderboard. Amounts are strings of 4 decimals: no float rounds them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LeaderboardRank {
    pub rank: usize,
    pub user_id: i64,
    /// The id its gateway gives the user, for a user a connected gateway reports: the message
    /// shows it in place of `userId`, which is Hub Notify's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_ref: Option<String>,
    pub user_name: String,
    pub cost_usd: String,
    pub requests: i64,
    pub tokens: i64,
}

/// `dailyLeaderboard.published`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DailyLeaderboardPublished {
    pub date: NaiveDate,
    pub entries: Vec<LeaderboardRank>,
    pub total_requests: i64,
    pub total_cost_usd: String,
}

/// Whose spending an alert is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum EntityType {
    User,
    Key,
    Provider,
}

/// One cost alert (an entry of `alerts`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CostAlertEntry {
    pub entity_type: EntityType,
    pub name: String,
    /// The key's owner, for a key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    pub window: UsageWindow,
    pub window_label: String,
    pub current_usd: String,
    pub limit_usd: String,
    /// One decimal; `null` for a limit that is not positive.
    pub usage_percent: Option<f64>,
    pub level: UsageLevel,
    pub remaining_usd: String,
}

/// `costAlert.triggered`: the alerts of one check sent together.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CostAlertTriggered {
    pub count: usize,
    pub alerts: Vec<CostAlertEntry>,
}

/// `test.connection`: no data.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ConnectionTest {}

/// What happened, with its data.
#[derive(Clone, Debug, PartialEq)]
pub enum EventData {
    CircuitBreakerOpened(CircuitBreakerOpened),
    CircuitBreakerClosed(CircuitBreakerClosed),
    DailyLeaderboard(DailyLeaderboardPublished),
    CostAlert(CostAlertTriggered),
    ConnectionTest(ConnectionTest),
    /// An outbox row raised before messages carried their data: known by its event alone.
    Unrecorded(Event),
}

impl EventData {
    pub fn event(&self) -> Event {
        match self {
            EventData::CircuitBreakerOpened(_) => Event::CircuitBreakerOpened,
            EventData::CircuitBreakerClosed(_) => Event::CircuitBreakerClosed,
            EventData::DailyLeaderboard(_) => Event::DailyLeaderboard,
            EventData::CostAlert(_) => Event::CostAlert,
            EventData::ConnectionTest(_) => Event::ConnectionTest,
            EventData::Unrecorded(event) => *event,
        }
    }

    /// The data as the signed webhook's `data` sends it: an object of [`Event::fields`].
    pub fn to_map(&self) -> Map<String, Value> {
        let value = match self {
            EventData::CircuitBreakerOpened(d) => serde_json::to_value(d),
            EventData::CircuitBreakerClosed(d) => serde_json::to_value(d),
            EventData::DailyLeaderboard(d) => serde_json::to_value(d),
            EventData::CostAlert(d) => serde_json::to_value(d),
            EventData::ConnectionTest(d) => serde_json::to_value(d),
            EventData::Unrecorded(_) => Ok(Value::Object(Map::new())),
        };
        match value.expect("event data serializes") {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    /// The data of `event` as [`EventData::to_map`] wrote it.
    pub fn from_value(event: Event, data: Value) -> Result<EventData, serde_json::Error> {
        fn parse<T: DeserializeOwned>(data: Value) -> Result<T, serde_json::Error> {
            serde_json::from_value(data)
        }
        Ok(match event {
            Event::CircuitBreakerOpened => EventData::CircuitBreakerOpened(parse(data)?),
            Event::CircuitBreakerClosed => EventData::CircuitBreakerClosed(parse(data)?),
            Event::DailyLeaderboard => EventData::DailyLeaderboard(parse(data)?),
            Event::CostAlert => EventData::CostAlert(parse(data)?),
            Event::ConnectionTest => EventData::ConnectionTest(parse(data)?),
        })
    }
}

/// The one timestamp format of every message (`2025-01-15 14:00:00`), in `APP_TIMEZONE`.
pub const TIME_FORMAT: &str = "%Y-%m-%d %H:%M:%S";

/// One notification's message.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    pub data: EventData,
    pub document: Document,
    /// The time the message states (its last line), in `APP_TIMEZONE`.
    pub at: DateTime<FixedOffset>,
    /// A target test's sample rather than a real event.
    pub test: bool,
}

/// How the outbox keeps a message (`notification_deliveries.event`), beside its WeCom text.
#[derive(Serialize, Deserialize)]
struct Record {
    #[serde(rename = "type")]
    event: Event,
    at: DateTime<FixedOffset>,
    #[serde(default)]
    data: Value,
    #[serde(default)]
    test: bool,
    /// Absent in rows raised before messages were blocks.
    #[serde(default)]
    document: Option<Document>,
}

impl Message {
    pub fn new(data: EventData, document: Document, at: DateTime<FixedOffset>) -> Self {
        Message {
            data,
            document,
            at,
            test: false,
        }
    }

    /// A message of plain lines under its event's title, for rows stored before messages were
    /// blocks (whose stored text's first line is the title) and for tests of delivery paths.
    pub fn plain(event: Event, lines: &[&str], at: DateTime<FixedOffset>) -> Self {
        Message::of_blocks(event, lines.iter().map(|l| Block::text(*l)).collect(), Vec::new(), at)
    }

    /// A message of one part under its event's title, without data (tests of how channels
    /// render blocks).
    pub fn of_blocks(event: Event, body: Vec<Block>, footer: Vec<Block>, at: DateTime<FixedOffset>) -> Self {
        let part = Part {
            title: event.title().to_owned(),
            title_style: TitleStyle::Heading,
            body,
            footer,
        };
        Message::new(EventData::Unrecorded(event), Document::single(part), at)
    }

    pub fn event(&self) -> Event {
        self.data.event()
    }

    /// What the outbox stores beside the WeCom text.
    pub fn record(&self) -> Value {
        serde_json::to_value(Record {
            event: self.event(),
            at: self.at,
            data: Value::Object(self.data.to_map()),
            test: self.test,
            document: Some(self.document.clone()),
        })
        .expect("a message record serializes")
    }

    /// The message of an outbox row: its record, or for rows older than records (or than
    /// blocks) its stored text as plain lines.
    pub fn from_record(kind: NotificationKind, text: &str, record: Option<Value>, created_at: DateTime<Utc>) -> Self {
        let record = record.and_then(|r| serde_json::from_value::<Record>(r).ok());
        let lines: Vec<&str> = text.split('\n').skip(1).collect();
        match record {
            Some(Record {
                event,
                at,
                data,
                test,
                document,
            }) => {
                let data = EventData::from_value(event, data).unwrap_or(EventData::Unrecorded(event));
                let mut message = match document {
                    Some(document) => Message::new(data, document, at),
                    None => Message {
                        data,
                        ..Message::plain(event, &lines, at)
                    },
                };
                message.test = test;
                message
            }
            None => {
                let event = match kind {
                    NotificationKind::CircuitBreaker if text.starts_with("## 供应商熔断恢复") => {
                        Event::CircuitBreakerClosed
                    }
                    NotificationKind::CircuitBreaker => Event::CircuitBreakerOpened,
                    NotificationKind::DailyLeaderboard => Event::DailyLeaderboard,
                    NotificationKind::CostAlert => Event::CostAlert,
                };
                Message::plain(event, &lines, created_at.fixed_offset())
            }
        }
    }

    /// The title, as platforms with a title of their own show it.
    pub fn title(&self) -> &str {
        self.document.title()
    }

    /// The message as plain text.
    pub fn text(&self) -> String {
        self.document.plain_text()
    }

    /// The time as messages write it (`2025-01-15 14:00:00`).
    pub fn local_time(&self) -> String {
        self.at.format(TIME_FORMAT).to_string()
    }

    /// RFC 3339 in UTC.
    pub fn timestamp(&self) -> String {
        self.at.to_utc().to_rfc3339_opts(SecondsFormat::Secs, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channels::blocks::Inline;
    use chrono::TimeZone;

    fn at() -> DateTime<FixedOffset> {
        FixedOffset::east_opt(8 * 3600)
            .unwrap()
            .with_ymd_and_hms(2025, 1, 15, 14, 0, 0)
            .unwrap()
    }

    fn breaker() -> Message {
        let data = EventData::CircuitBreakerOpened(CircuitBreakerOpened {
            provider_id: 1,
            provider_ref: None,
            provider_name: "p".into(),
            failure_count: 5,
            recovers_at: at(),
            last_error: None,
        });
        let part = Part {
            title: "供应商熔断告警".into(),
            title_style: TitleStyle::Heading,
            body: vec![Block::quote(vec![Inline::text("x")])],
            footer: vec![Block::text("t")],
        };
        Message::new(data, Document::single(part), at())
    }

    #[test]
    fn a_record_round_trips_and_old_rows_are_known_by_kind() {
        let m = breaker();
        let back = Message::from_record(
            NotificationKind::CircuitBreaker,
            "ignored",
            Some(m.record()),
            Utc::now(),
        );
        assert_eq!(back, m);
        let old = Message::from_record(
            NotificationKind::CircuitBreaker,
            "## 供应商熔断恢复\n> y",
            None,
            at().to_utc(),
        );
        assert_eq!(old.event(), Event::CircuitBreakerClosed);
        assert_eq!(old.timestamp(), "2025-01-15T06:00:00Z");
        assert_eq!(old.text(), "供应商熔断恢复\n> y");
        assert!(old.data.to_map().is_empty());
    }

    #[test]
    fn fields_are_read_off_the_data_structs() {
        assert_eq!(
            Event::CircuitBreakerOpened.fields(),
            [
                "providerId",
                "providerRef",
                "providerName",
                "failureCount",
                "recoversAt",
                "lastError"
            ]
        );
        assert_eq!(Event::CostAlert.fields(), ["count", "alerts"]);
        assert!(Event::ConnectionTest.fields().is_empty());
    }
}
