//! Form parts every settings page shares: the labelled text field with its problem, the switch,
//! the draft → validate → save flow, and the words for field problems and failures.
use leptos::ev;
use leptos::prelude::*;

use crate::components::toast::{ToastKind, Toasts};
use crate::error::{AppError, SendFailure};
use crate::i18n::{t, t_string, use_i18n};
use crate::notifications::{FieldErrors, FieldProblem};
use crate::I18n;

/// A labelled input with its hint and its problem (by JSON path, as the server names it).
#[component]
pub fn TextField(
    label: impl Fn() -> AnyView + Send + Sync + 'static,
    hint: impl Fn() -> AnyView + Send + Sync + 'static,
    #[prop(into)] path: String,
    input_type: &'static str,
    #[prop(optional, into)] placeholder: Signal<String>,
    #[prop(into)] value: Signal<String>,
    on_input: impl Fn(String) + Send + Sync + 'static,
    #[prop(optional, into)] disabled: Signal<bool>,
    errors: RwSignal<FieldErrors>,
) -> impl IntoView {
    let i18n = use_i18n();
    let error = {
        let path = path.clone();
        Memo::new(move |_| errors.with(|e| e.get(&path).cloned()))
    };
    let id = format!("field-{}", path.replace('.', "-"));
    let error_id = format!("{id}-error");
    view! {
        <div class="field" class:has-error=move || error.with(Option::is_some)>
            <label class="field-label" for=id.clone()>{label}</label>
            <input
                id=id.clone()
                type=input_type
                name=path.clone()
                data-testid=id.clone()
                placeholder=move || placeholder.get()
                prop:value=move || value.get()
                disabled=move || disabled.get()
                aria-invalid=move || error.with(Option::is_some).to_string()
                aria-describedby=error_id.clone()
                on:input=move |ev| on_input(event_target_value(&ev))
            />
            <span class="field-hint muted small">{hint}</span>
            <span class="field-error" id=error_id role="alert" data-testid=format!("{id}-error")>
                {move || error.get().map(|p| problem_text(i18n, &p))}
            </span>
        </div>
    }
}

/// An on/off switch (a checkbox with `role="switch"`) that says which it is.
#[component]
pub fn Switch(
    #[prop(into)] checked: Signal<bool>,
    on_toggle: impl Fn(bool) + Send + Sync + 'static,
    #[prop(into)] disabled: Signal<bool>,
    #[prop(into)] test_id: String,
    #[prop(optional, into)] label: Option<Signal<String>>,
) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <label class="switch" class:disabled=move || disabled.get()>
            <input
                type="checkbox"
                role="switch"
                data-testid=test_id
                prop:checked=move || checked.get()
                disabled=move || disabled.get()
                aria-label=move || label.map(|l| l.get())
                on:change=move |ev| on_toggle(event_target_checked(&ev))
            />
            <span class="switch-track" aria-hidden="true"><span class="switch-thumb"></span></span>
            <span class="switch-text">
                {move || if checked.get() { t!(i18n, switch_on).into_any() } else { t!(i18n, switch_off).into_any() }}
            </span>
        </label>
    }
}

/// The draft → validate → save flow of an edit form, from [`use_edit_form`]. Problems show once
/// the admin tried to save and then follow every keystroke; the server's own verdict lands on
/// the same fields. Copy, for the view's closures.
pub struct EditForm<D: 'static, I: 'static, O: 'static> {
    draft: RwSignal<D>,
    validate: fn(&D) -> Result<I, FieldErrors>,
    save: Action<I, Result<O, AppError>>,
    /// The problems shown, by field path.
    pub errors: RwSignal<FieldErrors>,
    show_errors: RwSignal<bool>,
    toasts: Toasts,
    i18n: I18n,
}

impl<D, I, O> Clone for EditForm<D, I, O> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<D, I, O> Copy for EditForm<D, I, O> {}

/// Wires a form's draft to its validation and its save: `on_saved` gets what the server saved.
pub fn use_edit_form<D, I, O, Fut>(
    toasts: Toasts,
    draft: RwSignal<D>,
    validate: fn(&D) -> Result<I, FieldErrors>,
    save: impl Fn(I) -> Fut + Send + Sync + 'static,
    on_saved: impl Fn(O) + 'static,
) -> EditForm<D, I, O>
where
    D: Send + Sync + 'static,
    I: Clone + Send + Sync + 'static,
    O: Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<O, AppError>> + Send + 'static,
{
    let i18n = use_i18n();
    let errors = RwSignal::new(FieldErrors::default());
    let show_errors = RwSignal::new(false);
    Effect::new(move |_| {
        if show_errors.get() {
            errors.set(draft.with(|d| validate(d).err().unwrap_or_default()));
        }
    });
    let save = Action::new(move |input: &I| save(input.clone()));
    Effect::new(move |_| {
        let Some(result) = save.value().get() else { return };
        match result {
            Ok(saved) => {
                errors.set(FieldErrors::default());
                show_errors.set(false);
                on_saved(saved);
            }
            Err(AppError::Validation(found)) => {
                errors.set(found);
                toasts.push(ToastKind::Error, t_string!(i18n, toast_save_invalid).to_string());
            }
            Err(e) => toasts.push(
                ToastKind::Error,
                format!("{}: {}", t_string!(i18n, toast_save_failed), failure_text(i18n, &e)),
            ),
        }
    });
    EditForm {
        draft,
        validate,
        save,
        errors,
        show_errors,
        toasts,
        i18n,
    }
}

impl<D, I, O> EditForm<D, I, O>
where
    D: Send + Sync + 'static,
    I: Send + Sync + 'static,
    O: Send + Sync + 'static,
{
    /// The form's submit: saves the draft when it is valid, else shows why not.
    pub fn submit(&self, ev: ev::SubmitEvent) {
        ev.prevent_default();
        self.show_errors.set(true);
        match self.draft.with_untracked(self.validate) {
            Ok(input) => {
                self.errors.set(FieldErrors::default());
                self.save.dispatch(input);
            }
            Err(found) => {
                self.errors.set(found);
                let i18n = self.i18n;
                self.toasts
                    .push(ToastKind::Error, t_string!(i18n, toast_save_invalid).to_string());
            }
        }
    }

    /// Whether a save is on its way.
    pub fn pending(&self) -> bool {
        self.save.pending().get()
    }
}

/// A field problem in the admin's language.
pub fn problem_text(i18n: I18n, problem: &FieldProblem) -> String {
    match problem {
        FieldProblem::TimeFormat => t_string!(i18n, err_time_format).to_string(),
        FieldProblem::NotANumber => t_string!(i18n, err_not_a_number).to_string(),
        FieldProblem::OutOfRange { min, max } => t_string!(i18n, err_out_of_range, min = *min, max = *max).to_string(),
        FieldProblem::UrlRequired => t_string!(i18n, err_url_required).to_string(),
        FieldProblem::UrlScheme => t_string!(i18n, err_url_scheme).to_string(),
        FieldProblem::UrlInvalid => t_string!(i18n, err_url_invalid).to_string(),
        FieldProblem::UrlTooLong { max } => t_string!(i18n, err_url_too_long, max = *max).to_string(),
        FieldProblem::UrlRefused(reason) => t_string!(i18n, err_url_refused, reason = reason.clone()).to_string(),
        FieldProblem::UrlMasked => t_string!(i18n, err_url_masked).to_string(),
        FieldProblem::Amount => t_string!(i18n, err_amount).to_string(),
        FieldProblem::NameLength { max } => t_string!(i18n, err_name_length, max = *max).to_string(),
        FieldProblem::ChannelRequired => t_string!(i18n, err_channel_required).to_string(),
        FieldProblem::NotTaken(channel) => t_string!(i18n, err_not_taken, channel = channel.clone()).to_string(),
        FieldProblem::Required => t_string!(i18n, err_required).to_string(),
        FieldProblem::BotToken => t_string!(i18n, err_bot_token).to_string(),
        FieldProblem::ChatId => t_string!(i18n, err_chat_id).to_string(),
        FieldProblem::SecretForm { max } => t_string!(i18n, err_secret_form, max = *max).to_string(),
        FieldProblem::WebhookSecret => t_string!(i18n, err_webhook_secret).to_string(),
        FieldProblem::Template(reason) => t_string!(i18n, err_template, reason = reason.clone()).to_string(),
        FieldProblem::HeaderName => t_string!(i18n, err_header_name).to_string(),
        FieldProblem::HeaderValue { max } => t_string!(i18n, err_header_value, max = *max).to_string(),
        FieldProblem::TooMany { max } => t_string!(i18n, err_too_many, max = *max).to_string(),
        FieldProblem::ProxyUrl => t_string!(i18n, err_proxy_url).to_string(),
        FieldProblem::Budget { max_sends, max_seconds } => {
            t_string!(i18n, err_budget, max_sends = *max_sends, max_seconds = *max_seconds).to_string()
        }
        FieldProblem::ChannelChanged(channel) => {
            t_string!(i18n, err_channel_changed, channel = channel.clone()).to_string()
        }
        FieldProblem::UnknownTargets(ids) => {
            t_string!(i18n, err_unknown_targets, ids = crate::notifications::join_ids(ids)).to_string()
        }
    }
}

/// Why a load, a save or a test failed, in the words of the spec's troubleshooting table.
pub fn failure_text(i18n: I18n, error: &AppError) -> String {
    match error {
        AppError::Webhook {
            class,
            http_status,
            message,
        } => {
            let headline = match class {
                SendFailure::Refused => t_string!(i18n, fail_refused).to_string(),
                SendFailure::Timeout => t_string!(i18n, fail_timeout).to_string(),
                SendFailure::Connect => t_string!(i18n, fail_connect).to_string(),
                SendFailure::Redirect => t_string!(i18n, fail_redirect).to_string(),
                SendFailure::Errcode => t_string!(i18n, fail_errcode).to_string(),
                SendFailure::Throttled => t_string!(i18n, fail_throttled).to_string(),
                SendFailure::HttpStatus if *http_status == Some(403) => t_string!(i18n, fail_http_403).to_string(),
                SendFailure::HttpStatus => t_string!(i18n, fail_http).to_string(),
                SendFailure::Request => t_string!(i18n, fail_other).to_string(),
            };
            format!("{headline} ({message})")
        }
        AppError::Forbidden | AppError::Unauthorized => t_string!(i18n, fail_forbidden).to_string(),
        AppError::Conflict(_) => t_string!(i18n, fail_not_enabled).to_string(),
        AppError::Validation(errors) => errors
            .0
            .values()
            .next()
            .map(|p| problem_text(i18n, p))
            .unwrap_or_else(|| t_string!(i18n, fail_other).to_string()),
        other => format!("{} ({other})", t_string!(i18n, fail_other)),
    }
}
