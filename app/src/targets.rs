//! Push targets (推送目标): the platforms a notification can be delivered to, and which one a
//! pasted webhook URL belongs to (the page shows it as a badge; the API takes it as the default).
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

/// The channels this release delivers to.
pub const DELIVERING: [ChannelKind; 5] = [
    ChannelKind::Wecom,
    ChannelKind::Feishu,
    ChannelKind::Dingtalk,
    ChannelKind::Slack,
    ChannelKind::Discord,
];

impl ChannelKind {
    /// Whether the platform signs requests with a secret of the bot's (签名校验 / 加签).
    pub fn takes_secret(self) -> bool {
        matches!(self, ChannelKind::Feishu | ChannelKind::Dingtalk)
    }
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
/// set; a webhook URL is shown to admins as they entered it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PushTargetView {
    pub id: i64,
    pub name: String,
    pub channel: ChannelKind,
    pub enabled: bool,
    pub webhook_url: Option<String>,
    /// Whether a signing secret is set (the secret itself is never shown).
    pub has_secret: bool,
    /// `scheme://host[:port]` of where it sends.
    pub endpoint: String,
    /// The kinds bound to it.
    pub kinds: Vec<crate::notifications::NotificationKind>,
    pub last_test: Option<LastTest>,
}

/// A push target to create, or the new state of one (`PUT`). Left out of a `PUT`, the
/// webhook URL is kept.
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
    #[serde(default)]
    pub webhook_url: Option<String>,
    /// The signing secret of a Feishu bot or a DingTalk robot; write-only. Left out of a `PUT`,
    /// the stored one is kept; `""` removes it.
    #[serde(default)]
    pub secret: Option<String>,
}

fn enabled_by_default() -> bool {
    true
}

impl PushTargetInput {
    /// Trimmed, blank URL as none.
    pub fn normalized(mut self) -> Self {
        self.name = self.name.trim().to_owned();
        self.webhook_url = self.webhook_url.map(|u| u.trim().to_owned()).filter(|u| !u.is_empty());
        self
    }

    /// The channel, and every problem of form (the server adds its SSRF rules). An edit passes
    /// the target's channel, the default when none is given, and whether it has a URL to keep.
    pub fn validate(
        &self,
        stored_channel: Option<ChannelKind>,
        stored_url: bool,
    ) -> Result<ChannelKind, crate::notifications::FieldErrors> {
        use crate::notifications::{check_url_form, FieldErrors, FieldProblem};
        let mut errors = FieldErrors::default();
        if self.name.is_empty() || self.name.chars().count() > MAX_NAME_CHARS {
            errors.insert("name".into(), FieldProblem::NameLength { max: MAX_NAME_CHARS });
        }
        match self.webhook_url.as_deref() {
            None if !stored_url => errors.insert("webhookUrl".into(), FieldProblem::UrlRequired),
            None => {}
            Some(url) => {
                if let Err(problem) = check_url_form(url) {
                    errors.insert("webhookUrl".into(), problem);
                }
            }
        }
        let channel = self
            .channel
            .or(stored_channel)
            .or_else(|| self.webhook_url.as_deref().and_then(ChannelKind::detect));
        match channel {
            None => errors.insert("channel".into(), FieldProblem::ChannelRequired),
            Some(c) if !DELIVERING.contains(&c) => {
                errors.insert("channel".into(), FieldProblem::ChannelUnavailable(c.key().into()))
            }
            Some(_) => {}
        }
        if let (Some(c), Some(secret)) = (channel, self.secret.as_deref()) {
            if !c.takes_secret() && !secret.is_empty() {
                errors.insert("secret".into(), FieldProblem::SecretNotTaken(c.key().into()));
            } else if secret.chars().count() > MAX_SECRET_CHARS || secret.chars().any(char::is_whitespace) {
                errors.insert("secret".into(), FieldProblem::SecretForm { max: MAX_SECRET_CHARS });
            }
        }
        match channel {
            Some(channel) if errors.is_empty() => Ok(channel),
            _ => Err(errors),
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

    #[test]
    fn target_input_is_checked_field_by_field() {
        use crate::notifications::FieldProblem;
        let ok = input(
            serde_json::json!({"name": " 值班群 ", "webhookUrl": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k"}),
        );
        assert_eq!(ok.name, "值班群");
        assert!(ok.enabled, "enabled unless said otherwise");
        assert_eq!(ok.validate(None, false), Ok(ChannelKind::Wecom));

        let bad = input(serde_json::json!({"name": "", "webhookUrl": "ftp://x"}));
        let errors = bad.validate(None, false).unwrap_err();
        assert_eq!(
            errors.get("name"),
            Some(&FieldProblem::NameLength { max: MAX_NAME_CHARS })
        );
        assert_eq!(errors.get("webhookUrl"), Some(&FieldProblem::UrlScheme));
        assert_eq!(errors.get("channel"), Some(&FieldProblem::ChannelRequired));

        let telegram =
            input(serde_json::json!({"name": "TG", "channel": "telegram", "webhookUrl": "https://example.com/x"}));
        assert_eq!(
            telegram.validate(None, false).unwrap_err().get("channel"),
            Some(&FieldProblem::ChannelUnavailable("telegram".into()))
        );
        let feishu =
            input(serde_json::json!({"name": "飞书", "webhookUrl": "https://open.feishu.cn/open-apis/bot/v2/hook/x"}));
        assert_eq!(
            feishu.validate(None, false),
            Ok(ChannelKind::Feishu),
            "the host names the channel"
        );
        let keep = input(serde_json::json!({"name": "a"}));
        assert_eq!(
            keep.validate(Some(ChannelKind::Wecom), true),
            Ok(ChannelKind::Wecom),
            "an edit keeps the stored URL and channel"
        );
        assert_eq!(
            keep.validate(None, false).unwrap_err().get("webhookUrl"),
            Some(&FieldProblem::UrlRequired)
        );
        assert!(serde_json::from_value::<PushTargetInput>(serde_json::json!({"name": "a", "botTokn": "x"})).is_err());

        let signed = |channel: &str, secret: &str| {
            input(serde_json::json!({"name": "a", "channel": channel, "webhookUrl": "https://example.com/x", "secret": secret}))
                .validate(None, false)
        };
        assert_eq!(signed("feishu", "SECabc"), Ok(ChannelKind::Feishu));
        assert_eq!(signed("dingtalk", "SECabc"), Ok(ChannelKind::Dingtalk));
        assert_eq!(
            signed("wecom", "SECabc").unwrap_err().get("secret"),
            Some(&FieldProblem::SecretNotTaken("wecom".into()))
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
