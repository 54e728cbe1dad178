//! Which channel delivers to each platform: the one place that names every channel file.
use app::targets::ChannelKind;

use crate::channels::targets::Destination;
use crate::channels::{custom, dingtalk, discord, feishu, slack, telegram, webhook, wecom, Channel};

/// The channel delivering to `kind`'s targets.
pub fn channel_of(kind: ChannelKind) -> &'static dyn Channel {
    match kind {
        ChannelKind::Wecom => &wecom::WeCom,
        ChannelKind::Feishu => &feishu::Feishu,
        ChannelKind::Dingtalk => &dingtalk::DingTalk,
        ChannelKind::Slack => &slack::Slack,
        ChannelKind::Discord => &discord::Discord,
        ChannelKind::Telegram => &telegram::Telegram,
        ChannelKind::Webhook => &webhook::SignedWebhook,
        ChannelKind::Custom => &custom::Custom,
    }
}

/// The webhook URL as answers show it: the key its platform keeps in it (a query value, a token
/// in the path) masked by the channel's own rules.
pub fn masked_webhook_url(to: &Destination) -> Option<String> {
    let url = to.webhook_url()?.to_owned();
    Some(channel_of(to.config.kind()).mask_secrets(url, to))
}
