//! Push targets (推送目标): the platforms a notification can be delivered to, and which one a
//! pasted webhook URL belongs to (the page shows it as a badge; the API takes it as the default).
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A receiving platform, by its API name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ChannelKind {
    /// 企业微信 group robot.
    Wecom,
    /// 飞书 / Lark custom bot.
    Feishu,
    /// 钉钉 custom robot.
    Dingtalk,
    Telegram,
    Slack,
    Discord,
    /// A signed JSON event (Standard Webhooks).
    Webhook,
    /// A JSON template of the admin's.
    Custom,
}

impl ChannelKind {
    pub const ALL: [ChannelKind; 8] = [
        ChannelKind::Wecom,
        ChannelKind::Feishu,
        ChannelKind::Dingtalk,
        ChannelKind::Telegram,
        ChannelKind::Slack,
        ChannelKind::Discord,
        ChannelKind::Webhook,
        ChannelKind::Custom,
    ];

    /// The API name (`wecom`, `feishu`, …).
    pub fn key(self) -> &'static str {
        match self {
            ChannelKind::Wecom => "wecom",
            ChannelKind::Feishu => "feishu",
            ChannelKind::Dingtalk => "dingtalk",
            ChannelKind::Telegram => "telegram",
            ChannelKind::Slack => "slack",
            ChannelKind::Discord => "discord",
            ChannelKind::Webhook => "webhook",
            ChannelKind::Custom => "custom",
        }
    }

    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.key() == key)
    }

    /// The platform a pasted webhook URL belongs to, judged by its host alone (and, for
    /// Discord, the webhook path): `None` for any other URL, which stays a generic webhook.
    pub fn detect(url: &str) -> Option<Self> {
        let (host, path) = host_and_path(url)?;
        match host.as_str() {
            "qyapi.weixin.qq.com" => Some(ChannelKind::Wecom),
            "open.feishu.cn" | "open.larksuite.com" => Some(ChannelKind::Feishu),
            "oapi.dingtalk.com" => Some(ChannelKind::Dingtalk),
            "hooks.slack.com" => Some(ChannelKind::Slack),
            "discord.com" | "discordapp.com" if path.starts_with("/api/webhooks/") => Some(ChannelKind::Discord),
            _ => None,
        }
    }
}

/// The longest signing secret, in characters.
pub const MAX_SECRET_CHARS: usize = 256;

/// The longest target name, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// The longest custom header value, in characters.
pub const MAX_HEADER_VALUE_CHARS: usize = 1024;
/// The most custom headers a target sends.
pub const MAX_HEADERS: usize = 20;
/// Bounds of a target's own send budget.
pub const MAX_BUDGET_SENDS: u32 = 10_000;
pub const MAX_BUDGET_SECONDS: u32 = 86_400;
/// What a proxy URL's password reads as in answers; sent back unchanged, the stored one is kept.
pub const MASKED_PASSWORD: &str = "***";

impl ChannelKind {
    /// Whether the target signs with a secret: the bot's (Feishu 签名校验, DingTalk 加签) or its
    /// own (Standard Webhooks `whsec_…`).
    pub fn takes_secret(self) -> bool {
        matches!(self, ChannelKind::Feishu | ChannelKind::Dingtalk | ChannelKind::Webhook)
    }

    /// Whether the target is reached at a webhook URL (all but Telegram's Bot API).
    pub fn takes_webhook_url(self) -> bool {
        self != ChannelKind::Telegram
    }
}

/// A send budget: at most `sends` messages in any `perSeconds` seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BudgetSetting {
    pub sends: u32,
    pub per_seconds: u32,
}

/// Header names a custom target may not set: the transport's own, and the signature headers.
const RESERVED_HEADERS: [&str; 12] = [
    "host",
    "content-length",
    "content-type",
    "transfer-encoding",
    "connection",
    "te",
    "upgrade",
    "idempotency-key",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "user-agent",
];

/// An HTTP header name (RFC 9110 token) a target may send.
pub fn is_allowed_header_name(name: &str) -> bool {
    const TCHAR: &[u8] = b"!#$%&'*+-.^_`|~";
    !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || TCHAR.contains(&b))
        && !RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str())
        && !name.to_ascii_lowercase().starts_with("proxy-")
}

/// A proxy URL's form: `http`, `https`, `socks5` or `socks5h`, a host and a port, nothing after.
pub fn check_proxy_form(url: &str) -> Result<(), crate::notifications::FieldProblem> {
    use crate::notifications::FieldProblem;
    let (scheme, rest) = url.split_once("://").ok_or(FieldProblem::ProxyUrl)?;
    if !matches!(
        scheme.to_ascii_lowercase().as_str(),
        "http" | "https" | "socks5" | "socks5h"
    ) {
        return Err(FieldProblem::ProxyUrl);
    }
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    let host_port = authority.rsplit('@').next().unwrap_or(authority);
    let port_ok = host_port
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0));
    if !port_ok || authority.contains(['/', '?', '#']) || url.chars().any(char::is_whitespace) || url.len() > 512 {
        return Err(FieldProblem::ProxyUrl);
    }
    Ok(())
}

/// The outcome of a target's last test.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct LastTest {
    /// RFC 3339, in `APP_TIMEZONE`.
    pub at: String,
    pub ok: bool,
    pub error: Option<String>,
    pub latency_ms: i32,
}

/// A push target as pages and the API show it. Write-only secrets show only whether they are
/// set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PushTargetView {
    pub id: i64,
    pub name: String,
    pub channel: ChannelKind,
    pub enabled: bool,
    /// The webhook URL with the key its platform keeps in it masked (`***`): a query value, or
    /// the token in the path. Sent back unchanged in an edit, it keeps the stored URL.
    pub webhook_url: Option<String>,
    /// Whether a signing secret is set (the secret itself is never shown).
    pub has_secret: bool,
    /// Whether a Telegram bot token is set (the token itself is never shown).
    pub has_bot_token: bool,
    /// Telegram: the chat (`-100…` or `@channel`), the topic, a self-hosted Bot API server.
    pub chat_id: Option<String>,
    pub message_thread_id: Option<i64>,
    pub api_base_url: Option<String>,
    /// Custom: the JSON body with `{{placeholders}}`.
    #[cfg_attr(feature = "ssr", schema(value_type = Option<Object>))]
    pub template: Option<serde_json::Value>,
    /// Custom: the names of the headers it sends (their values are write-only).
    pub header_names: Vec<String>,
    /// The outbound proxy, its password shown as `***`.
    pub proxy_url: Option<String>,
    /// Whether a delivery goes direct when the proxy cannot be reached.
    pub proxy_fallback_direct: bool,
    /// The target's own send budget, if it has one.
    pub rate_limit: Option<BudgetSetting>,
    /// The budget it keeps without one of its own (`WEBHOOK_RATE_LIMIT`, else its platform's);
    /// `null` when unlimited.
    pub default_rate_limit: Option<BudgetSetting>,
    /// `scheme://host[:port]` of where it sends.
    pub endpoint: String,
    /// The kinds bound to it.
    pub kinds: Vec<crate::notifications::NotificationKind>,
    pub last_test: Option<LastTest>,
    /// Only in the answer that created a `webhook` target without a secret: the signing secret
    /// generated for it (`whsec_…`), shown this once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generated_secret: Option<String>,
}

/// A push target to create, or the new state of one (`PUT`). Left out of a `PUT`, the webhook
/// URL and the write-only secrets are kept.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PushTargetInput {
    pub name: String,
    /// Left out, the webhook URL's host picks it ([`ChannelKind::detect`]).
    #[serde(default)]
    pub channel: Option<ChannelKind>,
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    /// Every channel but Telegram.
    #[serde(default)]
    pub webhook_url: Option<String>,
    /// The signing secret of a Feishu bot or a DingTalk robot; write-only. Left out of a `PUT`,
    /// the stored one is kept; `""` removes it.
    #[serde(default)]
    pub secret: Option<String>,
    /// Telegram: the bot's token from @BotFather (`123456:ABC…`); write-only.
    #[serde(default)]
    pub bot_token: Option<String>,
    #[serde(default)]
    pub chat_id: Option<String>,
    #[serde(default)]
    pub message_thread_id: Option<i64>,
    /// Left out, `https://api.telegram.org`.
    #[serde(default)]
    pub api_base_url: Option<String>,
    /// Custom: the body to send, a JSON object whose strings may hold `{{placeholders}}`.
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(value_type = Option<Object>))]
    pub template: Option<serde_json::Value>,
    /// Custom: headers to send; write-only. A value of `null` keeps the stored value of that
    /// header; headers not named are removed; left out of a `PUT`, all are kept.
    #[serde(default)]
    pub headers: Option<BTreeMap<String, Option<String>>>,
    /// `http://`, `https://`, `socks5://` or `socks5h://` `[user:password@]host:port`. A password
    /// of `***` (as answers show it) keeps the stored one.
    #[serde(default)]
    pub proxy_url: Option<String>,
    /// Go direct when the proxy cannot be reached (default: fail the attempt).
    #[serde(default)]
    pub proxy_fallback_direct: bool,
    /// The target's own send budget, instead of `WEBHOOK_RATE_LIMIT` or its platform's.
    #[serde(default)]
    pub rate_limit: Option<BudgetSetting>,
}

fn enabled_by_default() -> bool {
    true
}

/// What an edited target already has: its channel (kept when the input names none) and the
/// settings an edit may leave out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stored {
    pub channel: ChannelKind,
    pub webhook_url: bool,
    pub bot_token: bool,
    pub secret: bool,
    pub template: bool,
    /// The names of its headers.
    pub headers: Vec<String>,
}

/// A bot token as @BotFather gives it: digits, `:`, then 30 or more of `A-Za-z0-9_-`.
fn is_bot_token(token: &str) -> bool {
    let Some((bot, secret)) = token.split_once(':') else {
        return false;
    };
    !bot.is_empty()
        && bot.bytes().all(|b| b.is_ascii_digit())
        && secret.len() >= 30
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A chat id: a number (groups are negative) or `@channelusername`.
fn is_chat_id(chat: &str) -> bool {
    let digits = chat.strip_prefix('-').unwrap_or(chat);
    let numeric = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
    let username = chat
        .strip_prefix('@')
        .is_some_and(|u| u.len() >= 5 && u.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
    numeric || username
}

impl PushTargetInput {
    /// Trimmed, blank text as none.
    pub fn normalized(mut self) -> Self {
        let blank_as_none = |v: Option<String>| v.map(|u| u.trim().to_owned()).filter(|u| !u.is_empty());
        self.name = self.name.trim().to_owned();
        self.webhook_url = blank_as_none(self.webhook_url);
        self.chat_id = blank_as_none(self.chat_id);
        self.api_base_url = blank_as_none(self.api_base_url);
        self.proxy_url = blank_as_none(self.proxy_url);
        self.bot_token = self.bot_token.map(|t| t.trim().to_owned());
        self.secret = self.secret.map(|t| t.trim().to_owned());
        if let Some(headers) = self.headers.take() {
            self.headers = Some(headers.into_iter().map(|(k, v)| (k.trim().to_owned(), v)).collect());
        }
        self
    }

    /// The channel the input means: the one it names, else the stored target's, else the one its
    /// webhook URL's host belongs to.
    pub fn channel(&self, stored: Option<ChannelKind>) -> Option<ChannelKind> {
        self.channel
            .or(stored)
            .or_else(|| self.webhook_url.as_deref().and_then(ChannelKind::detect))
    }

    /// The channel, and every problem of form (the server adds its SSRF rules, the template's
    /// placeholders and the signing secret's key).
    pub fn validate(&self, stored: Option<&Stored>) -> Result<ChannelKind, crate::notifications::FieldErrors> {
        use crate::notifications::{check_url_form, FieldErrors, FieldProblem};
        let mut errors = FieldErrors::default();
        if self.name.is_empty() || self.name.chars().count() > MAX_NAME_CHARS {
            errors.insert("name".into(), FieldProblem::NameLength { max: MAX_NAME_CHARS });
        }
        let Some(channel) = self.channel(stored.map(|s| s.channel)) else {
            errors.insert("channel".into(), FieldProblem::ChannelRequired);
            // Without a channel only a URL can name one: it is what is missing or wrong.
            match self.webhook_url.as_deref().map(check_url_form) {
                None => errors.insert("webhookUrl".into(), FieldProblem::UrlRequired),
                Some(Err(problem)) => errors.insert("webhookUrl".into(), problem),
                Some(Ok(())) => {}
            }
            return Err(errors);
        };
        let not_taken = || FieldProblem::NotTaken(channel.key().into());
        let url_field = |errors: &mut FieldErrors, field: &str, url: Option<&str>, required: bool| match url {
            None if required => errors.insert(field.into(), FieldProblem::UrlRequired),
            None => {}
            Some(url) => {
                if let Err(problem) = check_url_form(url) {
                    errors.insert(field.into(), problem);
                }
            }
        };
        if channel.takes_webhook_url() {
            let kept = stored.is_some_and(|s| s.webhook_url);
            url_field(&mut errors, "webhookUrl", self.webhook_url.as_deref(), !kept);
        } else if self.webhook_url.is_some() {
            errors.insert("webhookUrl".into(), not_taken());
        }
        if channel == ChannelKind::Telegram {
            url_field(&mut errors, "apiBaseUrl", self.api_base_url.as_deref(), false);
        }
        if let Some(secret) = self.secret.as_deref().filter(|s| !s.is_empty()) {
            if !channel.takes_secret() {
                errors.insert("secret".into(), not_taken());
            } else if secret.chars().count() > MAX_SECRET_CHARS || secret.chars().any(char::is_whitespace) {
                errors.insert("secret".into(), FieldProblem::SecretForm { max: MAX_SECRET_CHARS });
            }
        }
        if channel == ChannelKind::Webhook && self.secret.as_deref() == Some("") {
            // A signed webhook always signs: a new secret replaces the old one.
            errors.insert("secret".into(), FieldProblem::Required);
        }
        if channel == ChannelKind::Telegram {
            match self.bot_token.as_deref() {
                None if !stored.is_some_and(|s| s.bot_token) => {
                    errors.insert("botToken".into(), FieldProblem::Required)
                }
                Some(token) if !is_bot_token(token) => errors.insert("botToken".into(), FieldProblem::BotToken),
                _ => {}
            }
            match self.chat_id.as_deref() {
                None => errors.insert("chatId".into(), FieldProblem::Required),
                Some(chat) if !is_chat_id(chat) => errors.insert("chatId".into(), FieldProblem::ChatId),
                Some(_) => {}
            }
        } else {
            for (field, given) in [
                ("botToken", self.bot_token.is_some()),
                ("chatId", self.chat_id.is_some()),
                ("messageThreadId", self.message_thread_id.is_some()),
                ("apiBaseUrl", self.api_base_url.is_some()),
            ] {
                if given {
                    errors.insert(field.into(), not_taken());
                }
            }
        }
        if channel == ChannelKind::Custom {
            match &self.template {
                None if !stored.is_some_and(|s| s.template) => errors.insert("template".into(), FieldProblem::Required),
                Some(t) if !t.is_object() => errors.insert(
                    "template".into(),
                    FieldProblem::Template("must be a JSON object".into()),
                ),
                _ => {}
            }
            if let Some(headers) = &self.headers {
                self.check_headers(headers, stored, &mut errors);
            }
        } else {
            for (field, given) in [
                ("template", self.template.is_some()),
                ("headers", self.headers.is_some()),
            ] {
                if given {
                    errors.insert(field.into(), not_taken());
                }
            }
        }
        if let Some(proxy) = self.proxy_url.as_deref() {
            if let Err(problem) = check_proxy_form(proxy) {
                errors.insert("proxyUrl".into(), problem);
            }
        }
        if let Some(budget) = self.rate_limit {
            if !(1..=MAX_BUDGET_SENDS).contains(&budget.sends)
                || !(1..=MAX_BUDGET_SECONDS).contains(&budget.per_seconds)
            {
                errors.insert(
                    "rateLimit".into(),
                    FieldProblem::Budget {
                        max_sends: MAX_BUDGET_SENDS,
                        max_seconds: MAX_BUDGET_SECONDS,
                    },
                );
            }
        }
        if errors.is_empty() {
            Ok(channel)
        } else {
            Err(errors)
        }
    }

    fn check_headers(
        &self,
        headers: &BTreeMap<String, Option<String>>,
        stored: Option<&Stored>,
        errors: &mut crate::notifications::FieldErrors,
    ) {
        use crate::notifications::FieldProblem;
        if headers.len() > MAX_HEADERS {
            errors.insert("headers".into(), FieldProblem::TooMany { max: MAX_HEADERS });
        }
        for (name, value) in headers {
            let path = format!("headers.{name}");
            if !is_allowed_header_name(name) {
                errors.insert(path, FieldProblem::HeaderName);
                continue;
            }
            match value {
                // Keeping a value needs one to keep.
                None if !stored.is_some_and(|s| s.headers.iter().any(|h| h.eq_ignore_ascii_case(name))) => {
                    errors.insert(path, FieldProblem::Required);
                }
                None => {}
                Some(v) if v.chars().count() > MAX_HEADER_VALUE_CHARS || v.chars().any(|c| c.is_control()) => {
                    errors.insert(
                        path,
                        FieldProblem::HeaderValue {
                            max: MAX_HEADER_VALUE_CHARS,
                        },
                    );
                }
                Some(_) => {}
            }
        }
    }
}

/// The lower-cased host of an `http(s)` URL (no user info, no port) and its path.
fn host_and_path(url: &str) -> Option<(String, &str)> {
    let url = url.trim();
    let scheme_end = url.find("://")?;
    if !matches!(url[..scheme_end].to_ascii_lowercase().as_str(), "http" | "https") {
        return None;
    }
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, after) = rest.split_at(authority_end);
    // `user@host`: the host is what follows the last `@`.
    let host_port = authority.rsplit('@').next().unwrap_or(authority);
    let host = match host_port.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => host_port,
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let path = after.split(['?', '#']).next().unwrap_or("");
    (!host.is_empty()).then_some((host, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_match_serde() {
        for c in ChannelKind::ALL {
            assert_eq!(ChannelKind::from_key(c.key()), Some(c));
            assert_eq!(serde_json::to_value(c).unwrap(), c.key());
        }
        assert_eq!(ChannelKind::from_key("WeCom"), None);
    }

    fn input(json: serde_json::Value) -> PushTargetInput {
        serde_json::from_value::<PushTargetInput>(json).unwrap().normalized()
    }

    fn stored(channel: ChannelKind) -> Stored {
        Stored {
            channel,
            webhook_url: true,
            bot_token: false,
            secret: false,
            template: channel == ChannelKind::Custom,
            headers: vec!["Authorization".into()],
        }
    }

    #[test]
    fn custom_webhook_proxy_and_budget_settings_are_checked() {
        use crate::notifications::FieldProblem;
        let check = |json: serde_json::Value, stored: Option<&Stored>| input(json).validate(stored);
        let url = "https://example.com/hook";
        assert_eq!(
            check(
                serde_json::json!({"name": "C", "channel": "custom", "webhookUrl": url,
                    "template": {"text": "{{text}}"}, "headers": {"X-Token": "abc"}}),
                None
            ),
            Ok(ChannelKind::Custom)
        );
        let errors = check(
            serde_json::json!({"name": "C", "channel": "custom", "webhookUrl": url, "template": ["{{text}}"],
                "headers": {"Host": "x", "X-A": "a\nb", "X-Kept": null}}),
            None,
        )
        .unwrap_err();
        assert_eq!(
            errors.get("template"),
            Some(&FieldProblem::Template("must be a JSON object".into()))
        );
        assert_eq!(errors.get("headers.Host"), Some(&FieldProblem::HeaderName));
        assert_eq!(
            errors.get("headers.X-A"),
            Some(&FieldProblem::HeaderValue {
                max: MAX_HEADER_VALUE_CHARS
            })
        );
        assert_eq!(
            errors.get("headers.X-Kept"),
            Some(&FieldProblem::Required),
            "nothing to keep"
        );
        assert_eq!(
            check(
                serde_json::json!({"name": "C", "headers": {"authorization": null}}),
                Some(&stored(ChannelKind::Custom))
            ),
            Ok(ChannelKind::Custom),
            "an edit keeps the template and a header's value"
        );
        for name in [
            "webhook-signature",
            "Proxy-Authorization",
            "Content-Type",
            "bad name",
            "",
        ] {
            assert!(!is_allowed_header_name(name), "{name}");
        }
        assert!(is_allowed_header_name("X-Api-Key"));
        assert_eq!(
            check(
                serde_json::json!({"name": "W", "channel": "webhook", "webhookUrl": url}),
                None
            ),
            Ok(ChannelKind::Webhook),
            "a webhook target without a secret gets one generated"
        );
        assert_eq!(
            check(
                serde_json::json!({"name": "W", "channel": "webhook", "webhookUrl": url, "secret": ""}),
                Some(&stored(ChannelKind::Webhook))
            )
            .unwrap_err()
            .get("secret"),
            Some(&FieldProblem::Required)
        );
        assert_eq!(
            check(
                serde_json::json!({"name": "S", "webhookUrl": "https://hooks.slack.com/services/x",
                    "template": {}}),
                None
            )
            .unwrap_err()
            .get("template"),
            Some(&FieldProblem::NotTaken("slack".into()))
        );
        for (proxy, ok) in [
            ("http://127.0.0.1:3128", true),
            ("socks5://user:pa%40ss@proxy.example:1080", true),
            ("socks5h://proxy.example:1080/", true),
            ("https://[::1]:8443", true),
            ("ftp://proxy.example:21", false),
            ("http://proxy.example", false),
            ("http://proxy.example:0", false),
            ("http://proxy.example:3128/path", false),
            ("proxy.example:3128", false),
        ] {
            let result = check(
                serde_json::json!({"name": "S", "webhookUrl": url, "channel": "slack", "proxyUrl": proxy}),
                None,
            );
            assert_eq!(result.is_ok(), ok, "{proxy}: {result:?}");
        }
        let budget = |sends: u32, per_seconds: u32| {
            check(
                serde_json::json!({"name": "S", "webhookUrl": url, "channel": "slack",
                    "rateLimit": {"sends": sends, "perSeconds": per_seconds}}),
                None,
            )
        };
        assert!(budget(1, 1).is_ok() && budget(MAX_BUDGET_SENDS, MAX_BUDGET_SECONDS).is_ok());
        assert_eq!(
            budget(0, 60).unwrap_err().get("rateLimit"),
            Some(&FieldProblem::Budget {
                max_sends: MAX_BUDGET_SENDS,
                max_seconds: MAX_BUDGET_SECONDS
            })
        );
        assert!(budget(5, MAX_BUDGET_SECONDS + 1).is_err());
    }

    #[test]
    fn target_input_is_checked_field_by_field() {
        use crate::notifications::FieldProblem;
        let ok = input(
            serde_json::json!({"name": " 值班群 ", "webhookUrl": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k"}),
        );
        assert_eq!(ok.name, "值班群");
        assert!(ok.enabled, "enabled unless said otherwise");
        assert_eq!(ok.validate(None), Ok(ChannelKind::Wecom));

        let bad = input(serde_json::json!({"name": "", "webhookUrl": "ftp://x"}));
        let errors = bad.validate(None).unwrap_err();
        assert_eq!(
            errors.get("name"),
            Some(&FieldProblem::NameLength { max: MAX_NAME_CHARS })
        );
        assert_eq!(errors.get("webhookUrl"), Some(&FieldProblem::UrlScheme));
        assert_eq!(errors.get("channel"), Some(&FieldProblem::ChannelRequired));

        let custom =
            input(serde_json::json!({"name": "C", "channel": "custom", "webhookUrl": "https://example.com/x"}));
        assert_eq!(
            custom.validate(None).unwrap_err().get("template"),
            Some(&FieldProblem::Required)
        );
        let token = "123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";
        let tg = |json: serde_json::Value| input(json).validate(None);
        assert_eq!(
            tg(serde_json::json!({"name": "TG", "channel": "telegram", "botToken": token, "chatId": "-1001234567890"})),
            Ok(ChannelKind::Telegram)
        );
        let errors = tg(
            serde_json::json!({"name": "TG", "channel": "telegram", "botToken": "nope", "chatId": "x y",
            "webhookUrl": "https://example.com/x"}),
        )
        .unwrap_err();
        assert_eq!(errors.get("botToken"), Some(&FieldProblem::BotToken));
        assert_eq!(errors.get("chatId"), Some(&FieldProblem::ChatId));
        assert_eq!(
            errors.get("webhookUrl"),
            Some(&FieldProblem::NotTaken("telegram".into()))
        );
        let errors = tg(serde_json::json!({"name": "TG", "channel": "telegram"})).unwrap_err();
        assert_eq!(errors.get("botToken"), Some(&FieldProblem::Required));
        assert_eq!(errors.get("chatId"), Some(&FieldProblem::Required));
        let errors = tg(
            serde_json::json!({"name": "W", "channel": "wecom", "webhookUrl": "https://example.com/x", "chatId": "1"}),
        )
        .unwrap_err();
        assert_eq!(errors.get("chatId"), Some(&FieldProblem::NotTaken("wecom".into())));
        let feishu =
            input(serde_json::json!({"name": "飞书", "webhookUrl": "https://open.feishu.cn/open-apis/bot/v2/hook/x"}));
        assert_eq!(
            feishu.validate(None),
            Ok(ChannelKind::Feishu),
            "the host names the channel"
        );
        let keep = input(serde_json::json!({"name": "a"}));
        assert_eq!(
            keep.validate(Some(&stored(ChannelKind::Wecom))),
            Ok(ChannelKind::Wecom),
            "an edit keeps the stored URL and channel"
        );
        assert_eq!(
            keep.validate(None).unwrap_err().get("webhookUrl"),
            Some(&FieldProblem::UrlRequired)
        );
        assert!(serde_json::from_value::<PushTargetInput>(serde_json::json!({"name": "a", "botTokn": "x"})).is_err());

        let signed = |channel: &str, secret: &str| {
            input(serde_json::json!({"name": "a", "channel": channel, "webhookUrl": "https://example.com/x", "secret": secret}))
                .validate(None)
        };
        assert_eq!(signed("feishu", "SECabc"), Ok(ChannelKind::Feishu));
        assert_eq!(signed("dingtalk", "SECabc"), Ok(ChannelKind::Dingtalk));
        assert_eq!(
            signed("wecom", "SECabc").unwrap_err().get("secret"),
            Some(&FieldProblem::NotTaken("wecom".into()))
        );
        assert_eq!(
            signed("wecom", ""),
            Ok(ChannelKind::Wecom),
            "an empty secret removes none"
        );
        assert_eq!(
            signed("feishu", "SEC abc").unwrap_err().get("secret"),
            Some(&FieldProblem::SecretForm { max: MAX_SECRET_CHARS })
        );
    }

    #[test]
    fn a_pasted_url_names_its_platform() {
        let cases = [
            (
                "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc",
                Some(ChannelKind::Wecom),
            ),
            (
                "HTTPS://QYAPI.WEIXIN.QQ.COM:443/cgi-bin/webhook/send?key=abc",
                Some(ChannelKind::Wecom),
            ),
            (
                "https://open.feishu.cn/open-apis/bot/v2/hook/0f1e",
                Some(ChannelKind::Feishu),
            ),
            (
                "https://open.larksuite.com/open-apis/bot/v2/hook/0f1e",
                Some(ChannelKind::Feishu),
            ),
            (
                "https://oapi.dingtalk.com/robot/send?access_token=t",
                Some(ChannelKind::Dingtalk),
            ),
            ("https://hooks.slack.com/services/T0/B0/x", Some(ChannelKind::Slack)),
            ("https://discord.com/api/webhooks/1/abc", Some(ChannelKind::Discord)),
            ("https://discordapp.com/api/webhooks/1/abc", Some(ChannelKind::Discord)),
            ("https://discord.com/channels/1/2", None),
            ("https://example.com/hook", None),
            // Look-alikes name the host they really reach.
            ("https://qyapi.weixin.qq.com@evil.example/cgi-bin", None),
            ("https://qyapi.weixin.qq.com.evil.example/x", None),
            ("https://evil.example/qyapi.weixin.qq.com", None),
            ("https://evil.example/?u=https://hooks.slack.com/", None),
            ("ftp://qyapi.weixin.qq.com/x", None),
            ("qyapi.weixin.qq.com/cgi-bin", None),
            ("", None),
        ];
        for (url, expected) in cases {
            assert_eq!(ChannelKind::detect(url), expected, "{url}");
        }
    }
}
