//! Notification settings (消息推送): the shape shared by the page, the server functions and the
//! REST API, and the one validation all three use.
use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// The three kinds of notification.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum NotificationKind {
    CircuitBreaker,
    DailyLeaderboard,
    CostAlert,
}

impl NotificationKind {
    pub const ALL: [NotificationKind; 3] = [
        NotificationKind::CircuitBreaker,
        NotificationKind::DailyLeaderboard,
        NotificationKind::CostAlert,
    ];

    /// The JSON name (`circuitBreaker`, …), also the prefix of its fields' paths.
    pub fn key(self) -> &'static str {
        match self {
            NotificationKind::CircuitBreaker => "circuitBreaker",
            NotificationKind::DailyLeaderboard => "dailyLeaderboard",
            NotificationKind::CostAlert => "costAlert",
        }
    }

    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.key() == key)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CircuitBreakerSettings {
    pub enabled: bool,
    pub webhook_url: Option<String>,
    /// Every push target the kind goes to, the WeCom target of `webhookUrl` among them. Left
    /// out of a PUT, the kind keeps its targets, the one of `webhookUrl` following the new URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_ids: Option<Vec<i64>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DailyLeaderboardSettings {
    pub enabled: bool,
    pub webhook_url: Option<String>,
    /// Every push target the kind goes to, the WeCom target of `webhookUrl` among them. Left
    /// out of a PUT, the kind keeps its targets, the one of `webhookUrl` following the new URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_ids: Option<Vec<i64>>,
    /// `HH:mm`, in `APP_TIMEZONE`.
    pub time: String,
    pub top_n: i32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CostAlertSettings {
    pub enabled: bool,
    pub webhook_url: Option<String>,
    /// Every push target the kind goes to, the WeCom target of `webhookUrl` among them. Left
    /// out of a PUT, the kind keeps its targets, the one of `webhookUrl` following the new URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_ids: Option<Vec<i64>>,
    pub threshold_percent: i32,
    pub check_interval_minutes: i32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NotificationSettings {
    /// 通知总开关: off pauses every notification and removes the scheduled jobs.
    pub enabled: bool,
    pub circuit_breaker: CircuitBreakerSettings,
    pub daily_leaderboard: DailyLeaderboardSettings,
    pub cost_alert: CostAlertSettings,
}

pub const DEFAULT_LEADERBOARD_TIME: &str = "09:00";
pub const DEFAULT_TOP_N: i32 = 5;
pub const TOP_N_RANGE: (i32, i32) = (1, 20);
pub const DEFAULT_THRESHOLD_PERCENT: i32 = 80;
pub const THRESHOLD_RANGE: (i32, i32) = (50, 100);
pub const DEFAULT_CHECK_INTERVAL_MINUTES: i32 = 60;
pub const CHECK_INTERVAL_RANGE: (i32, i32) = (10, 1440);
pub const MAX_WEBHOOK_URL_LEN: usize = 512;

impl Default for NotificationSettings {
    fn default() -> Self {
        NotificationSettings {
            enabled: false,
            circuit_breaker: CircuitBreakerSettings {
                enabled: false,
                webhook_url: None,
                target_ids: None,
            },
            daily_leaderboard: DailyLeaderboardSettings {
                enabled: false,
                webhook_url: None,
                target_ids: None,
                time: DEFAULT_LEADERBOARD_TIME.into(),
                top_n: DEFAULT_TOP_N,
            },
            cost_alert: CostAlertSettings {
                enabled: false,
                webhook_url: None,
                target_ids: None,
                threshold_percent: DEFAULT_THRESHOLD_PERCENT,
                check_interval_minutes: DEFAULT_CHECK_INTERVAL_MINUTES,
            },
        }
    }
}

impl NotificationSettings {
    pub fn kind_enabled(&self, kind: NotificationKind) -> bool {
        match kind {
            NotificationKind::CircuitBreaker => self.circuit_breaker.enabled,
            NotificationKind::DailyLeaderboard => self.daily_leaderboard.enabled,
            NotificationKind::CostAlert => self.cost_alert.enabled,
        }
    }

    pub fn webhook_url(&self, kind: NotificationKind) -> Option<&str> {
        match kind {
            NotificationKind::CircuitBreaker => self.circuit_breaker.webhook_url.as_deref(),
            NotificationKind::DailyLeaderboard => self.daily_leaderboard.webhook_url.as_deref(),
            NotificationKind::CostAlert => self.cost_alert.webhook_url.as_deref(),
        }
    }

    pub fn target_ids(&self, kind: NotificationKind) -> Option<&[i64]> {
        match kind {
            NotificationKind::CircuitBreaker => self.circuit_breaker.target_ids.as_deref(),
            NotificationKind::DailyLeaderboard => self.daily_leaderboard.target_ids.as_deref(),
            NotificationKind::CostAlert => self.cost_alert.target_ids.as_deref(),
        }
    }

    /// Whether a kind has somewhere to go: a WeCom URL or a bound target.
    pub fn has_targets(&self, kind: NotificationKind) -> bool {
        self.webhook_url(kind).is_some() || self.target_ids(kind).is_some_and(|ids| !ids.is_empty())
    }

    /// Whether a kind should fire: master on, kind on, and somewhere to send it.
    pub fn is_active(&self, kind: NotificationKind) -> bool {
        self.enabled && self.kind_enabled(kind) && self.has_targets(kind)
    }

    /// Trims the text fields and turns blank URLs into `None`.
    pub fn normalized(mut self) -> Self {
        for url in [
            &mut self.circuit_breaker.webhook_url,
            &mut self.daily_leaderboard.webhook_url,
            &mut self.cost_alert.webhook_url,
        ] {
            *url = url.take().map(|u| u.trim().to_owned()).filter(|u| !u.is_empty());
        }
        self.daily_leaderboard.time = self.daily_leaderboard.time.trim().to_owned();
        self
    }

    /// Checks every field; returns one problem per invalid field, keyed by its JSON path
    /// (`costAlert.thresholdPercent`). Webhook URLs are checked for form here; the server adds
    /// its SSRF rules on top through `url_check`.
    pub fn validate(&self, url_check: &dyn Fn(&str) -> Result<(), String>) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::default();
        for kind in NotificationKind::ALL {
            let path = format!("{}.webhookUrl", kind.key());
            match self.webhook_url(kind) {
                None if self.kind_enabled(kind) && !self.has_targets(kind) => {
                    errors.insert(path, FieldProblem::UrlRequired)
                }
                None => {}
                Some(url) => {
                    if let Err(problem) = check_url_form(url) {
                        errors.insert(path, problem);
                    } else if let Err(reason) = url_check(url) {
                        errors.insert(path, FieldProblem::UrlRefused(reason));
                    }
                }
            }
        }
        if parse_time(&self.daily_leaderboard.time).is_none() {
            errors.insert("dailyLeaderboard.time".into(), FieldProblem::TimeFormat);
        }
        let ranges = [
            ("dailyLeaderboard.topN", self.daily_leaderboard.top_n, TOP_N_RANGE),
            (
                "costAlert.thresholdPercent",
                self.cost_alert.threshold_percent,
                THRESHOLD_RANGE,
            ),
            (
                "costAlert.checkIntervalMinutes",
                self.cost_alert.check_interval_minutes,
                CHECK_INTERVAL_RANGE,
            ),
        ];
        for (path, value, (min, max)) in ranges {
            if !(min..=max).contains(&value) {
                errors.insert(path.into(), FieldProblem::OutOfRange { min, max });
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// `HH:mm` with hours 00–23 and minutes 00–59, exactly two digits each.
pub fn parse_time(value: &str) -> Option<(u32, u32)> {
    let (h, m) = value.split_once(':')?;
    if h.len() != 2 || m.len() != 2 || !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some((h, m))
}

/// Form of a webhook URL: http(s), a host, at most 512 characters.
pub fn check_url_form(url: &str) -> Result<(), FieldProblem> {
    if url.chars().count() > MAX_WEBHOOK_URL_LEN {
        return Err(FieldProblem::UrlTooLong {
            max: MAX_WEBHOOK_URL_LEN,
        });
    }
    let lower = url.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
        .ok_or(FieldProblem::UrlScheme)?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() || url.chars().any(char::is_whitespace) {
        return Err(FieldProblem::UrlInvalid);
    }
    Ok(())
}

/// What is wrong with one field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "camelCase")]
pub enum FieldProblem {
    TimeFormat,
    /// Only the page produces this: typed API input is a number or a 400.
    NotANumber,
    OutOfRange {
        min: i32,
        max: i32,
    },
    UrlRequired,
    UrlScheme,
    UrlInvalid,
    UrlTooLong {
        max: usize,
    },
    /// Refused by the SSRF guard; the text says which rule.
    UrlRefused(String),
    /// A URL with its key masked (`***`) that is not the stored one: the whole URL is needed.
    UrlMasked,
    /// A quota: a positive USD amount below 1e10 with at most 4 decimals (or none).
    Amount,
    /// Push target ids that name no target.
    UnknownTargets(Vec<i64>),
    /// A name: 1 to `max` characters.
    NameLength {
        max: usize,
    },
    /// No channel given, and the URL's host names none.
    ChannelRequired,
    /// An edit that changes a target's channel (this one).
    ChannelChanged(String),
    /// A setting this channel does not take (its name).
    NotTaken(String),
    /// A setting the channel needs.
    Required,
    /// Not a bot token as @BotFather gives it.
    BotToken,
    /// Not a chat id (a number, or `@channelusername`).
    ChatId,
    /// A secret with white space in it, or longer than `max`.
    SecretForm {
        max: usize,
    },
    /// A Standard Webhooks signing secret that is not `whsec_` + base64 of 24 to 64 bytes.
    WebhookSecret,
    /// A custom template the server cannot use; the text says why.
    Template(String),
    /// A header name that is not an HTTP token, or one the transport or signature owns.
    HeaderName,
    /// A header value with control characters, or longer than `max`.
    HeaderValue {
        max: usize,
    },
    /// More than `max` entries.
    TooMany {
        max: usize,
    },
    /// Not a proxy URL (`http`, `https`, `socks5` or `socks5h`, a host and a port).
    ProxyUrl,
    /// A send budget outside 1–`max_sends` messages per 1–`max_seconds` seconds.
    Budget {
        max_sends: u32,
        max_seconds: u32,
    },
}

impl fmt::Display for FieldProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldProblem::TimeFormat => f.write_str("must be a time HH:mm (00:00 to 23:59)"),
            FieldProblem::NotANumber => f.write_str("must be a whole number"),
            FieldProblem::OutOfRange { min, max } => write!(f, "must be between {min} and {max}"),
            FieldProblem::UrlRequired => f.write_str("a webhook URL is required while this notification is enabled"),
            FieldProblem::UrlScheme => f.write_str("must start with http:// or https://"),
            FieldProblem::UrlInvalid => f.write_str("is not a valid URL"),
            FieldProblem::UrlTooLong { max } => write!(f, "must be at most {max} characters"),
            FieldProblem::UrlRefused(reason) => write!(f, "not allowed: {reason}"),
            FieldProblem::UrlMasked => f.write_str(
                "holds a masked key (***): send the stored URL back unchanged, or the whole new URL",
            ),
            FieldProblem::Amount => f.write_str("must be null or a positive amount below 1e10 with at most 4 decimals"),
            FieldProblem::UnknownTargets(ids) => write!(f, "no push target has the id {}", join_ids(ids)),
            FieldProblem::NameLength { max } => write!(f, "must be 1 to {max} characters"),
            FieldProblem::ChannelRequired => {
                f.write_str("is required: the URL's host names no platform (wecom, feishu, dingtalk, slack, discord)")
            }
            FieldProblem::NotTaken(channel) => write!(f, "the {channel} channel does not take this setting"),
            FieldProblem::Required => f.write_str("is required for this channel"),
            FieldProblem::BotToken => f.write_str("is not a bot token as @BotFather gives it (123456:ABC…)"),
            FieldProblem::ChatId => f.write_str("must be a chat id (-1001234567890) or @channelusername"),
            FieldProblem::SecretForm { max } => write!(f, "must be at most {max} characters, without spaces"),
            FieldProblem::WebhookSecret => f.write_str("must be whsec_ followed by the base64 of 24 to 64 bytes"),
            FieldProblem::Template(reason) => write!(f, "is not a usable template: {reason}"),
            FieldProblem::HeaderName => f.write_str(
                "is not a header a target may send (an HTTP token, not Host, Content-*, Proxy-*, webhook-* or another the sender sets)",
            ),
            FieldProblem::HeaderValue { max } => {
                write!(f, "must be at most {max} characters, without control characters")
            }
            FieldProblem::TooMany { max } => write!(f, "must have at most {max} entries"),
            FieldProblem::ProxyUrl => f.write_str(
                "must be http://, https://, socks5:// or socks5h:// [user:password@]host:port, nothing after",
            ),
            FieldProblem::Budget { max_sends, max_seconds } => write!(
                f,
                "must be 1 to {max_sends} sends per 1 to {max_seconds} seconds"
            ),
            FieldProblem::ChannelChanged(channel) => {
                write!(
                    f,
                    "a {channel} target stays {channel}: create a new target for another channel"
                )
            }
        }
    }
}

/// `3, 7`.
pub fn join_ids(ids: &[i64]) -> String {
    ids.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")
}

/// Problems by JSON path.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldErrors(pub BTreeMap<String, FieldProblem>);

impl FieldErrors {
    pub fn insert(&mut self, path: String, problem: FieldProblem) {
        self.0.insert(path, problem);
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn get(&self, path: &str) -> Option<&FieldProblem> {
        self.0.get(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn any_url(_: &str) -> Result<(), String> {
        Ok(())
    }

    fn problems(s: &NotificationSettings) -> Vec<(String, FieldProblem)> {
        match s.validate(&any_url) {
            Ok(()) => vec![],
            Err(e) => e.0.into_iter().collect(),
        }
    }

    #[test]
    fn defaults_are_the_spec_defaults_and_valid() {
        let s = NotificationSettings::default();
        assert!(!s.enabled && !s.circuit_breaker.enabled && !s.daily_leaderboard.enabled && !s.cost_alert.enabled);
        assert_eq!(s.daily_leaderboard.time, "09:00");
        assert_eq!(s.daily_leaderboard.top_n, 5);
        assert_eq!(s.cost_alert.threshold_percent, 80);
        assert_eq!(s.cost_alert.check_interval_minutes, 60);
        assert_eq!(problems(&s), vec![]);
    }

    #[test]
    fn json_shape_matches_the_api() {
        let json = serde_json::to_value(NotificationSettings::default()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "enabled": false,
                "circuitBreaker": {"enabled": false, "webhookUrl": null},
                "dailyLeaderboard": {"enabled": false, "webhookUrl": null, "time": "09:00", "topN": 5},
                "costAlert": {"enabled": false, "webhookUrl": null, "thresholdPercent": 80, "checkIntervalMinutes": 60}
            })
        );
    }

    #[test]
    fn time_edges() {
        for ok in ["00:00", "23:59", "09:00", "12:30"] {
            assert!(parse_time(ok).is_some(), "{ok}");
        }
        for bad in [
            "24:00", "23:60", "9:00", "09:0", "0900", "09:00:00", "ab:cd", "", " 09:00", "+9:00", "-1:00",
        ] {
            assert!(parse_time(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn range_edges() {
        let mut s = NotificationSettings::default();
        for (top_n, ok) in [(0, false), (1, true), (20, true), (21, false)] {
            s.daily_leaderboard.top_n = top_n;
            assert_eq!(problems(&s).is_empty(), ok, "topN {top_n}");
        }
        s.daily_leaderboard.top_n = 5;
        for (t, ok) in [(49, false), (50, true), (100, true), (101, false)] {
            s.cost_alert.threshold_percent = t;
            assert_eq!(problems(&s).is_empty(), ok, "threshold {t}");
        }
        s.cost_alert.threshold_percent = 80;
        for (i, ok) in [(9, false), (10, true), (1440, true), (1441, false)] {
            s.cost_alert.check_interval_minutes = i;
            assert_eq!(problems(&s).is_empty(), ok, "interval {i}");
        }
    }

    #[test]
    fn every_invalid_field_is_reported_at_once() {
        let mut s = NotificationSettings::default();
        s.daily_leaderboard.time = "25:00".into();
        s.daily_leaderboard.top_n = 0;
        s.cost_alert.threshold_percent = 10;
        s.cost_alert.check_interval_minutes = 5;
        s.circuit_breaker.enabled = true;
        let paths: Vec<String> = problems(&s).into_iter().map(|(p, _)| p).collect();
        assert_eq!(
            paths,
            [
                "circuitBreaker.webhookUrl",
                "costAlert.checkIntervalMinutes",
                "costAlert.thresholdPercent",
                "dailyLeaderboard.time",
                "dailyLeaderboard.topN"
            ]
        );
    }

    #[test]
    fn urls() {
        let mut s = NotificationSettings::default();
        let long = format!("https://example.com/{}", "a".repeat(MAX_WEBHOOK_URL_LEN));
        for (url, expected) in [
            ("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc", None),
            ("http://example.com", None),
            ("ftp://example.com/", Some(FieldProblem::UrlScheme)),
            ("example.com/hook", Some(FieldProblem::UrlScheme)),
            ("https://", Some(FieldProblem::UrlInvalid)),
            ("https://exa mple.com/", Some(FieldProblem::UrlInvalid)),
            (
                long.as_str(),
                Some(FieldProblem::UrlTooLong {
                    max: MAX_WEBHOOK_URL_LEN,
                }),
            ),
        ] {
            s.cost_alert.webhook_url = Some(url.into());
            assert_eq!(problems(&s).into_iter().next().map(|(_, p)| p), expected, "{url}");
        }
        // Exactly 512 characters is allowed.
        let exact = format!("https://example.com/{}", "a".repeat(MAX_WEBHOOK_URL_LEN - 20));
        assert_eq!(exact.chars().count(), MAX_WEBHOOK_URL_LEN);
        s.cost_alert.webhook_url = Some(exact);
        assert!(problems(&s).is_empty());
    }

    #[test]
    fn refusals_from_the_guard_are_reported() {
        let mut s = NotificationSettings::default();
        s.circuit_breaker.webhook_url = Some("http://127.0.0.1/".into());
        let err = s
            .validate(&|_| Err("127.0.0.1 is a loopback address".into()))
            .unwrap_err();
        assert_eq!(
            err.get("circuitBreaker.webhookUrl"),
            Some(&FieldProblem::UrlRefused("127.0.0.1 is a loopback address".into()))
        );
    }

    #[test]
    fn normalization_blanks_and_trims() {
        let mut s = NotificationSettings::default();
        s.circuit_breaker.webhook_url = Some("   ".into());
        s.cost_alert.webhook_url = Some(" https://example.com/x ".into());
        s.daily_leaderboard.time = " 08:30 ".into();
        let s = s.normalized();
        assert_eq!(s.circuit_breaker.webhook_url, None);
        assert_eq!(s.cost_alert.webhook_url.as_deref(), Some("https://example.com/x"));
        assert_eq!(s.daily_leaderboard.time, "08:30");
    }

    #[test]
    fn activity_needs_master_kind_and_url() {
        let mut s = NotificationSettings::default();
        s.cost_alert.enabled = true;
        s.cost_alert.webhook_url = Some("https://example.com".into());
        assert!(!s.is_active(NotificationKind::CostAlert));
        s.enabled = true;
        assert!(s.is_active(NotificationKind::CostAlert));
        assert!(!s.is_active(NotificationKind::DailyLeaderboard));
    }
}
