//! `/settings/notifications` (消息推送): the master switch, one card per kind with its own
//! webhook and 测试连接 (`kind_card`) and its push targets (`kind_targets`), and one 保存设置
//! for everything, over the form's text as typed (`draft`).
use leptos::ev;
use leptos::prelude::*;

use crate::api::notifications::{load_notification_settings, save_notification_settings, SettingsView};
use crate::api::targets::list_push_targets;
use crate::components::form::{use_edit_form, Switch, TextField};
use crate::components::hydration::settled;
use crate::components::toast::{ToastKind, Toaster, Toasts};
use crate::i18n::{t, t_string, use_i18n};
use crate::notifications::{FieldErrors, NotificationKind};
use crate::routes::UnsavedChanges;
use crate::targets::PushTargetView;

mod draft;
// `#[component]` gives a component's props builder `pub` methods whatever the component's own
// visibility: shared between these files, they read as unreachable `pub` items.
#[allow(unreachable_pub)]
mod kind_card;
#[allow(unreachable_pub)]
mod kind_targets;

use draft::Draft;
use kind_card::KindCard;

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

#[component]
fn SettingsForm(initial: SettingsView) -> impl IntoView {
    let i18n = use_i18n();
    let toasts = Toasts::new();
    let saved = RwSignal::new(Draft::from_settings(&initial.settings));
    let draft = RwSignal::new(saved.get_untracked());
    let last_saved = RwSignal::new((initial.updated_at, initial.updated_by));
    let dirty = Memo::new(move |_| draft.with(|d| saved.with(|s| d != s)));
    guard_unsaved(dirty);

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
                <LeaderboardFields draft errors />
            </KindCard>
            <KindCard kind=NotificationKind::CostAlert draft errors toasts known>
                <CostAlertFields draft errors />
            </KindCard>

            <SaveBar dirty last_saved pending=Signal::derive(move || form.pending()) />
        </form>
    }
    .into_any()
}

/// Leaving with unsaved changes asks first: the browser's own prompt for reloads and other
/// sites, a confirm for links inside the app (see `UnsavedChanges`).
fn guard_unsaved(dirty: Memo<bool>) {
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
}

/// The daily leaderboard's own fields: when it is sent, how many users it names.
#[component]
fn LeaderboardFields(draft: RwSignal<Draft>, errors: RwSignal<FieldErrors>) -> impl IntoView {
    let i18n = use_i18n();
    let master_off = move || !draft.with(|d| d.enabled);
    view! {
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
    }
}

/// The cost alert's own fields: the threshold, how often spending is checked.
#[component]
fn CostAlertFields(draft: RwSignal<Draft>, errors: RwSignal<FieldErrors>) -> impl IntoView {
    let i18n = use_i18n();
    let master_off = move || !draft.with(|d| d.enabled);
    view! {
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
    }
}

/// Whether everything is saved, when and by whom last, and 保存设置.
#[component]
fn SaveBar(dirty: Memo<bool>, last_saved: RwSignal<(String, Option<String>)>, pending: Signal<bool>) -> impl IntoView {
    let i18n = use_i18n();
    view! {
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
            <button type="submit" class="btn btn-primary" data-testid="save-settings" disabled=move || pending.get()>
                {move || if pending.get() { t!(i18n, saving).into_any() } else { t!(i18n, save_settings).into_any() }}
            </button>
        </div>
    }
}

lazy_page!(NotificationsRoute, NotificationsPage);

#[cfg(all(test, feature = "ssr"))]
mod render_tests;
