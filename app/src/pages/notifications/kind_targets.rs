//! A kind's push targets: those bound to it (test, remove), one more from the list, or a new one
//! from a pasted URL. Every change is the draft's until 保存设置.
use leptos::prelude::*;

use super::draft::Draft;
use crate::components::targets::{channel_name, kind_name, test_target_action, ChannelBadge};
use crate::components::toast::{ToastKind, Toasts};
use crate::i18n::{t, t_string, use_i18n};
use crate::notifications::NotificationKind;
use crate::pages::targets::QuickAddTarget;
use crate::targets::PushTargetView;

/// A kind's push targets beside its Webhook URL: the bound ones (test, remove), one more from
/// the list, or a new one from a pasted URL. Every change is the draft's until 保存设置.
#[component]
pub(super) fn KindTargets(
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
                                        {move || format!("{} · {}", target.name, channel_name(i18n, target.channel()))}
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
            <QuickAddTarget
                key=kind.key()
                purpose=Signal::derive(move || kind_name(i18n, kind))
                disabled=Signal::derive(master_off)
                on_created=Callback::new(move |target: PushTargetView| {
                    draft.update(|d| d.bind(kind, target.id));
                    toasts.push(
                        ToastKind::Success,
                        t_string!(i18n, toast_kind_target_created, name = target.name.clone()).to_string(),
                    );
                    known.update(|k| k.push(target));
                })
                toasts
            />
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
    let channel = target.channel();
    let url = target.webhook_url().map(str::to_owned);
    let of_url = move || {
        draft.with(|d| {
            let typed = d.kind(kind).url.trim();
            !typed.is_empty() && url.as_deref() == Some(typed)
        })
    };
    let master_off = move || !draft.with(|d| d.enabled);
    let test = test_target_action(toasts, || {});
    view! {
        <li class="bound-target" data-testid="bound-target" data-id=id.to_string() data-channel=channel.key()>
            <span class="target-name" data-testid="bound-target-name">{target.name}</span>
            <ChannelBadge channel />
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
