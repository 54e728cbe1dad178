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
        self.takes("secret")
    }

    /// Whether the target is reached at a webhook URL (all but Telegram's Bot API).
    pub fn takes_webhook_url(self) -> bool {
        self.takes("webhookUrl")
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

/// A push target as pages and the API show it: the settings every target has and its channel's
/// config, whose write-only values show only as [`Shown`]. On the wire it is one flat object
/// ([`ViewWire`], the format `docs/api.md` documents).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "ViewWire", try_from = "ViewWire")]
pub struct PushTargetView {
    pub id: i64,
    pub name: String,
    pub enabled: bool,
    pub config: ChannelConfig<Shown>,
    /// The outbound proxy, its password shown as `***`.
    pub proxy_url: Option<String>,
    pub proxy_fallback_direct: bool,
    pub rate_limit: Option<BudgetSetting>,
    /// The budget it keeps without one of its own; `None` when unlimited.
    pub default_rate_limit: Option<BudgetSetting>,
    /// `scheme://host[:port]` of where it sends.
    pub endpoint: String,
    pub kinds: Vec<crate::notifications::NotificationKind>,
    pub last_test: Option<LastTest>,
    /// The signing secret generated for a new `webhook` target, shown this once.
    pub generated_secret: Option<String>,
}

/// A write-only value as answers show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Shown {
    /// A webhook URL with the key its platform keeps in it masked (`***`).
    Url(String),
    /// Set; never shown.
    Set,
}

impl PushTargetView {
    pub fn channel(&self) -> ChannelKind {
        self.config.kind()
    }

    /// The webhook URL as shown, its key masked.
    pub fn webhook_url(&self) -> Option<&str> {
        match self.config.webhook_url() {
            Some(Shown::Url(url)) => Some(url),
            _ => None,
        }
    }
}

/// A push target on the wire.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ssr", schema(as = PushTargetView))]
#[serde(rename_all = "camelCase")]
struct ViewWire {
    id: i64,
    name: String,
    channel: ChannelKind,
    enabled: bool,
    /// The webhook URL with the key its platform keeps in it masked (`***`): a query value, or
    /// the token in the path. Sent back unchanged in an edit, it keeps the stored URL.
    webhook_url: Option<String>,
    /// Whether a signing secret is set (the secret itself is never shown).
    has_secret: bool,
    /// Whether a Telegram bot token is set (the token itself is never shown).
    has_bot_token: bool,
    /// Telegram: the chat (`-100…` or `@channel`), the topic, a self-hosted Bot API server.
    chat_id: Option<String>,
    message_thread_id: Option<i64>,
    api_base_url: Option<String>,
    /// Custom: the JSON body with `{{placeholders}}`.
    #[cfg_attr(feature = "ssr", schema(value_type = Option<Object>))]
    template: Option<serde_json::Value>,
    /// Custom: the names of the headers it sends (their values are write-only).
    header_names: Vec<String>,
    /// The outbound proxy, its password shown as `***`.
    proxy_url: Option<String>,
    /// Whether a delivery goes direct when the proxy cannot be reached.
    proxy_fallback_direct: bool,
    /// The target's own send budget, if it has one.
    rate_limit: Option<BudgetSetting>,
    /// The budget it keeps without one of its own (`WEBHOOK_RATE_LIMIT`, else its platform's);
    /// `null` when unlimited.
    default_rate_limit: Option<BudgetSetting>,
    /// `scheme://host[:port]` of where it sends.
    endpoint: String,
    /// The kinds bound to it.
    kinds: Vec<crate::notifications::NotificationKind>,
    last_test: Option<LastTest>,
    /// Only in the answer that created a `webhook` target without a secret: the signing secret
    /// generated for it (`whsec_…`), shown this once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    generated_secret: Option<String>,
}

#[cfg(feature = "ssr")]
impl utoipa::PartialSchema for PushTargetView {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        <ViewWire as utoipa::PartialSchema>::schema()
    }
}

#[cfg(feature = "ssr")]
impl utoipa::ToSchema for PushTargetView {
    fn name() -> std::borrow::Cow<'static, str> {
        <ViewWire as utoipa::ToSchema>::name()
    }

    fn schemas(schemas: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>) {
        <ViewWire as utoipa::ToSchema>::schemas(schemas);
    }
}

impl From<PushTargetView> for ViewWire {
    fn from(view: PushTargetView) -> Self {
        let config = &view.config;
        let (chat_id, message_thread_id, api_base_url) = match config {
            ChannelConfig::Telegram(chat) => (
                Some(chat.chat_id.clone()),
                chat.message_thread_id,
                chat.api_base_url.clone(),
            ),
            _ => (None, None, None),
        };
        let (template, header_names) = match config {
            ChannelConfig::Custom(hook) => (Some(hook.template.clone()), hook.headers.keys().cloned().collect()),
            _ => (None, Vec::new()),
        };
        ViewWire {
            webhook_url: view.webhook_url().map(str::to_owned),
            channel: config.kind(),
            has_secret: config.secret().is_some(),
            has_bot_token: matches!(config, ChannelConfig::Telegram(_)),
            chat_id,
            message_thread_id,
            api_base_url,
            template,
            header_names,
            id: view.id,
            name: view.name,
            enabled: view.enabled,
            proxy_url: view.proxy_url,
            proxy_fallback_direct: view.proxy_fallback_direct,
            rate_limit: view.rate_limit,
            default_rate_limit: view.default_rate_limit,
            endpoint: view.endpoint,
            kinds: view.kinds,
            last_test: view.last_test,
            generated_secret: view.generated_secret,
        }
    }
}

impl TryFrom<ViewWire> for PushTargetView {
    type Error = String;

    fn try_from(wire: ViewWire) -> Result<Self, String> {
        let channel = wire.channel;
        let lacks = |field: &str| format!("a {} target without {field}", channel.key());
        let url = || {
            wire.webhook_url
                .clone()
                .map(Shown::Url)
                .ok_or_else(|| lacks("webhookUrl"))
        };
        let secret = wire.has_secret.then_some(Shown::Set);
        let config = match channel {
            ChannelKind::Wecom => ChannelConfig::Wecom(Hook { webhook_url: url()? }),
            ChannelKind::Slack => ChannelConfig::Slack(Hook { webhook_url: url()? }),
            ChannelKind::Discord => ChannelConfig::Discord(Hook { webhook_url: url()? }),
            ChannelKind::Feishu => ChannelConfig::Feishu(SignedHook {
                webhook_url: url()?,
                secret,
            }),
            ChannelKind::Dingtalk => ChannelConfig::Dingtalk(SignedHook {
                webhook_url: url()?,
                secret,
            }),
            ChannelKind::Webhook => ChannelConfig::Webhook(StandardWebhook {
                webhook_url: url()?,
                secret: Shown::Set,
            }),
            ChannelKind::Telegram => ChannelConfig::Telegram(TelegramChat {
                bot_token: Shown::Set,
                chat_id: wire.chat_id.ok_or_else(|| lacks("chatId"))?,
                message_thread_id: wire.message_thread_id,
                api_base_url: wire.api_base_url,
            }),
            ChannelKind::Custom => ChannelConfig::Custom(CustomHook {
                webhook_url: url()?,
                template: wire.template.ok_or_else(|| lacks("template"))?,
                headers: wire.header_names.into_iter().map(|name| (name, Shown::Set)).collect(),
            }),
        };
        Ok(PushTargetView {
            id: wire.id,
            name: wire.name,
            enabled: wire.enabled,
            config,
            proxy_url: wire.proxy_url,
            proxy_fallback_direct: wire.proxy_fallback_direct,
            rate_limit: wire.rate_limit,
            default_rate_limit: wire.default_rate_limit,
            endpoint: wire.endpoint,
            kinds: wire.kinds,
            last_test: wire.last_test,
            generated_secret: wire.generated_secret,
        })
    }
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

/// How a target reaches its platform: one arm per channel, holding what that channel takes and
/// nothing else. `S` is how a write-only value (a URL that holds a key, a signing secret, a bot
/// token, a header's value) appears: the value itself on the server, where the channels read
/// it, and a [`WriteOnly`] in an edit. A new channel is a new arm here, its fields on the page
/// and its file in the server's `channels/`. Its serde form is how it is stored (the server seals
/// the write-only values apart); the API's is [`PushTargetInput`] and the view's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "channel", rename_all = "lowercase")]
pub enum ChannelConfig<S> {
    Wecom(Hook<S>),
    Feishu(SignedHook<S>),
    Dingtalk(SignedHook<S>),
    Telegram(TelegramChat<S>),
    Slack(Hook<S>),
    Discord(Hook<S>),
    Webhook(StandardWebhook<S>),
    Custom(CustomHook<S>),
}

/// A platform's incoming webhook, its key in the URL.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Hook<S> {
    pub webhook_url: S,
}

/// A bot webhook that may sign with the bot's secret (Feishu 签名校验, DingTalk 加签).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignedHook<S> {
    pub webhook_url: S,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<S>,
}

/// A receiver of signed JSON events (Standard Webhooks): it always signs, with `whsec_…`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StandardWebhook<S> {
    pub webhook_url: S,
    pub secret: S,
}

/// A Telegram chat, reached through the Bot API.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TelegramChat<S> {
    pub bot_token: S,
    /// A number (groups are negative) or `@channelusername`.
    pub chat_id: String,
    /// A topic of a forum group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_thread_id: Option<i64>,
    /// A self-hosted Bot API server; `None` is `https://api.telegram.org`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_base_url: Option<String>,
}

/// A JSON body of the admin's, with `{{placeholders}}`, and headers of theirs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomHook<S> {
    pub webhook_url: S,
    pub template: serde_json::Value,
    /// By name; values are write-only.
    #[serde(default = "BTreeMap::new", skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, S>,
}

/// A write-only value in an edit: the stored one, or a new one. (An optional value the edit
/// removes is `None` beside it.)
#[derive(Clone, PartialEq, Eq)]
pub enum WriteOnly {
    /// The stored value; for a new `webhook` target's secret, one generated for it.
    Keep,
    Set(String),
}

impl std::fmt::Debug for WriteOnly {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            WriteOnly::Keep => "Keep",
            WriteOnly::Set(_) => "Set(***)",
        })
    }
}

impl<S> ChannelConfig<S> {
    pub fn kind(&self) -> ChannelKind {
        match self {
            ChannelConfig::Wecom(_) => ChannelKind::Wecom,
            ChannelConfig::Feishu(_) => ChannelKind::Feishu,
            ChannelConfig::Dingtalk(_) => ChannelKind::Dingtalk,
            ChannelConfig::Telegram(_) => ChannelKind::Telegram,
            ChannelConfig::Slack(_) => ChannelKind::Slack,
            ChannelConfig::Discord(_) => ChannelKind::Discord,
            ChannelConfig::Webhook(_) => ChannelKind::Webhook,
            ChannelConfig::Custom(_) => ChannelKind::Custom,
        }
    }

    /// The webhook URL it posts to: every channel's but Telegram's.
    pub fn webhook_url(&self) -> Option<&S> {
        match self {
            ChannelConfig::Wecom(h) | ChannelConfig::Slack(h) | ChannelConfig::Discord(h) => Some(&h.webhook_url),
            ChannelConfig::Feishu(h) | ChannelConfig::Dingtalk(h) => Some(&h.webhook_url),
            ChannelConfig::Webhook(h) => Some(&h.webhook_url),
            ChannelConfig::Custom(h) => Some(&h.webhook_url),
            ChannelConfig::Telegram(_) => None,
        }
    }

    /// The signing secret, where the channel signs and one is set.
    pub fn secret(&self) -> Option<&S> {
        match self {
            ChannelConfig::Feishu(h) | ChannelConfig::Dingtalk(h) => h.secret.as_ref(),
            ChannelConfig::Webhook(h) => Some(&h.secret),
            _ => None,
        }
    }

    /// The same config with every write-only value mapped, `f` told the value's field path
    /// (`webhookUrl`, `secret`, `botToken`, `headers.<name>`).
    pub fn map_with_path<T>(self, mut f: impl FnMut(&str, S) -> T) -> ChannelConfig<T> {
        let url = "webhookUrl";
        let hook = |h: Hook<S>, f: &mut dyn FnMut(&str, S) -> T| Hook {
            webhook_url: f(url, h.webhook_url),
        };
        let signed = |h: SignedHook<S>, f: &mut dyn FnMut(&str, S) -> T| SignedHook {
            webhook_url: f(url, h.webhook_url),
            secret: h.secret.map(|s| f("secret", s)),
        };
        match self {
            ChannelConfig::Wecom(h) => ChannelConfig::Wecom(hook(h, &mut f)),
            ChannelConfig::Slack(h) => ChannelConfig::Slack(hook(h, &mut f)),
            ChannelConfig::Discord(h) => ChannelConfig::Discord(hook(h, &mut f)),
            ChannelConfig::Feishu(h) => ChannelConfig::Feishu(signed(h, &mut f)),
            ChannelConfig::Dingtalk(h) => ChannelConfig::Dingtalk(signed(h, &mut f)),
            ChannelConfig::Webhook(h) => ChannelConfig::Webhook(StandardWebhook {
                webhook_url: f(url, h.webhook_url),
                secret: f("secret", h.secret),
            }),
            ChannelConfig::Telegram(t) => ChannelConfig::Telegram(TelegramChat {
                bot_token: f("botToken", t.bot_token),
                chat_id: t.chat_id,
                message_thread_id: t.message_thread_id,
                api_base_url: t.api_base_url,
            }),
            ChannelConfig::Custom(c) => ChannelConfig::Custom(CustomHook {
                webhook_url: f(url, c.webhook_url),
                template: c.template,
                headers: c
                    .headers
                    .into_iter()
                    .map(|(name, value)| {
                        let value = f(&format!("headers.{name}"), value);
                        (name, value)
                    })
                    .collect(),
            }),
        }
    }

    /// Every write-only value, by its field path (as [`ChannelConfig::map_with_path`] names it).
    pub fn write_only(&self) -> Vec<(String, &S)> {
        let mut values = Vec::new();
        let _ = self
            .as_ref()
            .map_with_path(|path, value| values.push((path.to_owned(), value)));
        values
    }

    /// The same config, borrowing its write-only values.
    pub fn as_ref(&self) -> ChannelConfig<&S> {
        fn hook<S>(h: &Hook<S>) -> Hook<&S> {
            Hook {
                webhook_url: &h.webhook_url,
            }
        }
        fn signed<S>(h: &SignedHook<S>) -> SignedHook<&S> {
            SignedHook {
                webhook_url: &h.webhook_url,
                secret: h.secret.as_ref(),
            }
        }
        match self {
            ChannelConfig::Wecom(h) => ChannelConfig::Wecom(hook(h)),
            ChannelConfig::Slack(h) => ChannelConfig::Slack(hook(h)),
            ChannelConfig::Discord(h) => ChannelConfig::Discord(hook(h)),
            ChannelConfig::Feishu(h) => ChannelConfig::Feishu(signed(h)),
            ChannelConfig::Dingtalk(h) => ChannelConfig::Dingtalk(signed(h)),
            ChannelConfig::Webhook(h) => ChannelConfig::Webhook(StandardWebhook {
                webhook_url: &h.webhook_url,
                secret: &h.secret,
            }),
            ChannelConfig::Telegram(t) => ChannelConfig::Telegram(TelegramChat {
                bot_token: &t.bot_token,
                chat_id: t.chat_id.clone(),
                message_thread_id: t.message_thread_id,
                api_base_url: t.api_base_url.clone(),
            }),
            ChannelConfig::Custom(c) => ChannelConfig::Custom(CustomHook {
                webhook_url: &c.webhook_url,
                template: c.template.clone(),
                headers: c.headers.iter().map(|(name, value)| (name.clone(), value)).collect(),
            }),
        }
    }
}

impl ChannelConfig<WriteOnly> {
    /// The config this edit makes of `stored` (the target's config before, if any): a value it
    /// sets is made by `set`, a value it keeps is the stored one of the same field (header
    /// names match in any case). A value to keep that is not stored goes to `missing` with its
    /// field path, which gives what stands in its place.
    pub fn resolve<S: Clone>(
        self,
        stored: Option<&ChannelConfig<S>>,
        mut set: impl FnMut(String) -> S,
        mut missing: impl FnMut(&str) -> S,
    ) -> ChannelConfig<S> {
        let kept = stored.map(ChannelConfig::write_only).unwrap_or_default();
        self.map_with_path(|path, value| match value {
            WriteOnly::Set(value) => set(value),
            WriteOnly::Keep => kept
                .iter()
                .find(|(stored, _)| stored.eq_ignore_ascii_case(path))
                .map_or_else(|| missing(path), |(_, value)| (*value).clone()),
        })
    }
}

/// A valid input: the settings every target has and its channel's own. What it does not
/// change is [`WriteOnly::Keep`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetEdit {
    pub name: String,
    pub enabled: bool,
    pub config: ChannelConfig<WriteOnly>,
    /// A password of `***` means the stored one.
    pub proxy_url: Option<String>,
    pub proxy_fallback_direct: bool,
    pub rate_limit: Option<BudgetSetting>,
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

/// The input's fields that belong to one channel or another, by API name.
const CHANNEL_FIELDS: [&str; 8] = [
    "webhookUrl",
    "secret",
    "botToken",
    "chatId",
    "messageThreadId",
    "apiBaseUrl",
    "template",
    "headers",
];

impl ChannelKind {
    /// Whether the channel takes this field of [`PushTargetInput`] (by API name; the fields
    /// every target has are not asked).
    pub fn takes(self, field: &str) -> bool {
        match self {
            ChannelKind::Wecom | ChannelKind::Slack | ChannelKind::Discord => field == "webhookUrl",
            ChannelKind::Feishu | ChannelKind::Dingtalk | ChannelKind::Webhook => {
                matches!(field, "webhookUrl" | "secret")
            }
            ChannelKind::Telegram => matches!(field, "botToken" | "chatId" | "messageThreadId" | "apiBaseUrl"),
            ChannelKind::Custom => matches!(field, "webhookUrl" | "template" | "headers"),
        }
    }
}

/// Parses a [`PushTargetInput`] into a [`TargetEdit`], noting every problem on the way.
struct Checker<'a> {
    input: &'a PushTargetInput,
    /// The edited target's config, for the values an edit may leave out.
    stored: Option<&'a ChannelConfig<Shown>>,
    errors: crate::notifications::FieldErrors,
}

impl Checker<'_> {
    fn fail(&mut self, field: &str, problem: crate::notifications::FieldProblem) {
        self.errors.insert(field.into(), problem);
    }

    /// An optional URL of the form every URL here has.
    fn url(&mut self, field: &str, url: Option<&str>) -> Option<Option<String>> {
        match url.map(crate::notifications::check_url_form) {
            Some(Err(problem)) => {
                self.fail(field, problem);
                None
            }
            _ => Some(url.map(str::to_owned)),
        }
    }

    /// The webhook URL: a new one, or the stored one when left out.
    fn webhook_url(&mut self) -> Option<WriteOnly> {
        use crate::notifications::FieldProblem;
        match self.url("webhookUrl", self.input.webhook_url.as_deref())? {
            Some(url) => Some(WriteOnly::Set(url)),
            None if self.stored.is_some_and(|s| s.webhook_url().is_some()) => Some(WriteOnly::Keep),
            None => {
                self.fail("webhookUrl", FieldProblem::UrlRequired);
                None
            }
        }
    }

    /// A signing secret as given: `None` when left out, `Some("")` to remove it.
    fn secret_form(&mut self) -> Option<Option<&str>> {
        use crate::notifications::FieldProblem;
        match self.input.secret.as_deref() {
            Some(secret) if secret.chars().count() > MAX_SECRET_CHARS || secret.chars().any(char::is_whitespace) => {
                self.fail("secret", FieldProblem::SecretForm { max: MAX_SECRET_CHARS });
                None
            }
            given => Some(given),
        }
    }

    /// A bot's optional secret: left out keeps the stored one, `""` removes it.
    fn optional_secret(&mut self) -> Option<Option<WriteOnly>> {
        Some(match self.secret_form()? {
            Some("") => None,
            Some(secret) => Some(WriteOnly::Set(secret.to_owned())),
            None => self
                .stored
                .is_some_and(|s| s.secret().is_some())
                .then_some(WriteOnly::Keep),
        })
    }

    /// A signed webhook's secret: it always signs, so `""` is no secret; left out keeps the
    /// stored one (a new target gets one generated).
    fn signing_secret(&mut self) -> Option<WriteOnly> {
        match self.secret_form()? {
            Some("") => {
                self.fail("secret", crate::notifications::FieldProblem::Required);
                None
            }
            Some(secret) => Some(WriteOnly::Set(secret.to_owned())),
            None => Some(WriteOnly::Keep),
        }
    }

    fn telegram(&mut self) -> Option<TelegramChat<WriteOnly>> {
        use crate::notifications::FieldProblem;
        let input = self.input;
        let bot_token = match input.bot_token.as_deref() {
            None if matches!(self.stored, Some(ChannelConfig::Telegram(_))) => Some(WriteOnly::Keep),
            None => {
                self.fail("botToken", FieldProblem::Required);
                None
            }
            Some(token) if !is_bot_token(token) => {
                self.fail("botToken", FieldProblem::BotToken);
                None
            }
            Some(token) => Some(WriteOnly::Set(token.to_owned())),
        };
        let chat_id = match input.chat_id.as_deref() {
            None => {
                self.fail("chatId", FieldProblem::Required);
                None
            }
            Some(chat) if !is_chat_id(chat) => {
                self.fail("chatId", FieldProblem::ChatId);
                None
            }
            Some(chat) => Some(chat.to_owned()),
        };
        let api_base_url = self.url("apiBaseUrl", input.api_base_url.as_deref());
        Some(TelegramChat {
            bot_token: bot_token?,
            chat_id: chat_id?,
            message_thread_id: input.message_thread_id,
            api_base_url: api_base_url?,
        })
    }

    fn custom(&mut self) -> Option<CustomHook<WriteOnly>> {
        use crate::notifications::FieldProblem;
        let webhook_url = self.webhook_url();
        let stored = match self.stored {
            Some(ChannelConfig::Custom(hook)) => Some(hook),
            _ => None,
        };
        let template = match (&self.input.template, stored.map(|s| &s.template)) {
            (Some(t), _) if !t.is_object() => {
                self.fail("template", FieldProblem::Template("must be a JSON object".into()));
                None
            }
            (Some(t), _) | (None, Some(t)) => Some(t.clone()),
            (None, None) => {
                self.fail("template", FieldProblem::Required);
                None
            }
        };
        let headers = match &self.input.headers {
            Some(headers) => self.headers(headers, stored),
            // Left out, every stored header keeps its value.
            None => Some(
                stored
                    .map(|s| s.headers.keys().map(|name| (name.clone(), WriteOnly::Keep)).collect())
                    .unwrap_or_default(),
            ),
        };
        Some(CustomHook {
            webhook_url: webhook_url?,
            template: template?,
            headers: headers?,
        })
    }

    /// Headers to send: a value of `null` keeps the stored value of that header.
    fn headers(
        &mut self,
        headers: &BTreeMap<String, Option<String>>,
        stored: Option<&CustomHook<Shown>>,
    ) -> Option<BTreeMap<String, WriteOnly>> {
        use crate::notifications::FieldProblem;
        let before = self.errors.0.len();
        if headers.len() > MAX_HEADERS {
            self.fail("headers", FieldProblem::TooMany { max: MAX_HEADERS });
        }
        let mut parsed = BTreeMap::new();
        for (name, value) in headers {
            let path = format!("headers.{name}");
            if !is_allowed_header_name(name) {
                self.fail(&path, FieldProblem::HeaderName);
                continue;
            }
            let stored = stored.is_some_and(|s| s.headers.keys().any(|h| h.eq_ignore_ascii_case(name)));
            match value {
                // Keeping a value needs one to keep.
                None if !stored => self.fail(&path, FieldProblem::Required),
                None => {
                    parsed.insert(name.clone(), WriteOnly::Keep);
                }
                Some(v) if v.chars().count() > MAX_HEADER_VALUE_CHARS || v.chars().any(|c| c.is_control()) => {
                    self.fail(
                        &path,
                        FieldProblem::HeaderValue {
                            max: MAX_HEADER_VALUE_CHARS,
                        },
                    );
                }
                Some(v) => {
                    parsed.insert(name.clone(), WriteOnly::Set(v.clone()));
                }
            }
        }
        (self.errors.0.len() == before).then_some(parsed)
    }

    /// The channel's own settings, each judged by the channel's rules.
    fn config(&mut self, channel: ChannelKind) -> Option<ChannelConfig<WriteOnly>> {
        let input = self.input;
        for field in CHANNEL_FIELDS {
            let given = match field {
                "webhookUrl" => input.webhook_url.is_some(),
                // An empty secret asks to remove one: nothing to refuse where there is none.
                "secret" => input.secret.as_deref().is_some_and(|s| !s.is_empty()),
                "botToken" => input.bot_token.is_some(),
                "chatId" => input.chat_id.is_some(),
                "messageThreadId" => input.message_thread_id.is_some(),
                "apiBaseUrl" => input.api_base_url.is_some(),
                "template" => input.template.is_some(),
                _ => input.headers.is_some(),
            };
            if given && !channel.takes(field) {
                self.fail(
                    field,
                    crate::notifications::FieldProblem::NotTaken(channel.key().into()),
                );
            }
        }
        let hook = |c: &mut Self| c.webhook_url().map(|webhook_url| Hook { webhook_url });
        let signed = |c: &mut Self| {
            let (webhook_url, secret) = (c.webhook_url(), c.optional_secret());
            Some(SignedHook {
                webhook_url: webhook_url?,
                secret: secret?,
            })
        };
        Some(match channel {
            ChannelKind::Wecom => ChannelConfig::Wecom(hook(self)?),
            ChannelKind::Slack => ChannelConfig::Slack(hook(self)?),
            ChannelKind::Discord => ChannelConfig::Discord(hook(self)?),
            ChannelKind::Feishu => ChannelConfig::Feishu(signed(self)?),
            ChannelKind::Dingtalk => ChannelConfig::Dingtalk(signed(self)?),
            ChannelKind::Webhook => {
                let (webhook_url, secret) = (self.webhook_url(), self.signing_secret());
                ChannelConfig::Webhook(StandardWebhook {
                    webhook_url: webhook_url?,
                    secret: secret?,
                })
            }
            ChannelKind::Telegram => ChannelConfig::Telegram(self.telegram()?),
            ChannelKind::Custom => ChannelConfig::Custom(self.custom()?),
        })
    }
}

impl PushTargetInput {
    /// A target named `name`, enabled, with nothing else said: a start for the fields to set.
    pub fn named(name: impl Into<String>) -> Self {
        PushTargetInput {
            name: name.into(),
            channel: None,
            enabled: true,
            webhook_url: None,
            secret: None,
            bot_token: None,
            chat_id: None,
            message_thread_id: None,
            api_base_url: None,
            template: None,
            headers: None,
            proxy_url: None,
            proxy_fallback_direct: false,
            rate_limit: None,
        }
    }

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

    /// The edit the input means, or every problem of form (the server adds its SSRF rules, the
    /// template's placeholders and the signing secret's key).
    pub fn validate(
        &self,
        stored: Option<&ChannelConfig<Shown>>,
    ) -> Result<TargetEdit, crate::notifications::FieldErrors> {
        use crate::notifications::{check_url_form, FieldProblem};
        let mut check = Checker {
            input: self,
            stored,
            errors: Default::default(),
        };
        if self.name.is_empty() || self.name.chars().count() > MAX_NAME_CHARS {
            check.fail("name", FieldProblem::NameLength { max: MAX_NAME_CHARS });
        }
        let Some(channel) = self.channel(stored.map(ChannelConfig::kind)) else {
            check.fail("channel", FieldProblem::ChannelRequired);
            // Without a channel only a URL can name one: it is what is missing or wrong.
            match self.webhook_url.as_deref().map(check_url_form) {
                None => check.fail("webhookUrl", FieldProblem::UrlRequired),
                Some(Err(problem)) => check.fail("webhookUrl", problem),
                Some(Ok(())) => {}
            }
            return Err(check.errors);
        };
        let config = check.config(channel);
        if let Some(proxy) = self.proxy_url.as_deref() {
            if let Err(problem) = check_proxy_form(proxy) {
                check.fail("proxyUrl", problem);
            }
        }
        if let Some(budget) = self.rate_limit {
            if !(1..=MAX_BUDGET_SENDS).contains(&budget.sends)
                || !(1..=MAX_BUDGET_SECONDS).contains(&budget.per_seconds)
            {
                check.fail(
                    "rateLimit",
                    FieldProblem::Budget {
                        max_sends: MAX_BUDGET_SENDS,
                        max_seconds: MAX_BUDGET_SECONDS,
                    },
                );
            }
        }
        match config {
            Some(config) if check.errors.is_empty() => Ok(TargetEdit {
                name: self.name.clone(),
                enabled: self.enabled,
                config,
                proxy_url: self.proxy_url.clone(),
                proxy_fallback_direct: self.proxy_fallback_direct,
                rate_limit: self.rate_limit,
            }),
            _ => Err(check.errors),
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

    /// The answer's flat wire form, with each channel's fields read into its arm and back.
    #[test]
    fn a_view_is_one_flat_object_on_the_wire() {
        let wire = |channel: &str, fields: serde_json::Value| {
            let mut json = serde_json::json!({"id": 1, "name": "n", "channel": channel, "enabled": true,
                "webhookUrl": null, "hasSecret": false, "hasBotToken": false, "chatId": null,
                "messageThreadId": null, "apiBaseUrl": null, "template": null, "headerNames": [],
                "proxyUrl": null, "proxyFallbackDirect": false, "rateLimit": null,
                "defaultRateLimit": {"sends": 20, "perSeconds": 60}, "endpoint": "https://example.com",
                "kinds": [], "lastTest": null});
            json.as_object_mut()
                .unwrap()
                .extend(fields.as_object().unwrap().clone());
            json
        };
        let cases = [
            (
                wire(
                    "telegram",
                    serde_json::json!({"hasBotToken": true, "chatId": "-100", "messageThreadId": 7}),
                ),
                ChannelConfig::Telegram(TelegramChat {
                    bot_token: Shown::Set,
                    chat_id: "-100".into(),
                    message_thread_id: Some(7),
                    api_base_url: None,
                }),
            ),
            (
                wire(
                    "custom",
                    serde_json::json!({"webhookUrl": "https://example.com/h", "template": {"t": "{{title}}"},
                        "headerNames": ["Authorization"]}),
                ),
                ChannelConfig::Custom(CustomHook {
                    webhook_url: Shown::Url("https://example.com/h".into()),
                    template: serde_json::json!({"t": "{{title}}"}),
                    headers: BTreeMap::from([("Authorization".to_owned(), Shown::Set)]),
                }),
            ),
            (
                wire(
                    "feishu",
                    serde_json::json!({"webhookUrl": "https://open.feishu.cn/open-apis/bot/v2/hook/***",
                        "hasSecret": true}),
                ),
                ChannelConfig::Feishu(SignedHook {
                    webhook_url: Shown::Url("https://open.feishu.cn/open-apis/bot/v2/hook/***".into()),
                    secret: Some(Shown::Set),
                }),
            ),
        ];
        for (json, config) in cases {
            let view: PushTargetView = serde_json::from_value(json.clone()).unwrap();
            assert_eq!(view.config, config);
            assert_eq!(serde_json::to_value(&view).unwrap(), json);
        }
        let refused = serde_json::from_value::<PushTargetView>(wire("wecom", serde_json::json!({})));
        assert!(refused
            .unwrap_err()
            .to_string()
            .contains("a wecom target without webhookUrl"));
    }

    #[test]
    fn keys_round_trip_and_match_serde() {
        for c in ChannelKind::ALL {
            assert_eq!(ChannelKind::from_key(c.key()), Some(c));
            assert_eq!(serde_json::to_value(c).unwrap(), c.key());
        }
        assert_eq!(ChannelKind::from_key("WeCom"), None);
    }

    /// The channel of a valid input.
    fn kind_of(
        checked: Result<TargetEdit, crate::notifications::FieldErrors>,
    ) -> Result<ChannelKind, crate::notifications::FieldErrors> {
        checked.map(|edit| edit.config.kind())
    }

    fn input(json: serde_json::Value) -> PushTargetInput {
        serde_json::from_value::<PushTargetInput>(json).unwrap().normalized()
    }

    /// A target of `channel` as the page knows it: a custom one has a template and a header.
    fn stored(channel: ChannelKind) -> ChannelConfig<Shown> {
        let webhook_url = Shown::Url("https://example.com/hook?key=***".into());
        match channel {
            ChannelKind::Wecom => ChannelConfig::Wecom(Hook { webhook_url }),
            ChannelKind::Feishu => ChannelConfig::Feishu(SignedHook {
                webhook_url,
                secret: None,
            }),
            ChannelKind::Webhook => ChannelConfig::Webhook(StandardWebhook {
                webhook_url,
                secret: Shown::Set,
            }),
            ChannelKind::Custom => ChannelConfig::Custom(CustomHook {
                webhook_url,
                template: serde_json::json!({"text": "{{text}}"}),
                headers: BTreeMap::from([("Authorization".to_owned(), Shown::Set)]),
            }),
            other => panic!("no stored {other:?} in these tests"),
        }
    }

    #[test]
    fn custom_webhook_proxy_and_budget_settings_are_checked() {
        use crate::notifications::FieldProblem;
        let check =
            |json: serde_json::Value, stored: Option<&ChannelConfig<Shown>>| kind_of(input(json).validate(stored));
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
        assert_eq!(kind_of(ok.validate(None)), Ok(ChannelKind::Wecom));

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
        let tg = |json: serde_json::Value| kind_of(input(json).validate(None));
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
            kind_of(feishu.validate(None)),
            Ok(ChannelKind::Feishu),
            "the host names the channel"
        );
        let keep = input(serde_json::json!({"name": "a"}));
        assert_eq!(
            kind_of(keep.validate(Some(&stored(ChannelKind::Wecom)))),
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
                .map(|edit| edit.config.kind())
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
    fn an_input_means_one_typed_edit_that_keeps_sets_or_removes() {
        let url = "https://open.feishu.cn/open-apis/bot/v2/hook/x";
        let signed = ChannelConfig::Feishu(SignedHook {
            webhook_url: Shown::Url(url.into()),
            secret: Some(Shown::Set),
        });
        let feishu = |json: serde_json::Value| input(json).validate(Some(&signed)).unwrap().config;
        let secret = |config: ChannelConfig<WriteOnly>| match config {
            ChannelConfig::Feishu(hook) => (hook.webhook_url, hook.secret),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            secret(feishu(serde_json::json!({"name": "a"}))),
            (WriteOnly::Keep, Some(WriteOnly::Keep)),
            "left out, both are kept"
        );
        assert_eq!(
            secret(feishu(
                serde_json::json!({"name": "a", "secret": "", "webhookUrl": url})
            )),
            (WriteOnly::Set(url.into()), None),
            "an empty secret removes it"
        );
        assert_eq!(
            secret(feishu(serde_json::json!({"name": "a", "secret": "SEC1"}))).1,
            Some(WriteOnly::Set("SEC1".into()))
        );
        let custom = input(serde_json::json!({"name": "C", "headers": {"authorization": null, "X-New": "v"}}))
            .validate(Some(&stored(ChannelKind::Custom)))
            .unwrap();
        let ChannelConfig::Custom(hook) = custom.config else {
            panic!("{custom:?}")
        };
        assert_eq!(
            hook.template,
            serde_json::json!({"text": "{{text}}"}),
            "the stored template"
        );
        assert_eq!(
            hook.headers,
            BTreeMap::from([
                ("X-New".into(), WriteOnly::Set("v".into())),
                ("authorization".into(), WriteOnly::Keep)
            ])
        );
        let webhook =
            input(serde_json::json!({"name": "W", "channel": "webhook", "webhookUrl": "https://example.com/x"}))
                .validate(None)
                .unwrap();
        assert_eq!(
            webhook.config.secret(),
            Some(&WriteOnly::Keep),
            "a new signed webhook's secret is made for it"
        );
        assert_eq!(format!("{:?}", WriteOnly::Set("SEC1".into())), "Set(***)");

        // Kept values come from the stored config, header names in any case; new ones are set.
        let before = ChannelConfig::Custom(CustomHook {
            webhook_url: "https://old.example/x".to_owned(),
            template: serde_json::json!({}),
            headers: BTreeMap::from([("Authorization".to_owned(), "Bearer old".to_owned())]),
        });
        let mut missing = Vec::new();
        let after = ChannelConfig::Custom(hook).resolve(
            Some(&before),
            |v| v,
            |path| {
                missing.push(path.to_owned());
                String::new()
            },
        );
        let ChannelConfig::Custom(after) = after else {
            panic!("{after:?}")
        };
        assert_eq!(after.webhook_url, "https://old.example/x");
        assert_eq!(after.headers["authorization"], "Bearer old");
        assert_eq!(after.headers["X-New"], "v");
        assert!(missing.is_empty(), "{missing:?}");
        let made = webhook
            .config
            .resolve(None::<&ChannelConfig<String>>, |v| v, |path| format!("made {path}"));
        assert_eq!(made.secret().map(String::as_str), Some("made secret"));
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
