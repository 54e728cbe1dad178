//! Push targets as 推送目标, 消息推送 and 投递记录 show them: a channel's name and badge, a kind's
//! name, and the outcome of a target's test in the admin's words.
use leptos::prelude::*;

use crate::components::form::failure_text;
use crate::components::toast::{ToastKind, Toasts};
use crate::error::AppError;
use crate::i18n::{t_string, use_i18n};
use crate::notifications::NotificationKind;
use crate::targets::ChannelKind;
use crate::I18n;

/// 企业微信, 飞书, … in the admin's language.
pub fn channel_name(i18n: I18n, channel: ChannelKind) -> String {
    match channel {
        ChannelKind::Wecom => t_string!(i18n, channel_wecom).to_string(),
        ChannelKind::Feishu => t_string!(i18n, channel_feishu).to_string(),
        ChannelKind::Dingtalk => t_string!(i18n, channel_dingtalk).to_string(),
        ChannelKind::Telegram => t_string!(i18n, channel_telegram).to_string(),
        ChannelKind::Slack => t_string!(i18n, channel_slack).to_string(),
        ChannelKind::Discord => t_string!(i18n, channel_discord).to_string(),
        ChannelKind::Webhook => t_string!(i18n, channel_webhook).to_string(),
        ChannelKind::Custom => t_string!(i18n, channel_custom).to_string(),
    }
}

/// 熔断器告警, 每日排行榜, 成本预警.
pub fn kind_name(i18n: I18n, kind: NotificationKind) -> String {
    match kind {
        NotificationKind::CircuitBreaker => t_string!(i18n, kind_circuit_breaker).to_string(),
        NotificationKind::DailyLeaderboard => t_string!(i18n, kind_daily_leaderboard).to_string(),
        NotificationKind::CostAlert => t_string!(i18n, kind_cost_alert).to_string(),
    }
}

/// The channel as a badge; `data-channel` carries its API name for tests and styles.
#[component]
pub fn ChannelBadge(channel: ChannelKind, #[prop(optional, into)] test_id: Option<String>) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <span
            class="badge channel-badge"
            data-channel=channel.key()
            data-testid=test_id.unwrap_or_else(|| "channel-badge".into())
        >
            {move || channel_name(i18n, channel)}
        </span>
    }
}

/// What a pasted URL is, once it is a URL of a known platform: 识别为 飞书.
#[component]
pub fn DetectedBadge(#[prop(into)] url: Signal<String>, test_id: String) -> impl IntoView {
    let i18n = use_i18n();
    let detected = Memo::new(move |_| url.with(|u| ChannelKind::detect(u)));
    view! {
        {move || detected.get().map(|channel| view! {
            <span class="detected" data-testid=test_id.clone() data-channel=channel.key()>
                {move || t_string!(i18n, target_detected).to_string()}" "
                <ChannelBadge channel />
            </span>
        })}
    }
}

/// An action that tests a target with a kind's message and says how it went.
pub fn test_target_action(
    toasts: Toasts,
    after: impl Fn() + 'static,
) -> Action<(i64, NotificationKind), Result<u32, AppError>> {
    let i18n = use_i18n();
    let action = Action::new(move |&(id, kind): &(i64, NotificationKind)| async move {
        crate::api::targets::test_push_target(id, kind).await
    });
    Effect::new(move |_| {
        let Some(result) = action.value().get() else { return };
        match result {
            Ok(latency) => toasts.push(
                ToastKind::Success,
                t_string!(i18n, toast_target_test_ok, latency = latency).to_string(),
            ),
            Err(e) => toasts.push(
                ToastKind::Error,
                format!("{}: {}", t_string!(i18n, toast_test_failed), failure_text(i18n, &e)),
            ),
        }
        after();
    });
    action
}
