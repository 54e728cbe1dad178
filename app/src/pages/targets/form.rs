//! The form that creates or edits a target: the fields every target has around its channel's
//! own ([`ChannelFields`]).
use leptos::prelude::*;

use super::channel_fields::ChannelFields;
use super::draft::{text_of, TargetDraft};
use super::{Page, NEW};
use crate::api::targets::{create_push_target, update_push_target};
use crate::components::form::{problem_text, use_edit_form, Switch, TextField};
use crate::components::row_editor::EditActions;
use crate::components::targets::channel_name;
use crate::i18n::{t, t_string, use_i18n};
use crate::notifications::{FieldErrors, FieldProblem};
use crate::targets::{BudgetSetting, ChannelKind, PushTargetView};

/// The field's problem, by its path.
pub(super) fn field_error(errors: RwSignal<FieldErrors>, path: &'static str) -> Memo<Option<FieldProblem>> {
    Memo::new(move |_| errors.with(|e| e.get(path).cloned()))
}

#[component]
pub(super) fn TargetForm(existing: Option<PushTargetView>, page: Page) -> impl IntoView {
    let i18n = use_i18n();
    let Page { editor, toasts, .. } = page;
    let id = existing.as_ref().map(|t| t.id);
    let creating = id.is_none();
    let default_budget = existing.as_ref().and_then(|t| t.default_rate_limit);
    let title = existing.as_ref().map(|t| t.name.clone());
    let draft = RwSignal::new(existing.as_ref().map_or_else(TargetDraft::new, TargetDraft::from_view));
    let form = use_edit_form(
        toasts,
        draft,
        TargetDraft::to_input,
        move |input| async move {
            match id {
                Some(id) => update_push_target(id, input).await,
                None => create_push_target(input).await,
            }
        },
        move |saved: PushTargetView| {
            if let Some(secret) = saved.generated_secret.clone() {
                page.generated.set(Some((saved.name.clone(), secret)));
            }
            let text = if creating {
                t_string!(i18n, toast_target_created, name = saved.name).to_string()
            } else {
                t_string!(i18n, toast_target_saved, name = saved.name).to_string()
            };
            editor.saved(toasts, text);
        },
    );
    let errors = form.errors;

    view! {
        <form
            class="edit-form target-form"
            data-testid="target-form"
            data-id=id.unwrap_or(NEW).to_string()
            on:submit=move |ev| form.submit(ev)
            novalidate
        >
            <p class="edit-form-title">
                {match title {
                    Some(name) => view! { {t!(i18n, settings_of)}" "<strong>{name}</strong> }.into_any(),
                    None => view! { <strong>{t!(i18n, target_new)}</strong> }.into_any(),
                }}
            </p>
            <div class="field-row">
                <TextField
                    label=move || t!(i18n, field_target_name).into_any()
                    hint=|| ().into_any()
                    path="name"
                    input_type="text"
                    value=text_of(draft, |d| &d.name)
                    on_input=move |v| draft.update(|d| d.name = v)
                    errors
                />
                <ChannelSelect draft creating errors />
                <div class="field switch-field">
                    <span class="field-label">{t!(i18n, targets_col_enabled)}</span>
                    <Switch
                        checked=Signal::derive(move || draft.with(|d| d.enabled))
                        on_toggle=move |on| draft.update(|d| d.enabled = on)
                        disabled=Signal::derive(|| false)
                        test_id="field-enabled"
                    />
                </div>
            </div>
            <ChannelFields draft errors />
            <div class="field-row">
                <TextField
                    label=move || t!(i18n, field_proxy_url).into_any()
                    hint=move || t!(i18n, field_proxy_url_hint).into_any()
                    path="proxyUrl"
                    input_type="text"
                    placeholder="socks5://user:password@proxy.example:1080"
                    value=text_of(draft, |d| &d.proxy_url)
                    on_input=move |v| draft.update(|d| d.proxy_url = v)
                    errors
                />
                <div class="field switch-field">
                    <span class="field-label">{t!(i18n, field_proxy_fallback)}</span>
                    <Switch
                        checked=Signal::derive(move || draft.with(|d| d.proxy_fallback_direct))
                        on_toggle=move |on| draft.update(|d| d.proxy_fallback_direct = on)
                        disabled=Signal::derive(move || draft.with(|d| d.proxy_url.trim().is_empty()))
                        test_id="field-proxyFallbackDirect"
                    />
                </div>
            </div>
            <BudgetFields draft errors default_budget creating />
            <EditActions editor pending=Signal::derive(move || form.pending()) save_test_id="save-target" />
        </form>
    }
}

/// The channel: picked when creating (or left to the URL), fixed once created.
#[component]
fn ChannelSelect(draft: RwSignal<TargetDraft>, creating: bool, errors: RwSignal<FieldErrors>) -> impl IntoView {
    let i18n = use_i18n();
    let error = field_error(errors, "channel");
    let picked = move || draft.with(|d| d.channel);
    view! {
        <div class="field" class:has-error=move || error.with(Option::is_some)>
            <label class="field-label" for="field-channel">{t!(i18n, field_channel)}</label>
            <select
                id="field-channel"
                name="channel"
                data-testid="field-channel"
                disabled=!creating
                on:change=move |ev| {
                    let channel = ChannelKind::from_key(&event_target_value(&ev));
                    draft.update(|d| d.pick_channel(channel));
                }
            >
                {creating.then(|| view! {
                    <option value="" selected=move || picked().is_none() prop:selected=move || picked().is_none()>
                        {t!(i18n, channel_auto)}
                    </option>
                })}
                {ChannelKind::ALL
                    .into_iter()
                    .map(|c| {
                        let on = move || picked() == Some(c);
                        view! { <option value=c.key() selected=on prop:selected=on>{move || channel_name(i18n, c)}</option> }
                    })
                    .collect_view()}
            </select>
            <span class="field-hint muted small">
                {move || (creating && picked().is_none()).then(|| t_string!(i18n, channel_auto_hint).to_string())}
            </span>
            <span class="field-error" role="alert" data-testid="field-channel-error">
                {move || error.get().map(|p| problem_text(i18n, &p))}
            </span>
        </div>
    }
}

/// The target's own send budget, or the one it keeps without.
#[component]
fn BudgetFields(
    draft: RwSignal<TargetDraft>,
    errors: RwSignal<FieldErrors>,
    default_budget: Option<BudgetSetting>,
    creating: bool,
) -> impl IntoView {
    let i18n = use_i18n();
    let error = field_error(errors, "rateLimit");
    let own = move || draft.with(|d| d.own_budget);
    let default_text = move || match (creating, default_budget) {
        (true, _) => t_string!(i18n, budget_default_new).to_string(),
        (false, Some(b)) => t_string!(i18n, budget_default, sends = b.sends, seconds = b.per_seconds).to_string(),
        (false, None) => t_string!(i18n, budget_default_none).to_string(),
    };
    view! {
        <div class="budget-fields" class:has-error=move || error.with(Option::is_some)>
            <div class="field switch-field">
                <span class="field-label">{t!(i18n, field_own_budget)}</span>
                <Switch
                    checked=Signal::derive(own)
                    on_toggle=move |on| draft.update(|d| d.own_budget = on)
                    disabled=Signal::derive(|| false)
                    test_id="field-ownBudget"
                />
                <span class="field-hint muted small" data-testid="budget-default">{default_text}</span>
            </div>
            <Show when=own>
                <div class="field-row">
                    <TextField
                        label=move || t!(i18n, field_budget_sends).into_any()
                        hint=|| ().into_any()
                        path="rateLimit.sends"
                        input_type="number"
                        value=Signal::derive(move || draft.with(|d| d.budget_sends.clone()))
                        on_input=move |v| draft.update(|d| d.budget_sends = v)
                        errors
                    />
                    <TextField
                        label=move || t!(i18n, field_budget_seconds).into_any()
                        hint=|| ().into_any()
                        path="rateLimit.perSeconds"
                        input_type="number"
                        value=Signal::derive(move || draft.with(|d| d.budget_seconds.clone()))
                        on_input=move |v| draft.update(|d| d.budget_seconds = v)
                        errors
                    />
                </div>
            </Show>
            <span class="field-error" role="alert" data-testid="field-rateLimit-error">
                {move || error.get().map(|p| problem_text(i18n, &p))}
            </span>
        </div>
    }
}
