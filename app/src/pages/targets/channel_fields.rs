//! Each channel's own fields: the webhook URL, a signing secret, Telegram's chat, a custom
//! target's template and headers.
use leptos::prelude::*;

use super::draft::{text_of, HeaderDraft, TargetDraft, NOT_AN_OBJECT, NOT_JSON};
use super::form::field_error;
use crate::components::form::{problem_text, TextField};
use crate::components::targets::DetectedBadge;
use crate::i18n::{t, t_string, use_i18n};
use crate::notifications::{FieldErrors, FieldProblem};
use crate::targets::{ChannelConfig, ChannelKind};
use crate::I18n;

/// The fields of the channel the draft is for; before one is known, the webhook URL that may
/// name it.
#[component]
pub(super) fn ChannelFields(draft: RwSignal<TargetDraft>, errors: RwSignal<FieldErrors>) -> impl IntoView {
    let channel = Memo::new(move |_| draft.with(TargetDraft::channel));
    let is = move |c: ChannelKind| channel.get() == Some(c);
    view! {
        <Show when=move || channel.get().is_none_or(ChannelKind::takes_webhook_url)>
            <WebhookUrlField draft errors />
        </Show>
        <Show when=move || channel.get().is_some_and(ChannelKind::takes_secret)>
            <SecretField draft errors signs_always=Signal::derive(move || is(ChannelKind::Webhook)) />
        </Show>
        <Show when=move || is(ChannelKind::Telegram)>
            <TelegramFields draft errors />
        </Show>
        <Show when=move || is(ChannelKind::Custom)>
            <TemplateField draft errors />
            <HeadersEditor draft errors />
        </Show>
    }
}

/// Where every channel but Telegram posts; a pasted URL shows the platform it belongs to.
#[component]
fn WebhookUrlField(draft: RwSignal<TargetDraft>, errors: RwSignal<FieldErrors>) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <div class="field-row webhook-row">
            <TextField
                label=move || t!(i18n, field_webhook_url).into_any()
                hint=move || view! {
                    <DetectedBadge url=Signal::derive(move || draft.with(|d| d.webhook_url.clone())) test_id="detected-channel".to_owned() />
                }.into_any()
                path="webhookUrl"
                input_type="url"
                placeholder="https://…"
                value=text_of(draft, |d| &d.webhook_url)
                on_input=move |v| draft.update(|d| d.set_url(v))
                errors
            />
        </div>
    }
}

/// A signing secret, write-only: left blank, the stored one is kept; a bot's may be removed, a
/// signed webhook's (`signs_always`) only replaced.
#[component]
fn SecretField(
    draft: RwSignal<TargetDraft>,
    errors: RwSignal<FieldErrors>,
    #[prop(into)] signs_always: Signal<bool>,
) -> impl IntoView {
    let i18n = use_i18n();
    let kept = move || t_string!(i18n, secret_kept_placeholder).to_string();
    let secret_stored = move || draft.with(|d| d.stored.as_ref().is_some_and(|s| s.secret().is_some()));
    let signs_always = move || signs_always.get();
    view! {
        <div class="field-row">
            <TextField
                label=move || t!(i18n, field_secret).into_any()
                hint=move || if signs_always() {
                    t!(i18n, field_secret_webhook_hint).into_any()
                } else {
                    t!(i18n, field_secret_hint).into_any()
                }
                path="secret"
                input_type="password"
                placeholder=Signal::derive(move || if secret_stored() { kept() } else { String::new() })
                value=text_of(draft, |d| &d.secret)
                on_input=move |v| draft.update(|d| d.secret = v)
                disabled=Signal::derive(move || draft.with(|d| d.remove_secret))
                errors
            />
            <Show when=move || secret_stored() && !signs_always()>
                <label class="check-field">
                    <input
                        type="checkbox"
                        data-testid="field-remove-secret"
                        prop:checked=move || draft.with(|d| d.remove_secret)
                        on:change=move |ev| draft.update(|d| d.remove_secret = event_target_checked(&ev))
                    />
                    {t!(i18n, field_remove_secret)}
                </label>
            </Show>
        </div>
    }
}

/// A Telegram chat: the bot's token (write-only), the chat, a topic, a self-hosted Bot API.
#[component]
fn TelegramFields(draft: RwSignal<TargetDraft>, errors: RwSignal<FieldErrors>) -> impl IntoView {
    let i18n = use_i18n();
    let kept = move || t_string!(i18n, secret_kept_placeholder).to_string();
    let token_stored = move || draft.with(|d| matches!(d.stored, Some(ChannelConfig::Telegram(_))));
    view! {
        <div class="field-row">
            <TextField
                label=move || t!(i18n, field_bot_token).into_any()
                hint=move || t!(i18n, field_bot_token_hint).into_any()
                path="botToken"
                input_type="password"
                placeholder=Signal::derive(move || if token_stored() { kept() } else { "123456:ABC…".to_owned() })
                value=text_of(draft, |d| &d.bot_token)
                on_input=move |v| draft.update(|d| d.bot_token = v)
                errors
            />
            <TextField
                label=move || t!(i18n, field_chat_id).into_any()
                hint=move || t!(i18n, field_chat_id_hint).into_any()
                path="chatId"
                input_type="text"
                placeholder="-1001234567890"
                value=text_of(draft, |d| &d.chat_id)
                on_input=move |v| draft.update(|d| d.chat_id = v)
                errors
            />
        </div>
        <div class="field-row">
            <TextField
                label=move || t!(i18n, field_thread_id).into_any()
                hint=move || t!(i18n, field_optional).into_any()
                path="messageThreadId"
                input_type="text"
                value=text_of(draft, |d| &d.message_thread_id)
                on_input=move |v| draft.update(|d| d.message_thread_id = v)
                errors
            />
            <TextField
                label=move || t!(i18n, field_api_base_url).into_any()
                hint=move || t!(i18n, field_api_base_url_hint).into_any()
                path="apiBaseUrl"
                input_type="url"
                placeholder="https://api.telegram.org"
                value=text_of(draft, |d| &d.api_base_url)
                on_input=move |v| draft.update(|d| d.api_base_url = v)
                errors
            />
        </div>
    }
}

/// A template problem in the admin's words: the page's own reasons are worded here, the
/// server's pass through [`problem_text`].
fn template_problem_text(i18n: I18n, problem: &FieldProblem) -> String {
    match problem {
        FieldProblem::Template(reason) if reason == NOT_AN_OBJECT => {
            t_string!(i18n, err_template_not_object).to_string()
        }
        FieldProblem::Template(reason) if reason.starts_with(NOT_JSON) => {
            let at = reason[NOT_JSON.len()..].trim();
            let (line, column) = at.split_once(':').unwrap_or((at, ""));
            t_string!(
                i18n,
                err_template_not_json,
                line = line.to_owned(),
                column = column.to_owned()
            )
            .to_string()
        }
        other => problem_text(i18n, other),
    }
}

/// A custom target's JSON body, parsed as it is typed once the admin tried to save.
#[component]
fn TemplateField(draft: RwSignal<TargetDraft>, errors: RwSignal<FieldErrors>) -> impl IntoView {
    let i18n = use_i18n();
    let error = field_error(errors, "template");
    view! {
        <div class="field template-field" class:has-error=move || error.with(Option::is_some)>
            <label class="field-label" for="field-template">{t!(i18n, field_template)}</label>
            <textarea
                id="field-template"
                name="template"
                class="mono"
                rows="8"
                data-testid="field-template"
                placeholder="{\n  \"title\": \"{{title}}\"\n}"
                aria-invalid=move || error.with(Option::is_some).to_string()
                prop:value=move || draft.with(|d| d.template.clone())
                on:input=move |ev| draft.update(|d| d.template = event_target_value(&ev))
            ></textarea>
            <span class="field-hint muted small">{t!(i18n, field_template_hint)}</span>
            <span class="field-error" role="alert" data-testid="field-template-error">
                {move || error.get().map(|p| template_problem_text(i18n, &p))}
            </span>
        </div>
    }
}

/// A custom target's headers, one row each; a stored value left blank is kept.
#[component]
fn HeadersEditor(draft: RwSignal<TargetDraft>, errors: RwSignal<FieldErrors>) -> impl IntoView {
    let i18n = use_i18n();
    let all = field_error(errors, "headers");
    let rows = move || draft.with(|d| d.headers.iter().map(|h| h.row).collect::<Vec<_>>());
    view! {
        <div class="field headers-field" data-testid="field-headers">
            <span class="field-label">{t!(i18n, field_headers)}</span>
            <For each=rows key=|row| *row let:row>
                <HeaderRow draft errors row />
            </For>
            <div>
                <button
                    type="button"
                    class="btn btn-ghost"
                    data-testid="add-header"
                    on:click=move |_| draft.update(TargetDraft::add_header)
                >
                    {t!(i18n, header_add)}
                </button>
            </div>
            <span class="field-hint muted small">{t!(i18n, field_headers_hint)}</span>
            <span class="field-error" role="alert" data-testid="field-headers-error">
                {move || all.get().map(|p| problem_text(i18n, &p))}
            </span>
        </div>
    }
}

#[component]
fn HeaderRow(draft: RwSignal<TargetDraft>, errors: RwSignal<FieldErrors>, row: u32) -> impl IntoView {
    let i18n = use_i18n();
    let get = move || draft.with(|d| d.headers.iter().find(|h| h.row == row).cloned().unwrap_or_default());
    let edit = move |f: &dyn Fn(&mut HeaderDraft)| {
        draft.update(|d| {
            if let Some(h) = d.headers.iter_mut().find(|h| h.row == row) {
                f(h);
            }
        })
    };
    let error = Memo::new(move |_| {
        let name = get().name.trim().to_owned();
        errors.with(|e| e.get(&format!("headers.{name}")).cloned())
    });
    let stored = move || draft.with(|d| d.header_stored(&get().name));
    view! {
        <div class="header-row" class:has-error=move || error.with(Option::is_some) data-testid="header-row">
            <input
                type="text"
                class="header-name"
                data-testid="header-name"
                aria-label=move || t_string!(i18n, header_name).to_string()
                placeholder=move || t_string!(i18n, header_name).to_string()
                prop:value=move || get().name
                on:input=move |ev| {
                    let v = event_target_value(&ev);
                    edit(&|h| h.name = v.clone());
                }
            />
            <input
                type="password"
                class="header-value"
                data-testid="header-value"
                aria-label=move || t_string!(i18n, header_value).to_string()
                placeholder=move || if stored() {
                    t_string!(i18n, secret_kept_placeholder).to_string()
                } else {
                    t_string!(i18n, header_value).to_string()
                }
                prop:value=move || get().value
                on:input=move |ev| {
                    let v = event_target_value(&ev);
                    edit(&|h| h.value = v.clone());
                }
            />
            <button
                type="button"
                class="btn btn-ghost"
                data-testid="remove-header"
                aria-label=move || t_string!(i18n, header_remove).to_string()
                on:click=move |_| draft.update(|d| d.headers.retain(|h| h.row != row))
            >
                "×"
            </button>
            <span class="field-error" role="alert">{move || error.get().map(|p| problem_text(i18n, &p))}</span>
        </div>
    }
}
