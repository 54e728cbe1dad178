//! One notification kind's card: its switch, its own fields, its Webhook URL with 测试连接,
//! 立即发送 for the scheduled kinds, and its push targets.
use leptos::prelude::*;

use super::draft::Draft;
use super::kind_targets::KindTargets;
use crate::api::notifications::{run_notification_now, test_webhook};
use crate::components::form::{failure_text, Switch, TextField};
use crate::components::toast::{ToastKind, Toasts};
use crate::i18n::{t, t_string, use_i18n};
use crate::notifications::{FieldErrors, NotificationKind};
use crate::targets::PushTargetView;

/// One notification kind: its switch and, while it is on, its webhook URL with 测试连接 and (as
/// children) its own fields.
#[component]
pub(super) fn KindCard(
    kind: NotificationKind,
    draft: RwSignal<Draft>,
    errors: RwSignal<FieldErrors>,
    toasts: Toasts,
    known: RwSignal<Vec<PushTargetView>>,
    #[prop(optional)] children: Option<ChildrenFn>,
) -> impl IntoView {
    let i18n = use_i18n();
    let enabled = move || draft.with(|d| d.kind(kind).enabled);
    let set_enabled = move |on: bool| draft.update(|d| d.kind_mut(kind).enabled = on);
    let url = move || draft.with(|d| d.kind(kind).url.clone());
    let set_url = move |v: String| draft.update(|d| d.kind_mut(kind).url = v);
    let master_off = move || !draft.with(|d| d.enabled);
    let title = move || match kind {
        NotificationKind::CircuitBreaker => t!(i18n, kind_circuit_breaker).into_any(),
        NotificationKind::DailyLeaderboard => t!(i18n, kind_daily_leaderboard).into_any(),
        NotificationKind::CostAlert => t!(i18n, kind_cost_alert).into_any(),
    };
    let trigger = move || match kind {
        NotificationKind::CircuitBreaker => t!(i18n, kind_circuit_breaker_trigger).into_any(),
        NotificationKind::DailyLeaderboard => t!(i18n, kind_daily_leaderboard_trigger).into_any(),
        NotificationKind::CostAlert => t!(i18n, kind_cost_alert_trigger).into_any(),
    };
    let switch_label = move || match kind {
        NotificationKind::CircuitBreaker => t_string!(i18n, enable_circuit_breaker).to_string(),
        NotificationKind::DailyLeaderboard => t_string!(i18n, enable_daily_leaderboard).to_string(),
        NotificationKind::CostAlert => t_string!(i18n, enable_cost_alert).to_string(),
    };

    let test = Action::new(move |url: &String| {
        let url = url.clone();
        async move { test_webhook(kind, url).await }
    });
    Effect::new(move |_| {
        let Some(result) = test.value().get() else { return };
        match result {
            Ok(()) => toasts.push(ToastKind::Success, t_string!(i18n, toast_test_ok).to_string()),
            Err(e) => toasts.push(
                ToastKind::Error,
                format!("{}: {}", t_string!(i18n, toast_test_failed), failure_text(i18n, &e)),
            ),
        }
    });
    let url_path = format!("{}.webhookUrl", kind.key());

    view! {
        <section class="card kind-card" class:inactive=master_off data-kind=kind.key() data-testid=format!("card-{}", kind.key())>
            <header class="kind-header">
                <h2>{title}</h2>
                <Switch
                    checked=Signal::derive(enabled)
                    on_toggle=set_enabled
                    disabled=Signal::derive(master_off)
                    test_id=format!("switch-{}", kind.key())
                    label=Signal::derive(switch_label)
                />
            </header>
            <p class="muted small">{trigger}</p>
            <Show when=enabled>
                {children.clone().map(|fields| fields())}
                <div class="field-row webhook-row">
                    <TextField
                        label=move || t!(i18n, field_webhook_url).into_any()
                        hint=|| ().into_any()
                        path=url_path.clone()
                        input_type="url"
                        placeholder=t_string!(i18n, field_webhook_placeholder).to_string()
                        value=Signal::derive(url)
                        on_input=set_url
                        disabled=Signal::derive(master_off)
                        errors
                    />
                    <button
                        type="button"
                        class="btn btn-ghost test-button"
                        data-testid=format!("test-{}", kind.key())
                        disabled=move || master_off() || test.pending().get() || url().trim().is_empty()
                        on:click=move |_| {
                            test.dispatch(url().trim().to_owned());
                        }
                    >
                        {move || if test.pending().get() { t!(i18n, testing).into_any() } else { t!(i18n, test_connection).into_any() }}
                    </button>
                </div>
                {(kind != NotificationKind::CircuitBreaker).then(|| view! { <RunNow kind draft toasts /> })}
                <KindTargets kind draft known toasts />
            </Show>
        </section>
    }
    .into_any()
}

/// 立即发送: runs a scheduled kind now, as its schedule would.
#[component]
fn RunNow(kind: NotificationKind, draft: RwSignal<Draft>, toasts: Toasts) -> impl IntoView {
    let i18n = use_i18n();
    let master_off = move || !draft.with(|d| d.enabled);
    let run = Action::new(move |_: &()| run_notification_now(kind));
    Effect::new(move |_| {
        let Some(result) = run.value().get() else { return };
        match result {
            Ok(summary) => {
                let count = summary.deliveries.len();
                let text = match summary.over_threshold {
                    Some(over) => t_string!(i18n, toast_run_cost, over = over, count = count).to_string(),
                    None => t_string!(i18n, toast_run_ok, count = count).to_string(),
                };
                toasts.push(ToastKind::Success, text)
            }
            Err(e) => toasts.push(
                ToastKind::Error,
                format!("{}: {}", t_string!(i18n, toast_run_failed), failure_text(i18n, &e)),
            ),
        }
    });
    view! {
        <div class="field-row run-row">
            <button
                type="button"
                class="btn btn-ghost"
                data-testid=format!("run-{}", kind.key())
                title=move || t_string!(i18n, send_now_hint).to_string()
                disabled=move || master_off() || run.pending().get()
                on:click=move |_| {
                    run.dispatch(());
                }
            >
                {move || if run.pending().get() { t!(i18n, sending_now).into_any() } else { t!(i18n, send_now).into_any() }}
            </button>
            <span class="muted small">{t!(i18n, send_now_hint)}</span>
        </div>
    }
}
