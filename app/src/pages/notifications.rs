//! `/settings/notifications` (消息推送): the master switch, one card per kind with its own
//! webhook and 测试连接, and one 保存设置 for everything.
use leptos::ev;
use leptos::prelude::*;

use crate::api::notifications::{
    load_notification_settings, run_notification_now, save_notification_settings, test_webhook, SettingsView,
};
use crate::api::targets::{create_push_target, list_push_targets};
use crate::components::form::{failure_text, use_edit_form, Switch, TextField};
use crate::components::hydration::settled;
use crate::components::targets::{channel_name, kind_name, test_target_action, ChannelBadge, DetectedBadge};
use crate::components::toast::{ToastKind, Toaster, Toasts};
use crate::i18n::{t, t_string, use_i18n};
use crate::notifications::{
    CircuitBreakerSettings, CostAlertSettings, DailyLeaderboardSettings, FieldErrors, FieldProblem, NotificationKind,
    NotificationSettings,
};
use crate::routes::UnsavedChanges;
use crate::targets::{ChannelKind, PushTargetInput, PushTargetView};

#[component]
pub fn NotificationsPage() -> impl IntoView {
    let i18n = use_i18n();
    let loaded = Resource::new(|| (), |_| load_notification_settings());
    view! {
        <h1 class="page-title" data-testid="notifications-title">{t!(i18n, notifications_title)}</h1>
        <p class="muted">{t!(i18n, notifications_intro)}</p>
        <Transition fallback=|| view! { <div class="card skeleton" data-testid="settings-loading"></div> }>
            {move || Suspend::new(async move {
                settled(match loaded.await {
                    Ok(view) => view! { <SettingsForm initial=view /> }.into_any(),
                    Err(_) => view! {
                        <div class="card form-error" role="alert">{t!(i18n, load_failed)}</div>
                    }.into_any(),
                })
            })}
        </Transition>
    }
}

/// The form's state: text as typed (numbers included), so half-typed input is never lost.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Draft {
    enabled: bool,
    /// Switch and webhook URL of each kind, in `NotificationKind::ALL` order.
    kinds: [KindDraft; 3],
    dl_time: String,
    dl_top_n: String,
    ca_threshold: String,
    ca_interval: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct KindDraft {
    enabled: bool,
    url: String,
    /// The kind's targets as loaded: sent back, so a save keeps those the page does not show.
    target_ids: Option<Vec<i64>>,
}

impl Draft {
    fn from_settings(s: &NotificationSettings) -> Self {
        Draft {
            enabled: s.enabled,
            kinds: NotificationKind::ALL.map(|kind| KindDraft {
                enabled: s.kind_enabled(kind),
                url: s.webhook_url(kind).unwrap_or_default().to_owned(),
                target_ids: s.target_ids(kind).map(<[i64]>::to_vec),
            }),
            dl_time: s.daily_leaderboard.time.clone(),
            dl_top_n: s.daily_leaderboard.top_n.to_string(),
            ca_threshold: s.cost_alert.threshold_percent.to_string(),
            ca_interval: s.cost_alert.check_interval_minutes.to_string(),
        }
    }

    fn kind(&self, kind: NotificationKind) -> &KindDraft {
        &self.kinds[kind as usize]
    }

    fn kind_mut(&mut self, kind: NotificationKind) -> &mut KindDraft {
        &mut self.kinds[kind as usize]
    }

    /// A kind loaded without its targets (an older server) gets those the target list binds to
    /// it, so that a save sends the list the page shows.
    fn fill_targets(&mut self, targets: &[PushTargetView]) {
        for kind in NotificationKind::ALL {
            let ids = &mut self.kind_mut(kind).target_ids;
            if ids.is_none() {
                *ids = Some(
                    targets
                        .iter()
                        .filter(|t| t.kinds.contains(&kind))
                        .map(|t| t.id)
                        .collect(),
                );
            }
        }
    }

    fn bind(&mut self, kind: NotificationKind, id: i64) {
        let ids = self.kind_mut(kind).target_ids.get_or_insert_with(Vec::new);
        if !ids.contains(&id) {
            ids.push(id);
        }
    }

    fn unbind(&mut self, kind: NotificationKind, id: i64) {
        if let Some(ids) = &mut self.kind_mut(kind).target_ids {
            ids.retain(|i| *i != id);
        }
    }

    /// The settings this draft means, or every problem the page can see by itself.
    fn to_settings(&self) -> Result<NotificationSettings, FieldErrors> {
        let mut errors = FieldErrors::default();
        let mut number = |path: &str, text: &str| {
            text.trim().parse::<i32>().unwrap_or_else(|_| {
                errors.insert(path.into(), FieldProblem::NotANumber);
                0
            })
        };
        let top_n = number("dailyLeaderboard.topN", &self.dl_top_n);
        let threshold = number("costAlert.thresholdPercent", &self.ca_threshold);
        let interval = number("costAlert.checkIntervalMinutes", &self.ca_interval);
        let url = |kind| Some(self.kind(kind).url.clone());
        let enabled = |kind| self.kind(kind).enabled;
        let targets = |kind| self.kind(kind).target_ids.clone();
        let settings = NotificationSettings {
            enabled: self.enabled,
            circuit_breaker: CircuitBreakerSettings {
                enabled: enabled(NotificationKind::CircuitBreaker),
                webhook_url: url(NotificationKind::CircuitBreaker),
                target_ids: targets(NotificationKind::CircuitBreaker),
            },
            daily_leaderboard: DailyLeaderboardSettings {
                enabled: enabled(NotificationKind::DailyLeaderboard),
                webhook_url: url(NotificationKind::DailyLeaderboard),
                target_ids: targets(NotificationKind::DailyLeaderboard),
                time: self.dl_time.clone(),
                top_n,
            },
            cost_alert: CostAlertSettings {
                enabled: enabled(NotificationKind::CostAlert),
                webhook_url: url(NotificationKind::CostAlert),
                target_ids: targets(NotificationKind::CostAlert),
                threshold_percent: threshold,
                check_interval_minutes: interval,
            },
        }
        .normalized();
        if let Err(found) = settings.validate(&|_| Ok(())) {
            for (path, problem) in found.0 {
                // A number that did not parse keeps that message, not a range error for 0.
                errors.0.entry(path).or_insert(problem);
            }
        }
        if errors.is_empty() {
            Ok(settings)
        } else {
            Err(errors)
        }
    }
}

#[component]
fn SettingsForm(initial: SettingsView) -> impl IntoView {
    let i18n = use_i18n();
    let toasts = Toasts::new();
    let saved = RwSignal::new(Draft::from_settings(&initial.settings));
    let draft = RwSignal::new(saved.get_untracked());
    let last_saved = RwSignal::new((initial.updated_at, initial.updated_by));
    let dirty = Memo::new(move |_| draft.with(|d| saved.with(|s| d != s)));
    // Leaving with unsaved changes asks first: the browser's own prompt for reloads and other
    // sites, a confirm for links inside the app (see `UnsavedChanges`).
    if let Some(unsaved) = use_context::<UnsavedChanges>() {
        Effect::new(move |_| unsaved.0.set(dirty.get()));
        on_cleanup(move || unsaved.0.set(false));
    }
    let before_unload = window_event_listener(ev::beforeunload, move |e| {
        if dirty.get_untracked() {
            e.prevent_default();
        }
    });
    on_cleanup(move || before_unload.remove());

    // The push targets, for the kinds' lists: loaded in the browser, where they are edited.
    let targets = LocalResource::new(list_push_targets);
    let known = RwSignal::new(Vec::<PushTargetView>::new());
    Effect::new(move |_| {
        if let Some(Ok(list)) = targets.get() {
            saved.update(|d| d.fill_targets(&list));
            draft.update(|d| d.fill_targets(&list));
            known.set(list);
        }
    });

    let form = use_edit_form(
        toasts,
        draft,
        Draft::to_settings,
        save_notification_settings,
        move |view: SettingsView| {
            let fresh = Draft::from_settings(&view.settings);
            saved.set(fresh.clone());
            draft.set(fresh);
            last_saved.set((view.updated_at, view.updated_by));
            toasts.push(ToastKind::Success, t_string!(i18n, toast_saved).to_string());
            // Saving a Webhook URL may have made its WeCom target.
            targets.refetch();
        },
    );
    let errors = form.errors;

    let master_off = move || !draft.with(|d| d.enabled);
    view! {
        <Toaster toasts />
        <form class="settings-form" on:submit=move |ev| form.submit(ev) novalidate data-testid="settings-form">
            <div class="card master-row">
                <div>
                    <div class="master-label">{t!(i18n, notifications_master)}</div>
                    <p class="muted small">{t!(i18n, notifications_master_hint)}</p>
                </div>
                <Switch
                    checked=Signal::derive(move || draft.with(|d| d.enabled))
                    on_toggle=move |on| draft.update(|d| d.enabled = on)
                    disabled=Signal::derive(|| false)
                    test_id="master-switch"
                />
            </div>
            <Show when=master_off>
                <p class="notice" data-testid="master-off-notice">{t!(i18n, notifications_master_off_notice)}</p>
            </Show>

            <KindCard kind=NotificationKind::CircuitBreaker draft errors toasts known />
            <KindCard kind=NotificationKind::DailyLeaderboard draft errors toasts known>
                <div class="field-row">
                    <TextField
                        label=move || t!(i18n, field_send_time).into_any()
                        hint=move || t!(i18n, field_send_time_hint).into_any()
                        path="dailyLeaderboard.time"
                        input_type="text"
                        placeholder="HH:mm"
                        value=Signal::derive(move || draft.with(|d| d.dl_time.clone()))
                        on_input=move |v| draft.update(|d| d.dl_time = v)
                        disabled=Signal::derive(master_off)
                        errors
                    />
                    <TextField
                        label=move || t!(i18n, field_top_n).into_any()
                        hint=move || t!(i18n, field_top_n_hint).into_any()
                        path="dailyLeaderboard.topN"
                        input_type="number"
                        value=Signal::derive(move || draft.with(|d| d.dl_top_n.clone()))
                        on_input=move |v| draft.update(|d| d.dl_top_n = v)
                        disabled=Signal::derive(master_off)
                        errors
                    />
                </div>
            </KindCard>
            <KindCard kind=NotificationKind::CostAlert draft errors toasts known>
                <div class="field-row">
                    <TextField
                        label=move || t!(i18n, field_threshold).into_any()
                        hint=move || t!(i18n, field_threshold_hint).into_any()
                        path="costAlert.thresholdPercent"
                        input_type="number"
                        value=Signal::derive(move || draft.with(|d| d.ca_threshold.clone()))
                        on_input=move |v| draft.update(|d| d.ca_threshold = v)
                        disabled=Signal::derive(master_off)
                        errors
                    />
                    <TextField
                        label=move || t!(i18n, field_interval).into_any()
                        hint=move || t!(i18n, field_interval_hint).into_any()
                        path="costAlert.checkIntervalMinutes"
                        input_type="number"
                        value=Signal::derive(move || draft.with(|d| d.ca_interval.clone()))
                        on_input=move |v| draft.update(|d| d.ca_interval = v)
                        disabled=Signal::derive(master_off)
                        errors
                    />
                </div>
            </KindCard>

            <div class="save-bar card">
                <span class="save-state" data-testid="save-state" data-dirty=move || dirty.get().to_string()>
                    {move || if dirty.get() {
                        view! { <span class="dot dot-warn"></span>{t!(i18n, unsaved_changes)} }.into_any()
                    } else {
                        view! { <span class="dot dot-ok"></span>{t!(i18n, all_saved)} }.into_any()
                    }}
                </span>
                <span class="muted small" data-testid="last-saved">
                    {move || last_saved.with(|(at, by)| {
                        let by = by.clone().map(|b| format!(" · {b}")).unwrap_or_default();
                        format!("{}: {at}{by}", t_string!(i18n, last_saved))
                    })}
                </span>
                <button type="submit" class="btn btn-primary" data-testid="save-settings" disabled=move || form.pending()>
                    {move || if form.pending() { t!(i18n, saving).into_any() } else { t!(i18n, save_settings).into_any() }}
                </button>
            </div>
        </form>
    }
    .into_any()
}

/// One notification kind: its switch and, while it is on, its webhook URL with 测试连接 and (as
/// children) its own fields.
#[component]
fn KindCard(
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
    let runnable = kind != NotificationKind::CircuitBreaker;
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
                <Show when=move || runnable>
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
                </Show>
                <KindTargets kind draft known toasts />
            </Show>
        </section>
    }
    .into_any()
}

/// A kind's push targets beside its Webhook URL: the bound ones (test, remove), one more from
/// the list, or a new one from a pasted URL. Every change is the draft's until 保存设置.
#[component]
fn KindTargets(
    kind: NotificationKind,
    draft: RwSignal<Draft>,
    known: RwSignal<Vec<PushTargetView>>,
    toasts: Toasts,
) -> impl IntoView {
    let i18n = use_i18n();
    let master_off = move || !draft.with(|d| d.enabled);
    let ids = move || draft.with(|d| d.kind(kind).target_ids.clone().unwrap_or_default());
    // In the draft's order; ids the list does not know (yet) stay in the draft unseen.
    let bound = Memo::new(move |_| {
        let ids = ids();
        known.with(|k| {
            ids.iter()
                .filter_map(|id| k.iter().find(|t| t.id == *id).cloned())
                .collect::<Vec<_>>()
        })
    });
    let unbound = Memo::new(move |_| {
        let ids = ids();
        known.with(|k| k.iter().filter(|t| !ids.contains(&t.id)).cloned().collect::<Vec<_>>())
    });
    let picked = RwSignal::new(None::<i64>);
    let add_picked = move |_| {
        if let Some(id) = picked.get_untracked() {
            draft.update(|d| d.bind(kind, id));
            picked.set(None);
        }
    };
    view! {
        <div class="kind-targets" data-testid=format!("kind-targets-{}", kind.key())>
            <div class="kind-targets-head">
                <h3>{t!(i18n, kind_targets_title)}</h3>
                <a
                    href="/settings/notifications/targets"
                    class="small"
                    data-testid="manage-targets"
                    on:click:capture=crate::components::layout::confirm_leave()
                >
                    {t!(i18n, kind_targets_manage)}" →"
                </a>
            </div>
            <p class="muted small">{t!(i18n, kind_targets_hint)}</p>
            <Show
                when=move || !bound.with(Vec::is_empty)
                fallback=move || view! { <p class="muted small" data-testid="bound-targets-empty">{t!(i18n, kind_targets_empty)}</p> }
            >
                <ul class="bound-targets">
                    <For each=move || bound.get() key=|t| (t.id, t.enabled, t.name.clone()) let:target>
                        <BoundTarget kind target draft toasts />
                    </For>
                </ul>
            </Show>
            <div class="field-row">
                <label class="filter">
                    <span class="field-label">{t!(i18n, kind_target_pick)}</span>
                    <select
                        data-testid=format!("pick-target-{}", kind.key())
                        disabled=master_off
                        on:change=move |ev| picked.set(event_target_value(&ev).parse::<i64>().ok())
                    >
                        <option value="" selected=move || picked.get().is_none() prop:selected=move || picked.get().is_none()>
                            {t!(i18n, kind_target_pick_none)}
                        </option>
                        <For each=move || unbound.get() key=|t| (t.id, t.name.clone()) let:target>
                            {
                                let id = target.id;
                                let on = move || picked.get() == Some(id);
                                view! {
                                    <option value=id.to_string() selected=on prop:selected=on>
                                        {move || format!("{} · {}", target.name, channel_name(i18n, target.channel))}
                                    </option>
                                }
                            }
                        </For>
                    </select>
                </label>
                <button
                    type="button"
                    class="btn btn-ghost test-button"
                    data-testid=format!("add-target-{}", kind.key())
                    disabled=move || master_off() || picked.get().is_none()
                    on:click=add_picked
                >
                    {t!(i18n, kind_target_add)}
                </button>
            </div>
            <NewTarget kind draft known toasts />
        </div>
    }
}

/// One bound target: its name and channel, 测试连接 with the kind's message, and 移除 (not for
/// the target of the Webhook URL field, which follows that field).
#[component]
fn BoundTarget(
    kind: NotificationKind,
    target: PushTargetView,
    draft: RwSignal<Draft>,
    toasts: Toasts,
) -> impl IntoView {
    let i18n = use_i18n();
    let id = target.id;
    let url = target.webhook_url.clone();
    let of_url = move || {
        draft.with(|d| {
            let typed = d.kind(kind).url.trim();
            !typed.is_empty() && url.as_deref() == Some(typed)
        })
    };
    let master_off = move || !draft.with(|d| d.enabled);
    let test = test_target_action(toasts, || {});
    view! {
        <li class="bound-target" data-testid="bound-target" data-id=id.to_string() data-channel=target.channel.key()>
            <span class="target-name" data-testid="bound-target-name">{target.name}</span>
            <ChannelBadge channel=target.channel />
            {(!target.enabled).then(|| view! { <span class="status-pill">{t!(i18n, kind_target_disabled)}</span> })}
            <Show when=of_url.clone()>
                <span class="muted small">{t!(i18n, kind_target_of_url)}</span>
            </Show>
            <span class="bound-target-actions">
                <button
                    type="button"
                    class="btn btn-ghost"
                    data-testid="bound-target-test"
                    disabled=move || master_off() || test.pending().get()
                    on:click=move |_| {
                        test.dispatch((id, kind));
                    }
                >
                    {move || if test.pending().get() { t!(i18n, testing).into_any() } else { t!(i18n, test_connection).into_any() }}
                </button>
                <Show when=move || !of_url()>
                    <button
                        type="button"
                        class="btn btn-ghost"
                        data-testid="bound-target-remove"
                        disabled=master_off
                        on:click=move |_| draft.update(|d| d.unbind(kind, id))
                    >
                        {t!(i18n, kind_target_remove)}
                    </button>
                </Show>
            </span>
        </li>
    }
}

/// The channels a pasted URL may be given here: those a URL alone sets up (a signed webhook's
/// generated secret, Telegram and custom templates need the 推送目标 page).
const PASTE_CHANNELS: [ChannelKind; 5] = [
    ChannelKind::Wecom,
    ChannelKind::Feishu,
    ChannelKind::Dingtalk,
    ChannelKind::Slack,
    ChannelKind::Discord,
];

/// The target a pasted URL makes.
fn pasted_target(name: &str, channel: Option<ChannelKind>, url: &str) -> Result<PushTargetInput, FieldErrors> {
    let input = PushTargetInput {
        name: name.to_owned(),
        channel,
        enabled: true,
        webhook_url: Some(url.to_owned()),
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
    .normalized();
    input.validate(None).map(|_| input)
}

/// A new target from a pasted URL: the badge says which platform it is, the name defaults to
/// `<platform> · <kind>`, and once created it is bound to the kind in the draft.
#[component]
fn NewTarget(
    kind: NotificationKind,
    draft: RwSignal<Draft>,
    known: RwSignal<Vec<PushTargetView>>,
    toasts: Toasts,
) -> impl IntoView {
    let i18n = use_i18n();
    let master_off = move || !draft.with(|d| d.enabled);
    let url = RwSignal::new(String::new());
    let picked = RwSignal::new(None::<ChannelKind>);
    // `None` until the admin types a name of their own.
    let typed_name = RwSignal::new(None::<String>);
    let channel = move || picked.get().or_else(|| url.with(|u| ChannelKind::detect(u)));
    let default_name = move || {
        let platform = channel().map_or_else(|| "Webhook".to_owned(), |c| channel_name(i18n, c));
        format!("{platform} · {}", kind_name(i18n, kind))
    };
    let name = move || typed_name.get().unwrap_or_else(default_name);
    let errors = RwSignal::new(FieldErrors::default());
    let prefix = format!("{}.newTarget.", kind.key());
    let prefixed = {
        let prefix = prefix.clone();
        move |found: FieldErrors| {
            FieldErrors(
                found
                    .0
                    .into_iter()
                    .map(|(path, p)| (format!("{prefix}{path}"), p))
                    .collect(),
            )
        }
    };

    let create = Action::new(move |input: &PushTargetInput| create_push_target(input.clone()));
    let on_created = prefixed.clone();
    Effect::new(move |_| {
        let Some(result) = create.value().get() else { return };
        match result {
            Ok(target) => {
                draft.update(|d| d.bind(kind, target.id));
                toasts.push(
                    ToastKind::Success,
                    t_string!(i18n, toast_kind_target_created, name = target.name.clone()).to_string(),
                );
                known.update(|k| k.push(target));
                url.set(String::new());
                picked.set(None);
                typed_name.set(None);
                errors.set(FieldErrors::default());
            }
            Err(crate::error::AppError::Validation(found)) => {
                errors.set(on_created(found));
                toasts.push(
                    ToastKind::Error,
                    t_string!(i18n, toast_target_create_failed).to_string(),
                );
            }
            Err(e) => toasts.push(
                ToastKind::Error,
                format!(
                    "{}: {}",
                    t_string!(i18n, toast_target_create_failed),
                    failure_text(i18n, &e)
                ),
            ),
        }
    });
    let submit = move |_| match pasted_target(&name(), channel(), &url.get_untracked()) {
        Ok(input) => {
            errors.set(FieldErrors::default());
            create.dispatch(input);
        }
        Err(found) => errors.set(prefixed(found)),
    };
    let channel_error = {
        let path = format!("{prefix}channel");
        Memo::new(move |_| errors.with(|e| e.get(&path).cloned()))
    };
    view! {
        <div class="field-row new-target" data-testid=format!("new-target-{}", kind.key())>
            <TextField
                label=move || t!(i18n, kind_target_new_url).into_any()
                hint=move || view! {
                    <DetectedBadge url test_id=format!("detected-{}", kind.key()) />
                }.into_any()
                path=format!("{prefix}webhookUrl")
                input_type="url"
                placeholder="https://…"
                value=url
                on_input=move |v| url.set(v)
                disabled=Signal::derive(master_off)
                errors
            />
            <div class="field" class:has-error=move || channel_error.with(Option::is_some)>
                <label class="field-label" for=format!("new-target-channel-{}", kind.key())>{t!(i18n, field_channel)}</label>
                <select
                    id=format!("new-target-channel-{}", kind.key())
                    data-testid=format!("new-target-channel-{}", kind.key())
                    disabled=master_off
                    on:change=move |ev| picked.set(ChannelKind::from_key(&event_target_value(&ev)))
                >
                    <option value="" selected=move || picked.get().is_none() prop:selected=move || picked.get().is_none()>
                        {t!(i18n, channel_auto)}
                    </option>
                    {PASTE_CHANNELS
                        .into_iter()
                        .map(|c| {
                            let on = move || picked.get() == Some(c);
                            view! { <option value=c.key() selected=on prop:selected=on>{move || channel_name(i18n, c)}</option> }
                        })
                        .collect_view()}
                </select>
                <span class="field-error" role="alert">
                    {move || channel_error.get().map(|p| crate::components::form::problem_text(i18n, &p))}
                </span>
            </div>
            <TextField
                label=move || t!(i18n, kind_target_new_name).into_any()
                hint=|| ().into_any()
                path=format!("{prefix}name")
                input_type="text"
                value=Signal::derive(name)
                on_input=move |v| typed_name.set(Some(v))
                disabled=Signal::derive(master_off)
                errors
            />
            <button
                type="button"
                class="btn btn-ghost test-button"
                data-testid=format!("create-target-{}", kind.key())
                disabled=move || master_off() || create.pending().get() || url.with(|u| u.trim().is_empty())
                on:click=submit
            >
                {t!(i18n, kind_target_create)}
            </button>
        </div>
    }
}

lazy_page!(NotificationsRoute, NotificationsPage);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draft_round_trips_settings() {
        let s = NotificationSettings::default();
        assert_eq!(Draft::from_settings(&s).to_settings(), Ok(s));
    }

    #[test]
    fn each_kind_keeps_its_own_switch_and_url() {
        let mut s = NotificationSettings::default();
        s.circuit_breaker.webhook_url = Some("https://a.example/1".into());
        s.daily_leaderboard.enabled = true;
        s.daily_leaderboard.webhook_url = Some("https://b.example/2".into());
        s.cost_alert.webhook_url = Some("https://c.example/3".into());
        let draft = Draft::from_settings(&s);
        assert_eq!(
            draft.kind(NotificationKind::DailyLeaderboard).url,
            "https://b.example/2"
        );
        assert!(!draft.kind(NotificationKind::CostAlert).enabled);
        assert_eq!(draft.to_settings(), Ok(s));
    }

    #[test]
    fn targets_are_bound_and_unbound_in_the_draft() {
        let mut s = NotificationSettings::default();
        s.cost_alert.target_ids = Some(vec![4]);
        let mut d = Draft::from_settings(&s);
        let target = |id: i64, kinds: Vec<NotificationKind>| {
            serde_json::from_value::<PushTargetView>(serde_json::json!({
                "id": id, "name": "t", "channel": "wecom", "enabled": true, "webhookUrl": null,
                "hasSecret": false, "hasBotToken": false, "chatId": null, "messageThreadId": null,
                "apiBaseUrl": null, "template": null, "headerNames": [], "proxyUrl": null,
                "proxyFallbackDirect": false, "rateLimit": null, "defaultRateLimit": null,
                "endpoint": "https://example.com", "kinds": kinds, "lastTest": null
            }))
            .unwrap()
        };
        // Loaded without targets (an older server), a kind gets those the list binds to it.
        d.fill_targets(&[
            target(4, vec![NotificationKind::CostAlert]),
            target(9, vec![NotificationKind::CircuitBreaker]),
        ]);
        assert_eq!(d.kind(NotificationKind::CircuitBreaker).target_ids, Some(vec![9]));
        assert_eq!(d.kind(NotificationKind::DailyLeaderboard).target_ids, Some(vec![]));
        assert_eq!(d.kind(NotificationKind::CostAlert).target_ids, Some(vec![4]));
        d.bind(NotificationKind::CostAlert, 9);
        d.bind(NotificationKind::CostAlert, 9);
        d.unbind(NotificationKind::CostAlert, 4);
        let saved = d.to_settings().unwrap();
        assert_eq!(saved.cost_alert.target_ids, Some(vec![9]));
    }

    #[test]
    fn a_pasted_url_makes_a_target_of_its_platform() {
        let url = "https://oapi.dingtalk.com/robot/send?access_token=t";
        let input = pasted_target(" 钉钉 · 成本预警 ", None, url).unwrap();
        assert_eq!(
            (input.name.as_str(), input.webhook_url.as_deref()),
            ("钉钉 · 成本预警", Some(url))
        );
        let errors = pasted_target("x", None, "http://127.0.0.1:9/ok").unwrap_err();
        assert_eq!(errors.get("channel"), Some(&FieldProblem::ChannelRequired));
        assert!(pasted_target("x", Some(ChannelKind::Wecom), "http://127.0.0.1:9/ok").is_ok());
    }

    #[test]
    fn draft_reports_unparsed_numbers_before_ranges() {
        let mut d = Draft::from_settings(&NotificationSettings::default());
        d.dl_top_n = "abc".into();
        d.ca_threshold = "30".into();
        let errors = d.to_settings().unwrap_err();
        assert_eq!(errors.get("dailyLeaderboard.topN"), Some(&FieldProblem::NotANumber));
        assert_eq!(
            errors.get("costAlert.thresholdPercent"),
            Some(&FieldProblem::OutOfRange { min: 50, max: 100 })
        );
    }
}

/// Rendered as the server renders it (the i18n context needs the `ssr` build off the browser).
#[cfg(all(test, feature = "ssr"))]
mod render_tests {
    use super::*;
    use crate::i18n::I18nContextProvider;

    #[test]
    fn an_enabled_kind_shows_its_targets_beside_its_webhook_url() {
        let _ = any_spawner::Executor::init_futures_executor();
        let mut settings = NotificationSettings {
            enabled: true,
            ..Default::default()
        };
        settings.cost_alert.enabled = true;
        settings.cost_alert.target_ids = Some(vec![]);
        let html = Owner::new().with(|| {
            let draft = RwSignal::new(Draft::from_settings(&settings));
            let errors = RwSignal::new(FieldErrors::default());
            let toasts = Toasts::new();
            let known = RwSignal::new(Vec::new());
            view! {
                <I18nContextProvider>
                    <KindCard kind=NotificationKind::CircuitBreaker draft errors toasts known />
                    <KindCard kind=NotificationKind::CostAlert draft errors toasts known />
                </I18nContextProvider>
            }
            .to_html()
        });
        for id in [
            "field-costAlert-webhookUrl",
            "test-costAlert",
            "kind-targets-costAlert",
            "bound-targets-empty",
            "pick-target-costAlert",
            "field-costAlert-newTarget-webhookUrl",
            "field-costAlert-newTarget-name",
            "create-target-costAlert",
        ] {
            assert!(html.contains(&format!("data-testid=\"{id}\"")), "{id} in {html}");
        }
        assert!(
            !html.contains("kind-targets-circuitBreaker"),
            "a kind that is off shows no targets"
        );
    }
}
