//! A target's row: its name, channel and endpoint, its switch (saved at once), the kinds bound
//! to it, its last test, and testing, editing and deleting it.
use leptos::prelude::*;

use super::draft::unchanged_input;
use super::form::TargetForm;
use super::Page;
use crate::api::targets::{delete_push_target, update_push_target};
use crate::components::form::{failure_text, Switch};
use crate::components::row_editor::{EditButton, EditRow};
use crate::components::targets::{kind_name, test_target_action, ChannelBadge};
use crate::components::toast::ToastKind;
use crate::components::usage::written_time;
use crate::i18n::{t, t_string, use_i18n};
use crate::notifications::NotificationKind;
use crate::targets::{LastTest, PushTargetInput, PushTargetView};
use crate::I18n;

/// 熔断器告警、成本预警, for a sentence.
fn kinds_text(i18n: I18n, kinds: &[NotificationKind]) -> String {
    let separator = t_string!(i18n, list_separator).to_string();
    kinds
        .iter()
        .map(|k| kind_name(i18n, *k))
        .collect::<Vec<_>>()
        .join(&separator)
}

#[component]
pub(super) fn TargetRow(target: PushTargetView, page: Page) -> impl IntoView {
    let i18n = use_i18n();
    let Page { editor, toasts, .. } = page;
    let id = target.id;
    let unchanged = StoredValue::new(unchanged_input(&target));

    // The switch saves at once: the target as it is, but on or off.
    let enabled = RwSignal::new(target.enabled);
    let toggle = Action::new(move |input: &PushTargetInput| update_push_target(id, input.clone()));
    Effect::new(move |_| {
        let Some(result) = toggle.value().get() else { return };
        match result {
            Ok(saved) => {
                let text = if saved.enabled {
                    t_string!(i18n, toast_target_enabled, name = saved.name).to_string()
                } else {
                    t_string!(i18n, toast_target_disabled, name = saved.name).to_string()
                };
                toasts.push(ToastKind::Success, text);
            }
            Err(e) => {
                enabled.update(|on| *on = !*on);
                toasts.push(
                    ToastKind::Error,
                    format!("{}: {}", t_string!(i18n, toast_save_failed), failure_text(i18n, &e)),
                );
            }
        }
        page.reload();
    });
    let on_toggle = move |on: bool| {
        enabled.set(on);
        let mut input = unchanged.get_value();
        input.enabled = on;
        toggle.dispatch(input);
    };

    let form_target = target.clone();
    let channel = target.channel();
    let PushTargetView {
        name,
        endpoint,
        proxy_url,
        kinds,
        last_test,
        ..
    } = target;
    let first_kind = kinds.first().copied().unwrap_or(NotificationKind::CircuitBreaker);
    view! {
        <tr
            data-testid="target-row"
            data-id=id.to_string()
            data-channel=channel.key()
            class:editing=move || editor.is_open(id)
        >
            <td class="target-cell">
                <span class="target-name" data-testid="target-name">{name.clone()}</span>
                " "
                <ChannelBadge channel />
                <div class="mono muted target-endpoint" data-testid="target-endpoint">{endpoint}</div>
                {proxy_url.map(|_| view! { <div class="muted small">{t!(i18n, target_via_proxy)}</div> })}
            </td>
            <td>
                <Switch
                    checked=enabled
                    on_toggle
                    disabled=Signal::derive(move || toggle.pending().get())
                    test_id="target-enabled"
                    label=Signal::derive(move || t_string!(i18n, targets_col_enabled).to_string())
                />
            </td>
            <td data-testid="target-kinds">
                <KindList kinds=kinds.clone() />
            </td>
            <td data-testid="target-last-test">
                <LastTestCell last_test />
            </td>
            <td>
                <div class="row-actions">
                    <TestControl id first_kind page />
                    <EditButton editor id test_id="edit-target" />
                    <DeleteButton id name kinds page />
                </div>
            </td>
        </tr>
        <EditRow editor id columns=5>
            <TargetForm existing=Some(form_target.clone()) page />
        </EditRow>
    }
}

/// The kinds bound to a target, as badges.
#[component]
fn KindList(kinds: Vec<NotificationKind>) -> impl IntoView {
    let i18n = use_i18n();
    if kinds.is_empty() {
        return view! { <span class="muted small">{t!(i18n, target_unbound)}</span> }.into_any();
    }
    view! {
        <ul class="target-kinds">
            {kinds
                .into_iter()
                .map(|kind| view! {
                    <li class="badge kind-badge" data-kind=kind.key()>{move || kind_name(i18n, kind)}</li>
                })
                .collect_view()}
        </ul>
    }
    .into_any()
}

/// Sends a kind's sample to the target: the kind picked, its first bound kind at first.
#[component]
fn TestControl(id: i64, first_kind: NotificationKind, page: Page) -> impl IntoView {
    let i18n = use_i18n();
    let test = test_target_action(page.toasts, move || page.reload());
    let test_kind = RwSignal::new(first_kind);
    view! {
        <span class="test-control">
            <select
                class="compact-select"
                data-testid="target-test-kind"
                aria-label=move || t_string!(i18n, target_test_kind).to_string()
                on:change=move |ev| {
                    if let Some(kind) = NotificationKind::from_key(&event_target_value(&ev)) {
                        test_kind.set(kind);
                    }
                }
            >
                {NotificationKind::ALL
                    .into_iter()
                    .map(|kind| {
                        let on = move || test_kind.get() == kind;
                        view! {
                            <option value=kind.key() selected=on prop:selected=on>
                                {move || kind_name(i18n, kind)}
                            </option>
                        }
                    })
                    .collect_view()}
            </select>
            <button
                type="button"
                class="btn btn-ghost"
                data-testid="test-target"
                disabled=move || test.pending().get()
                on:click=move |_| {
                    test.dispatch((id, test_kind.get_untracked()));
                }
            >
                {move || if test.pending().get() { t!(i18n, testing).into_any() } else { t!(i18n, target_test).into_any() }}
            </button>
        </span>
    }
}

/// Deletes the target once the admin confirms, naming the kinds that lose it.
#[component]
fn DeleteButton(id: i64, name: String, kinds: Vec<NotificationKind>, page: Page) -> impl IntoView {
    let i18n = use_i18n();
    let Page { editor, toasts, .. } = page;
    let name = StoredValue::new(name);
    let kinds = StoredValue::new(kinds);
    let delete = Action::new(move |_: &()| delete_push_target(id));
    Effect::new(move |_| {
        let Some(result) = delete.value().get() else { return };
        match result {
            Ok(lost) => {
                let name = name.get_value();
                let text = if lost.is_empty() {
                    t_string!(i18n, toast_target_deleted, name = name).to_string()
                } else {
                    t_string!(
                        i18n,
                        toast_target_deleted_kinds,
                        name = name,
                        kinds = kinds_text(i18n, &lost)
                    )
                    .to_string()
                };
                toasts.push(ToastKind::Success, text);
                editor.close();
            }
            Err(e) => toasts.push(
                ToastKind::Error,
                format!("{}: {}", t_string!(i18n, toast_delete_failed), failure_text(i18n, &e)),
            ),
        }
        page.reload();
    });
    let on_delete = move |_| {
        let name = name.get_value();
        let question = kinds.with_value(|kinds| {
            if kinds.is_empty() {
                t_string!(i18n, target_delete_confirm, name = name).to_string()
            } else {
                t_string!(
                    i18n,
                    target_delete_confirm_kinds,
                    name = name,
                    kinds = kinds_text(i18n, kinds)
                )
                .to_string()
            }
        });
        if window().confirm_with_message(&question).unwrap_or(false) {
            delete.dispatch(());
        }
    };
    view! {
        <button
            type="button"
            class="btn btn-ghost btn-danger"
            data-testid="delete-target"
            disabled=move || delete.pending().get()
            on:click=on_delete
        >
            {t!(i18n, delete)}
        </button>
    }
}

/// 成功 · 120 ms, or 失败 and why, with when.
#[component]
pub(super) fn LastTestCell(last_test: Option<LastTest>) -> impl IntoView {
    let i18n = use_i18n();
    match last_test {
        None => view! { <span class="muted small" data-testid="last-test-none">{t!(i18n, target_never_tested)}</span> }
            .into_any(),
        Some(LastTest {
            at,
            ok,
            error,
            latency_ms,
        }) => {
            let shown = written_time(&at);
            view! {
                <span
                    class=if ok { "status-pill status-delivered" } else { "status-pill status-failed" }
                    data-testid="last-test-result"
                    data-ok=ok.to_string()
                >
                    {move || if ok { t!(i18n, target_test_ok).into_any() } else { t!(i18n, target_test_failed).into_any() }}
                </span>
                " "
                <span class="small nowrap" data-testid="last-test-latency">{format!("{latency_ms} ms")}</span>
                <div class="muted small"><time datetime=at.clone() title=at>{shown}</time></div>
                {error.filter(|e| !e.trim().is_empty()).map(|error| view! {
                    <div class="target-error small" data-testid="last-test-error">{error}</div>
                })}
            }
            .into_any()
        }
    }
}
