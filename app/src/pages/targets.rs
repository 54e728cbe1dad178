//! `/settings/notifications/targets` (推送目标): every push target with its channel, where it
//! sends, whether it is on, the kinds bound to it and its last test; add, edit, test and delete.
use std::collections::BTreeMap;

use leptos::prelude::*;

use crate::api::targets::{create_push_target, delete_push_target, list_push_targets, update_push_target};
use crate::components::copy::CopyButton;
use crate::components::form::{failure_text, problem_text, use_edit_form, Switch, TextField};
use crate::components::loaded::LoadedList;
use crate::components::row_editor::{EditActions, EditButton, EditRow, RowEditor};
use crate::components::targets::{channel_name, kind_name, test_target_action, ChannelBadge, DetectedBadge};
use crate::components::toast::{ToastKind, Toaster, Toasts};
use crate::components::usage::written_time;
use crate::i18n::{t, t_string, use_i18n};
use crate::notifications::{FieldErrors, FieldProblem, NotificationKind};
use crate::targets::{BudgetSetting, ChannelKind, LastTest, PushTargetInput, PushTargetView, Stored};
use crate::I18n;

/// The create form's place in the [`RowEditor`]: stored targets have positive ids.
const NEW: i64 = 0;

/// What the page's parts share.
#[derive(Clone, Copy)]
struct Page {
    editor: RowEditor,
    toasts: Toasts,
    /// Bumped after a change that is not a form's save (a switch, a test, a delete).
    reloads: RwSignal<u32>,
    /// The name and secret of a `webhook` target just created without a secret: shown once.
    generated: RwSignal<Option<(String, String)>>,
}

impl Page {
    fn reload(&self) {
        self.reloads.update(|n| *n += 1);
    }
}

#[component]
pub fn TargetsPage() -> impl IntoView {
    let i18n = use_i18n();
    let page = Page {
        editor: RowEditor::new(),
        toasts: Toasts::new(),
        reloads: RwSignal::new(0),
        generated: RwSignal::new(None),
    };
    let editor = page.editor;
    let targets = Resource::new(move || (editor.saves(), page.reloads.get()), |_| list_push_targets());
    view! {
        <Toaster toasts=page.toasts />
        <h1 class="page-title" data-testid="targets-title">{t!(i18n, targets_title)}</h1>
        <p class="muted">{t!(i18n, targets_intro)}</p>
        <GeneratedSecret generated=page.generated />
        <div class="card targets-card">
            <div class="card-toolbar">
                <button
                    type="button"
                    class="btn btn-primary"
                    data-testid="add-target"
                    aria-expanded=move || editor.is_open(NEW).to_string()
                    on:click=move |_| editor.toggle(NEW)
                >
                    {t!(i18n, target_add)}
                </button>
            </div>
            <Show when=move || editor.is_open(NEW)>
                <TargetForm existing=None page />
            </Show>
            <LoadedList
                list=targets
                name="targets"
                empty=|i18n| t!(i18n, targets_empty).into_any()
                failed=|i18n| t!(i18n, targets_load_failed).into_any()
                show=move |list| view! { <TargetTable list page /> }
            />
        </div>
    }
}

fn select_all(ev: leptos::ev::FocusEvent) {
    event_target::<leptos::web_sys::HtmlInputElement>(&ev).select();
}

/// The signing secret generated for a new `webhook` target: the server never shows it again.
#[component]
fn GeneratedSecret(generated: RwSignal<Option<(String, String)>>) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        {move || generated.get().map(|(name, secret)| {
            let to_copy = secret.clone();
            view! {
                <div class="card generated-secret" role="status" data-testid="generated-secret">
                    <p class="generated-secret-title">
                        {move || t_string!(i18n, target_secret_generated, name = name.clone()).to_string()}
                    </p>
                    <div class="generated-secret-row">
                        // Focused, it is selected: ready to copy by hand where the clipboard is not offered.
                        <input
                            class="mono"
                            readonly
                            data-testid="generated-secret-value"
                            prop:value=secret
                            on:focus=select_all
                        />
                        <CopyButton text=to_copy test_id="copy-generated-secret" />
                        <button
                            type="button"
                            class="btn btn-ghost"
                            data-testid="dismiss-generated-secret"
                            on:click=move |_| generated.set(None)
                        >
                            {t!(i18n, target_secret_done)}
                        </button>
                    </div>
                    <p class="muted small">{t!(i18n, target_secret_copy_hint)}</p>
                </div>
            }
        })}
    }
}

#[component]
fn TargetTable(list: Vec<PushTargetView>, page: Page) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <div class="table-scroll">
            <table class="table targets-table" data-testid="targets-table">
                <thead>
                    <tr>
                        <th>{t!(i18n, col_name)}</th>
                        <th>{t!(i18n, targets_col_enabled)}</th>
                        <th>{t!(i18n, targets_col_kinds)}</th>
                        <th>{t!(i18n, targets_col_last_test)}</th>
                        <th>{t!(i18n, col_actions)}</th>
                    </tr>
                </thead>
                <tbody>
                    {list.into_iter().map(|target| view! { <TargetRow target page /> }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

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
fn TargetRow(target: PushTargetView, page: Page) -> impl IntoView {
    let i18n = use_i18n();
    let Page { editor, toasts, .. } = page;
    let id = target.id;
    let name = StoredValue::new(target.name.clone());
    let kinds = StoredValue::new(target.kinds.clone());
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

    let test = test_target_action(toasts, move || page.reload());
    let test_kind = RwSignal::new(
        target
            .kinds
            .first()
            .copied()
            .unwrap_or(NotificationKind::CircuitBreaker),
    );

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

    let form_target = target.clone();
    let PushTargetView {
        name: shown_name,
        channel,
        endpoint,
        proxy_url,
        kinds: bound,
        last_test,
        ..
    } = target;
    view! {
        <tr
            data-testid="target-row"
            data-id=id.to_string()
            data-channel=channel.key()
            class:editing=move || editor.is_open(id)
        >
            <td class="target-cell">
                <span class="target-name" data-testid="target-name">{shown_name}</span>
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
                {if bound.is_empty() {
                    view! { <span class="muted small">{t!(i18n, target_unbound)}</span> }.into_any()
                } else {
                    view! {
                        <ul class="target-kinds">
                            {bound
                                .into_iter()
                                .map(|kind| view! {
                                    <li class="badge kind-badge" data-kind=kind.key()>{move || kind_name(i18n, kind)}</li>
                                })
                                .collect_view()}
                        </ul>
                    }
                    .into_any()
                }}
            </td>
            <td data-testid="target-last-test">
                <LastTestCell last_test />
            </td>
            <td>
                <div class="row-actions">
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
                    <EditButton editor id test_id="edit-target" />
                    <button
                        type="button"
                        class="btn btn-ghost btn-danger"
                        data-testid="delete-target"
                        disabled=move || delete.pending().get()
                        on:click=on_delete
                    >
                        {t!(i18n, delete)}
                    </button>
                </div>
            </td>
        </tr>
        <EditRow editor id columns=5>
            <TargetForm existing=Some(form_target.clone()) page />
        </EditRow>
    }
}

/// 成功 · 120 ms, or 失败 and why, with when.
#[component]
fn LastTestCell(last_test: Option<LastTest>) -> impl IntoView {
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

/// The target as it is, to save with one thing changed: write-only settings and the URL are left
/// out (kept), the rest is sent back as shown.
fn unchanged_input(target: &PushTargetView) -> PushTargetInput {
    PushTargetInput {
        name: target.name.clone(),
        channel: Some(target.channel),
        enabled: target.enabled,
        webhook_url: None,
        secret: None,
        bot_token: None,
        chat_id: target.chat_id.clone(),
        message_thread_id: target.message_thread_id,
        api_base_url: target.api_base_url.clone(),
        template: target.template.clone(),
        headers: None,
        proxy_url: target.proxy_url.clone(),
        proxy_fallback_direct: target.proxy_fallback_direct,
        rate_limit: target.rate_limit,
    }
}

/// What a shown target already has, for the checks an edit runs.
fn stored_of(target: &PushTargetView) -> Stored {
    Stored {
        channel: target.channel,
        webhook_url: target.webhook_url.is_some(),
        bot_token: target.has_bot_token,
        secret: target.has_secret,
        template: target.template.clone(),
        headers: target.header_names.clone(),
    }
}

/// One custom header as typed; `row` tells the rows apart while names are edited.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct HeaderDraft {
    row: u32,
    name: String,
    /// Blank keeps the stored value of a header of that name.
    value: String,
}

/// The form as typed. Write-only secrets start blank: left blank, the stored one is kept.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct TargetDraft {
    /// The target being edited; `None` while creating.
    stored: Option<Stored>,
    name: String,
    /// The channel picked (creating); `None` lets the URL's host name it.
    channel: Option<ChannelKind>,
    /// Whether the admin picked the channel, so a pasted URL no longer picks it.
    channel_chosen: bool,
    enabled: bool,
    webhook_url: String,
    secret: String,
    /// Feishu, DingTalk: remove the stored secret.
    remove_secret: bool,
    bot_token: String,
    chat_id: String,
    message_thread_id: String,
    api_base_url: String,
    template: String,
    headers: Vec<HeaderDraft>,
    proxy_url: String,
    proxy_fallback_direct: bool,
    own_budget: bool,
    budget_sends: String,
    budget_seconds: String,
}

/// A template the page could not read as JSON: where, as `line:column` after this mark.
const NOT_JSON: &str = "not JSON at";
/// The reason [`PushTargetInput::validate`] gives for a template that is not an object.
const NOT_AN_OBJECT: &str = "must be a JSON object";

impl TargetDraft {
    fn new() -> Self {
        TargetDraft {
            enabled: true,
            ..Default::default()
        }
    }

    fn from_view(target: &PushTargetView) -> Self {
        let text = |v: &Option<String>| v.clone().unwrap_or_default();
        TargetDraft {
            stored: Some(stored_of(target)),
            name: target.name.clone(),
            channel: Some(target.channel),
            channel_chosen: true,
            enabled: target.enabled,
            webhook_url: text(&target.webhook_url),
            chat_id: text(&target.chat_id),
            message_thread_id: target.message_thread_id.map(|t| t.to_string()).unwrap_or_default(),
            api_base_url: text(&target.api_base_url),
            template: target
                .template
                .as_ref()
                .and_then(|t| serde_json::to_string_pretty(t).ok())
                .unwrap_or_default(),
            headers: target
                .header_names
                .iter()
                .zip(0..)
                .map(|(name, row)| HeaderDraft {
                    row,
                    name: name.clone(),
                    value: String::new(),
                })
                .collect(),
            proxy_url: text(&target.proxy_url),
            proxy_fallback_direct: target.proxy_fallback_direct,
            own_budget: target.rate_limit.is_some(),
            budget_sends: target.rate_limit.map(|b| b.sends.to_string()).unwrap_or_default(),
            budget_seconds: target.rate_limit.map(|b| b.per_seconds.to_string()).unwrap_or_default(),
            ..Default::default()
        }
    }

    /// The channel the fields are for: the stored one, the one picked, or the URL's.
    fn channel(&self) -> Option<ChannelKind> {
        self.stored
            .as_ref()
            .map(|s| s.channel)
            .or(self.channel)
            .or_else(|| ChannelKind::detect(&self.webhook_url))
    }

    /// A pasted URL picks the channel of a new target, until the admin picks one.
    fn set_url(&mut self, url: String) {
        self.webhook_url = url;
        if self.stored.is_none() && !self.channel_chosen {
            self.channel = ChannelKind::detect(&self.webhook_url);
        }
    }

    fn pick_channel(&mut self, channel: Option<ChannelKind>) {
        self.channel = channel;
        self.channel_chosen = channel.is_some();
    }

    /// Whether a header of this name has a stored value to keep.
    fn header_stored(&self, name: &str) -> bool {
        self.stored
            .as_ref()
            .is_some_and(|s| s.headers.iter().any(|h| h.eq_ignore_ascii_case(name.trim())))
    }

    fn add_header(&mut self) {
        let row = self.headers.iter().map(|h| h.row + 1).max().unwrap_or(0);
        self.headers.push(HeaderDraft {
            row,
            ..Default::default()
        });
    }

    /// The input this draft means, or every problem the page can see by itself (the same checks
    /// as the server's, plus the text that is not a number or not JSON).
    fn to_input(&self) -> Result<PushTargetInput, FieldErrors> {
        let mut errors = FieldErrors::default();
        let channel = self.channel();
        let is = |c: ChannelKind| channel == Some(c);
        let telegram = is(ChannelKind::Telegram);
        let custom = is(ChannelKind::Custom);
        let text = |t: &str| Some(t.to_owned());
        let secret = if channel.is_some_and(ChannelKind::takes_secret) {
            if self.remove_secret {
                Some(String::new())
            } else {
                Some(self.secret.trim().to_owned()).filter(|s| !s.is_empty())
            }
        } else {
            None
        };
        let message_thread_id = match self.message_thread_id.trim() {
            t if !telegram || t.is_empty() => None,
            t => t.parse::<i64>().map_or_else(
                |_| {
                    errors.insert("messageThreadId".into(), FieldProblem::NotANumber);
                    None
                },
                Some,
            ),
        };
        let template = match self.template.trim() {
            t if !custom || t.is_empty() => None,
            t => match serde_json::from_str::<serde_json::Value>(t) {
                Ok(value) => Some(value),
                Err(e) => {
                    errors.insert(
                        "template".into(),
                        FieldProblem::Template(format!("{NOT_JSON} {}:{}", e.line(), e.column())),
                    );
                    None
                }
            },
        };
        let headers = custom.then(|| {
            self.headers
                .iter()
                .filter(|h| !(h.name.trim().is_empty() && h.value.is_empty()))
                .map(|h| {
                    let keep = h.value.is_empty() && self.header_stored(&h.name);
                    (h.name.clone(), (!keep).then(|| h.value.clone()))
                })
                .collect::<BTreeMap<_, _>>()
        });
        let rate_limit = if self.own_budget {
            let sends = self.budget_sends.trim().parse::<u32>();
            let per_seconds = self.budget_seconds.trim().parse::<u32>();
            if sends.is_err() {
                errors.insert("rateLimit.sends".into(), FieldProblem::NotANumber);
            }
            if per_seconds.is_err() {
                errors.insert("rateLimit.perSeconds".into(), FieldProblem::NotANumber);
            }
            match (sends, per_seconds) {
                (Ok(sends), Ok(per_seconds)) => Some(BudgetSetting { sends, per_seconds }),
                _ => None,
            }
        } else {
            None
        };
        let input = PushTargetInput {
            name: self.name.clone(),
            channel,
            enabled: self.enabled,
            webhook_url: channel
                .is_none_or(ChannelKind::takes_webhook_url)
                .then(|| self.webhook_url.clone()),
            secret,
            bot_token: telegram.then(|| self.bot_token.clone()),
            chat_id: telegram.then(|| self.chat_id.clone()),
            message_thread_id,
            api_base_url: if telegram { text(&self.api_base_url) } else { None },
            template,
            headers,
            proxy_url: text(&self.proxy_url),
            proxy_fallback_direct: self.proxy_fallback_direct,
            rate_limit,
        }
        .normalized();
        // A blank bot token keeps the stored one.
        let input = PushTargetInput {
            bot_token: input.bot_token.filter(|t| !t.is_empty()),
            ..input
        };
        if let Err(found) = input.validate(self.stored.as_ref()) {
            for (path, problem) in found.0 {
                // Text that did not parse keeps that message, not the one for what it became.
                errors.0.entry(path).or_insert(problem);
            }
        }
        if errors.is_empty() {
            Ok(input)
        } else {
            Err(errors)
        }
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

/// The field's problem, by its path.
fn field_error(errors: RwSignal<FieldErrors>, path: &'static str) -> Memo<Option<FieldProblem>> {
    Memo::new(move |_| errors.with(|e| e.get(path).cloned()))
}

#[component]
fn TargetForm(existing: Option<PushTargetView>, page: Page) -> impl IntoView {
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
    let channel = Memo::new(move |_| draft.with(TargetDraft::channel));
    let takes_url = move || channel.get().is_none_or(ChannelKind::takes_webhook_url);
    let takes_secret = move || channel.get().is_some_and(ChannelKind::takes_secret);
    let is = move |c: ChannelKind| channel.get() == Some(c);
    let field = move |get: fn(&TargetDraft) -> &String| Signal::derive(move || draft.with(|d| get(d).clone()));
    let kept = move || t_string!(i18n, secret_kept_placeholder).to_string();
    let secret_stored = move || draft.with(|d| d.stored.as_ref().is_some_and(|s| s.secret));
    let token_stored = move || draft.with(|d| d.stored.as_ref().is_some_and(|s| s.bot_token));

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
                    value=field(|d| &d.name)
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
            <Show when=takes_url>
                <div class="field-row webhook-row">
                    <TextField
                        label=move || t!(i18n, field_webhook_url).into_any()
                        hint=move || view! {
                            <DetectedBadge url=Signal::derive(move || draft.with(|d| d.webhook_url.clone())) test_id="detected-channel".to_owned() />
                        }.into_any()
                        path="webhookUrl"
                        input_type="url"
                        placeholder="https://…"
                        value=field(|d| &d.webhook_url)
                        on_input=move |v| draft.update(|d| d.set_url(v))
                        errors
                    />
                </div>
            </Show>
            <Show when=takes_secret>
                <div class="field-row">
                    <TextField
                        label=move || t!(i18n, field_secret).into_any()
                        hint=move || if is(ChannelKind::Webhook) {
                            t!(i18n, field_secret_webhook_hint).into_any()
                        } else {
                            t!(i18n, field_secret_hint).into_any()
                        }
                        path="secret"
                        input_type="password"
                        placeholder=Signal::derive(move || if secret_stored() { kept() } else { String::new() })
                        value=field(|d| &d.secret)
                        on_input=move |v| draft.update(|d| d.secret = v)
                        disabled=Signal::derive(move || draft.with(|d| d.remove_secret))
                        errors
                    />
                    <Show when=move || secret_stored() && !is(ChannelKind::Webhook)>
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
            </Show>
            <Show when=move || is(ChannelKind::Telegram)>
                <div class="field-row">
                    <TextField
                        label=move || t!(i18n, field_bot_token).into_any()
                        hint=move || t!(i18n, field_bot_token_hint).into_any()
                        path="botToken"
                        input_type="password"
                        placeholder=Signal::derive(move || if token_stored() { kept() } else { "123456:ABC…".to_owned() })
                        value=field(|d| &d.bot_token)
                        on_input=move |v| draft.update(|d| d.bot_token = v)
                        errors
                    />
                    <TextField
                        label=move || t!(i18n, field_chat_id).into_any()
                        hint=move || t!(i18n, field_chat_id_hint).into_any()
                        path="chatId"
                        input_type="text"
                        placeholder="-1001234567890"
                        value=field(|d| &d.chat_id)
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
                        value=field(|d| &d.message_thread_id)
                        on_input=move |v| draft.update(|d| d.message_thread_id = v)
                        errors
                    />
                    <TextField
                        label=move || t!(i18n, field_api_base_url).into_any()
                        hint=move || t!(i18n, field_api_base_url_hint).into_any()
                        path="apiBaseUrl"
                        input_type="url"
                        placeholder="https://api.telegram.org"
                        value=field(|d| &d.api_base_url)
                        on_input=move |v| draft.update(|d| d.api_base_url = v)
                        errors
                    />
                </div>
            </Show>
            <Show when=move || is(ChannelKind::Custom)>
                <TemplateField draft errors />
                <HeadersEditor draft errors />
            </Show>
            <div class="field-row">
                <TextField
                    label=move || t!(i18n, field_proxy_url).into_any()
                    hint=move || t!(i18n, field_proxy_url_hint).into_any()
                    path="proxyUrl"
                    input_type="text"
                    placeholder="socks5://user:password@proxy.example:1080"
                    value=field(|d| &d.proxy_url)
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

lazy_page!(TargetsRoute, TargetsPage);

#[cfg(test)]
mod tests {
    use super::*;

    fn view(channel: ChannelKind) -> PushTargetView {
        PushTargetView {
            id: 7,
            name: "值班群".into(),
            channel,
            enabled: true,
            webhook_url: Some("https://open.feishu.cn/open-apis/bot/v2/hook/x".into()),
            has_secret: true,
            has_bot_token: false,
            chat_id: None,
            message_thread_id: None,
            api_base_url: None,
            template: None,
            header_names: vec![],
            proxy_url: Some("socks5://u:***@proxy.example:1080".into()),
            proxy_fallback_direct: true,
            rate_limit: Some(BudgetSetting {
                sends: 5,
                per_seconds: 60,
            }),
            default_rate_limit: None,
            endpoint: "https://open.feishu.cn".into(),
            kinds: vec![NotificationKind::CostAlert],
            last_test: None,
            generated_secret: None,
        }
    }

    #[test]
    fn an_untouched_edit_keeps_the_secrets_and_sends_the_rest() {
        let target = view(ChannelKind::Feishu);
        let input = TargetDraft::from_view(&target).to_input().unwrap();
        assert_eq!(input.secret, None, "a blank secret keeps the stored one");
        assert_eq!(input.channel, Some(ChannelKind::Feishu));
        assert_eq!(input.proxy_url.as_deref(), Some("socks5://u:***@proxy.example:1080"));
        assert!(input.proxy_fallback_direct);
        assert_eq!(input.rate_limit, target.rate_limit);
        assert_eq!((input.headers, input.template, input.chat_id), (None, None, None));

        let mut removed = TargetDraft::from_view(&target);
        removed.remove_secret = true;
        assert_eq!(removed.to_input().unwrap().secret.as_deref(), Some(""));

        let unchanged = unchanged_input(&target);
        assert_eq!(
            unchanged
                .validate(Some(&stored_of(&target)))
                .map(|edit| edit.config.kind()),
            Ok(ChannelKind::Feishu)
        );
    }

    #[test]
    fn a_pasted_url_picks_the_channel_until_one_is_picked() {
        let mut d = TargetDraft::new();
        d.set_url("https://oapi.dingtalk.com/robot/send?access_token=t".into());
        assert_eq!(d.channel, Some(ChannelKind::Dingtalk));
        d.set_url("http://127.0.0.1:9/feishu?key=k".into());
        assert_eq!(d.channel, None);
        d.pick_channel(Some(ChannelKind::Feishu));
        d.set_url("https://hooks.slack.com/services/x".into());
        assert_eq!(d.channel(), Some(ChannelKind::Feishu));
        d.name = "飞书".into();
        d.secret = " SECabc ".into();
        let input = d.to_input().unwrap();
        assert_eq!(input.secret.as_deref(), Some("SECabc"));
        assert_eq!(input.bot_token, None, "only Telegram takes a token");
    }

    #[test]
    fn templates_headers_and_budgets_are_read_from_text() {
        let mut d = TargetDraft::new();
        d.name = "C".into();
        d.pick_channel(Some(ChannelKind::Custom));
        d.set_url("https://example.com/hook".into());
        d.template = "{\"a\": ".into();
        d.own_budget = true;
        d.budget_sends = "x".into();
        d.budget_seconds = "60".into();
        let errors = d.to_input().unwrap_err();
        assert!(matches!(errors.get("template"), Some(FieldProblem::Template(r)) if r.starts_with(NOT_JSON)));
        assert_eq!(errors.get("rateLimit.sends"), Some(&FieldProblem::NotANumber));

        d.template = "[1]".into();
        assert_eq!(
            d.to_input().unwrap_err().get("template"),
            Some(&FieldProblem::Template(NOT_AN_OBJECT.into()))
        );

        d.template = "{\"text\": \"{{title}}\"}".into();
        d.budget_sends = "5".into();
        d.add_header();
        d.headers[0].name = "X-Token".into();
        d.headers[0].value = "abc".into();
        d.add_header();
        let input = d.to_input().unwrap();
        assert_eq!(input.template, Some(serde_json::json!({"text": "{{title}}"})));
        assert_eq!(
            input.headers,
            Some(BTreeMap::from([("X-Token".to_owned(), Some("abc".to_owned()))])),
            "a blank row is left out"
        );
        assert_eq!(
            input.rate_limit,
            Some(BudgetSetting {
                sends: 5,
                per_seconds: 60
            })
        );

        // An edit keeps a stored header's value when it is left blank.
        let mut stored = view(ChannelKind::Custom);
        stored.template = Some(serde_json::json!({"a": "b"}));
        stored.header_names = vec!["Authorization".into()];
        stored.has_secret = false;
        let input = TargetDraft::from_view(&stored).to_input().unwrap();
        assert_eq!(
            input.headers,
            Some(BTreeMap::from([("Authorization".to_owned(), None)]))
        );
    }

    #[test]
    fn telegram_fields_and_a_kept_token() {
        let mut target = view(ChannelKind::Telegram);
        target.webhook_url = None;
        target.has_secret = false;
        target.has_bot_token = true;
        target.chat_id = Some("-1001234567890".into());
        target.message_thread_id = Some(42);
        let mut d = TargetDraft::from_view(&target);
        let input = d.to_input().unwrap();
        assert_eq!(input.bot_token, None, "left blank, the stored token is kept");
        assert_eq!(input.webhook_url, None);
        assert_eq!(input.message_thread_id, Some(42));
        d.message_thread_id = "abc".into();
        assert_eq!(
            d.to_input().unwrap_err().get("messageThreadId"),
            Some(&FieldProblem::NotANumber)
        );
    }
}

/// Rendered as the server renders it (the i18n context needs the `ssr` build off the browser).
#[cfg(all(test, feature = "ssr"))]
mod render_tests {
    use super::*;
    use crate::i18n::I18nContextProvider;

    /// The form of a stored target of `channel`, rendered to HTML.
    fn form_html(channel: ChannelKind) -> String {
        // Actions and effects need an executor; another test may have set it already.
        let _ = any_spawner::Executor::init_futures_executor();
        let owner = Owner::new();
        owner.with(|| {
            let mut target = tests_view(channel);
            target.channel = channel;
            let page = Page {
                editor: RowEditor::new(),
                toasts: Toasts::new(),
                reloads: RwSignal::new(0),
                generated: RwSignal::new(None),
            };
            view! {
                <I18nContextProvider>
                    <TargetForm existing=Some(target) page />
                </I18nContextProvider>
            }
            .to_html()
        })
    }

    fn tests_view(channel: ChannelKind) -> PushTargetView {
        PushTargetView {
            id: 3,
            name: "n".into(),
            channel,
            enabled: true,
            webhook_url: channel.takes_webhook_url().then(|| "https://example.com/x".into()),
            has_secret: channel.takes_secret(),
            has_bot_token: channel == ChannelKind::Telegram,
            chat_id: None,
            message_thread_id: None,
            api_base_url: None,
            template: None,
            header_names: vec!["X-Token".into()],
            proxy_url: None,
            proxy_fallback_direct: false,
            rate_limit: None,
            default_rate_limit: None,
            endpoint: "https://example.com".into(),
            kinds: vec![],
            last_test: None,
            generated_secret: None,
        }
    }

    #[test]
    fn a_row_shows_channel_kinds_and_last_test() {
        let _ = any_spawner::Executor::init_futures_executor();
        let owner = Owner::new();
        let html = owner.with(|| {
            let mut target = tests_view(ChannelKind::Feishu);
            target.kinds = vec![NotificationKind::CostAlert];
            target.last_test = Some(LastTest {
                at: "2026-11-26T14:03:05+08:00".into(),
                ok: false,
                error: Some("code 19021: sign match fail".into()),
                latency_ms: 87,
            });
            let page = Page {
                editor: RowEditor::new(),
                toasts: Toasts::new(),
                reloads: RwSignal::new(0),
                generated: RwSignal::new(None),
            };
            view! {
                <I18nContextProvider>
                    <TargetTable list=vec![target] page />
                </I18nContextProvider>
            }
            .to_html()
        });
        for expected in [
            "飞书",
            "成本预警",
            "失败",
            "87 ms",
            "2026-11-26 14:03:05",
            "code 19021",
            "绑定的通知",
        ] {
            assert!(html.contains(expected), "{expected} in {html}");
        }
    }

    #[test]
    fn each_channel_shows_its_own_fields() {
        let has = |html: &str, id: &str| html.contains(&format!("data-testid=\"{id}\""));
        let feishu = form_html(ChannelKind::Feishu);
        assert!(
            has(&feishu, "field-webhookUrl") && has(&feishu, "field-secret"),
            "{feishu}"
        );
        assert!(has(&feishu, "field-remove-secret") && !has(&feishu, "field-botToken"));
        assert!(feishu.contains("已设置 · 重新输入"));
        let telegram = form_html(ChannelKind::Telegram);
        assert!(has(&telegram, "field-botToken") && has(&telegram, "field-chatId"));
        assert!(!has(&telegram, "field-webhookUrl") && !has(&telegram, "field-secret"));
        let custom = form_html(ChannelKind::Custom);
        assert!(has(&custom, "field-template") && has(&custom, "header-row") && !has(&custom, "field-secret"));
        let wecom = form_html(ChannelKind::Wecom);
        assert!(has(&wecom, "field-proxyUrl") && has(&wecom, "field-ownBudget") && !has(&wecom, "field-secret"));
    }
}
