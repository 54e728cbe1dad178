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
