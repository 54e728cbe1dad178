//! `/settings/providers` (供应商): every gateway provider with its circuit (关闭 / 打开 / 半开),
//! its breaker settings and its spending this week and month against its quotas, and an inline
//! form per row to edit quotas and breaker settings.
use leptos::ev;
use leptos::prelude::*;

use crate::api::usage::{list_provider_usage, update_provider_settings};
use crate::components::toast::{ToastKind, Toaster, Toasts};
use crate::components::usage::{duration_text, window_label, written_time, UsageMeter};
use crate::error::AppError;
use crate::i18n::{t, t_string, use_i18n};
use crate::notifications::{FieldErrors, FieldProblem};
use crate::pages::notifications::TextField;
use crate::usage::{BreakerConfig, CircuitState, ProviderInput, ProviderUsage, UsageWindow};

#[component]
pub fn ProvidersPage() -> impl IntoView {
    let i18n = use_i18n();
    let toasts = Toasts::new();
    let version = RwSignal::new(0_u32);
    let providers = Resource::new(move || version.get(), |_| list_provider_usage());
    let editing = RwSignal::new(None::<i64>);
    view! {
        <Toaster toasts />
        <h1 class="page-title" data-testid="providers-title">{t!(i18n, providers_title)}</h1>
        <p class="muted">{t!(i18n, providers_intro)}</p>
        <div class="card usage-card">
            <Transition fallback=|| view! { <div class="skeleton" data-testid="providers-loading"></div> }>
                {move || Suspend::new(async move {
                    match providers.await {
                        Ok(list) if list.is_empty() => view! {
                            <p class="muted" data-testid="providers-empty">{t!(i18n, providers_empty)}</p>
                        }.into_any(),
                        Ok(list) => view! { <ProviderTable list editing toasts version /> }.into_any(),
                        Err(error) => view! {
                            <p class="form-error" role="alert" data-testid="providers-error">
                                {t!(i18n, providers_load_failed)}
                                {format!(" ({error})")}
                            </p>
                        }.into_any(),
                    }
                })}
            </Transition>
        </div>
    }
}

#[component]
fn CircuitBadge(state: CircuitState, open_until: Option<String>, failures: u32) -> impl IntoView {
    let i18n = use_i18n();
    let class = match state {
        CircuitState::Closed => "circuit-badge circuit-closed",
        CircuitState::Open => "circuit-badge circuit-open",
        CircuitState::HalfOpen => "circuit-badge circuit-half-open",
    };
    view! {
        <span class=class data-testid="circuit-state" data-state=state.as_str()>
            {move || match state {
                CircuitState::Closed => t!(i18n, circuit_closed).into_any(),
                CircuitState::Open => t!(i18n, circuit_open).into_any(),
                CircuitState::HalfOpen => t!(i18n, circuit_half_open).into_any(),
            }}
        </span>
        {open_until.map(|until| {
            let shown = written_time(&until);
            view! {
                <div class="muted small" data-testid="circuit-open-until">
                    <time datetime=until>{move || t_string!(i18n, circuit_open_until, time = shown.clone()).to_string()}</time>
                </div>
            }
        })}
        {(failures > 0 && state == CircuitState::Closed).then(|| view! {
            <div class="muted small" data-testid="circuit-failures">
                {move || t_string!(i18n, circuit_failures, count = failures).to_string()}
            </div>
        })}
    }
}

#[component]
fn ProviderTable(
    list: Vec<ProviderUsage>,
    editing: RwSignal<Option<i64>>,
    toasts: Toasts,
    version: RwSignal<u32>,
) -> impl IntoView {
    let i18n = use_i18n();
    let columns = 5 + UsageWindow::PROVIDER.len();
    view! {
        <div class="table-scroll">
            <table class="table usage-table" data-testid="providers-table">
                <thead>
                    <tr>
                        <th>{t!(i18n, col_name)}</th>
                        <th>"ID"</th>
                        <th>{t!(i18n, col_circuit)}</th>
                        <th>{t!(i18n, col_breaker)}</th>
                        {UsageWindow::PROVIDER
                            .into_iter()
                            .map(|w| view! { <th>{move || window_label(i18n, w)}</th> })
                            .collect_view()}
                        <th>{t!(i18n, col_actions)}</th>
                    </tr>
                </thead>
                <tbody>
                    {list
                        .into_iter()
                        .map(|provider| {
                            let id = provider.id;
                            let is_editing = move || editing.get() == Some(id);
                            let form_provider = provider.clone();
                            let cb = provider.settings.circuit_breaker;
                            view! {
                                <tr
                                    data-testid="provider-row"
                                    data-id=id.to_string()
                                    data-state=provider.circuit_state.as_str()
                                    class:editing=is_editing
                                >
                                    <td data-testid="provider-name">{provider.name}</td>
                                    <td class="mono" data-testid="provider-id">{id}</td>
                                    <td class="nowrap">
                                        <CircuitBadge
                                            state=provider.circuit_state
                                            open_until=provider.open_until
                                            failures=provider.consecutive_failures
                                        />
                                    </td>
                                    <td class="small" data-testid="breaker-settings">
                                        {move || t_string!(
                                            i18n,
                                            breaker_summary,
                                            threshold = cb.failure_threshold,
                                            duration = duration_text(i18n, cb.open_duration_ms),
                                            successes = cb.half_open_success_threshold
                                        ).to_string()}
                                    </td>
                                    {provider.windows.into_iter().map(|usage| view! { <td><UsageMeter usage /></td> }).collect_view()}
                                    <td>
                                        <button
                                            type="button"
                                            class="btn btn-ghost"
                                            data-testid="edit-provider"
                                            aria-expanded=move || is_editing().to_string()
                                            on:click=move |_| editing.update(|e| *e = if *e == Some(id) { None } else { Some(id) })
                                        >
                                            {t!(i18n, edit)}
                                        </button>
                                    </td>
                                </tr>
                                <Show when=is_editing>
                                    <tr class="edit-row">
                                        <td colspan=columns.to_string()>
                                            <ProviderForm provider=form_provider.clone() editing toasts version />
                                        </td>
                                    </tr>
                                </Show>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
}

/// The form as typed: two amounts and three whole numbers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Draft {
    weekly: String,
    monthly: String,
    failure_threshold: String,
    open_duration_ms: String,
    half_open_successes: String,
}

impl Draft {
    fn from_settings(s: &ProviderInput) -> Self {
        let cb = s.circuit_breaker;
        Draft {
            weekly: s.limit_weekly_usd.clone().unwrap_or_default(),
            monthly: s.limit_monthly_usd.clone().unwrap_or_default(),
            failure_threshold: cb.failure_threshold.to_string(),
            open_duration_ms: cb.open_duration_ms.to_string(),
            half_open_successes: cb.half_open_success_threshold.to_string(),
        }
    }

    /// The settings this draft means, or every problem the page can see by itself.
    fn to_settings(&self) -> Result<ProviderInput, FieldErrors> {
        let mut errors = FieldErrors::default();
        let mut number = |path: &str, text: &str| {
            text.trim().parse::<i64>().unwrap_or_else(|_| {
                errors.insert(path.into(), FieldProblem::NotANumber);
                0
            })
        };
        let circuit_breaker = BreakerConfig {
            failure_threshold: number("circuitBreaker.failureThreshold", &self.failure_threshold),
            open_duration_ms: number("circuitBreaker.openDurationMs", &self.open_duration_ms),
            half_open_success_threshold: number("circuitBreaker.halfOpenSuccessThreshold", &self.half_open_successes),
        };
        let input = ProviderInput {
            limit_weekly_usd: Some(self.weekly.clone()),
            limit_monthly_usd: Some(self.monthly.clone()),
            circuit_breaker,
        };
        match input.validate() {
            Ok(valid) if errors.is_empty() => Ok(valid),
            Ok(_) => Err(errors),
            Err(found) => {
                for (path, problem) in found.0 {
                    // A number that did not parse keeps that message, not a range error for 0.
                    errors.0.entry(path).or_insert(problem);
                }
                Err(errors)
            }
        }
    }
}

#[component]
fn ProviderForm(
    provider: ProviderUsage,
    editing: RwSignal<Option<i64>>,
    toasts: Toasts,
    version: RwSignal<u32>,
) -> impl IntoView {
    let i18n = use_i18n();
    let id = provider.id;
    let draft = RwSignal::new(Draft::from_settings(&provider.settings));
    let errors = RwSignal::new(FieldErrors::default());
    let show_errors = RwSignal::new(false);
    Effect::new(move |_| {
        if show_errors.get() {
            errors.set(draft.with(|d| d.to_settings().err().unwrap_or_default()));
        }
    });

    let save = Action::new(move |input: &ProviderInput| update_provider_settings(id, input.clone()));
    Effect::new(move |_| {
        let Some(result) = save.value().get() else { return };
        match result {
            Ok(saved) => {
                toasts.push(
                    ToastKind::Success,
                    t_string!(i18n, toast_provider_saved, name = saved.name.clone()).to_string(),
                );
                editing.set(None);
                version.update(|v| *v += 1);
            }
            Err(AppError::Validation(found)) => {
                errors.set(found);
                toasts.push(ToastKind::Error, t_string!(i18n, toast_save_invalid).to_string());
            }
            Err(e) => toasts.push(ToastKind::Error, format!("{}: {e}", t_string!(i18n, toast_save_failed))),
        }
    });
    let on_submit = move |ev: ev::SubmitEvent| {
        ev.prevent_default();
        show_errors.set(true);
        match draft.get_untracked().to_settings() {
            Ok(input) => {
                errors.set(FieldErrors::default());
                save.dispatch(input);
            }
            Err(found) => {
                errors.set(found);
                toasts.push(ToastKind::Error, t_string!(i18n, toast_save_invalid).to_string());
            }
        }
    };
    let enabled = Signal::derive(|| false);
    view! {
        <form class="edit-form" data-testid="provider-form" data-id=id.to_string() on:submit=on_submit novalidate>
            <p class="edit-form-title">{t!(i18n, settings_of)}" "<strong>{provider.name}</strong></p>
            <div class="field-row">
                <TextField
                    label=move || t!(i18n, field_limit_weekly).into_any()
                    hint=move || t!(i18n, field_limit_hint).into_any()
                    path="limitWeeklyUsd"
                    input_type="text"
                    placeholder=t_string!(i18n, usage_no_limit).to_string()
                    value=Signal::derive(move || draft.with(|d| d.weekly.clone()))
                    on_input=move |v| draft.update(|d| d.weekly = v)
                    disabled=enabled
                    errors
                />
                <TextField
                    label=move || t!(i18n, field_limit_monthly).into_any()
                    hint=move || t!(i18n, field_limit_hint).into_any()
                    path="limitMonthlyUsd"
                    input_type="text"
                    placeholder=t_string!(i18n, usage_no_limit).to_string()
                    value=Signal::derive(move || draft.with(|d| d.monthly.clone()))
                    on_input=move |v| draft.update(|d| d.monthly = v)
                    disabled=enabled
                    errors
                />
            </div>
            <div class="field-row">
                <TextField
                    label=move || t!(i18n, field_failure_threshold).into_any()
                    hint=move || t!(i18n, field_failure_threshold_hint).into_any()
                    path="circuitBreaker.failureThreshold"
                    input_type="number"
                    value=Signal::derive(move || draft.with(|d| d.failure_threshold.clone()))
                    on_input=move |v| draft.update(|d| d.failure_threshold = v)
                    disabled=enabled
                    errors
                />
                <TextField
                    label=move || t!(i18n, field_open_duration).into_any()
                    hint=move || t!(i18n, field_open_duration_hint).into_any()
                    path="circuitBreaker.openDurationMs"
                    input_type="number"
                    value=Signal::derive(move || draft.with(|d| d.open_duration_ms.clone()))
                    on_input=move |v| draft.update(|d| d.open_duration_ms = v)
                    disabled=enabled
                    errors
                />
                <TextField
                    label=move || t!(i18n, field_half_open_successes).into_any()
                    hint=move || t!(i18n, field_half_open_successes_hint).into_any()
                    path="circuitBreaker.halfOpenSuccessThreshold"
                    input_type="number"
                    value=Signal::derive(move || draft.with(|d| d.half_open_successes.clone()))
                    on_input=move |v| draft.update(|d| d.half_open_successes = v)
                    disabled=enabled
                    errors
                />
            </div>
            <div class="edit-actions">
                <button type="submit" class="btn btn-primary" data-testid="save-provider" disabled=move || save.pending().get()>
                    {move || if save.pending().get() { t!(i18n, saving).into_any() } else { t!(i18n, save).into_any() }}
                </button>
                <button type="button" class="btn btn-ghost" data-testid="cancel-edit" on:click=move |_| editing.set(None)>
                    {t!(i18n, cancel)}
                </button>
            </div>
        </form>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drafts_round_trip_and_name_unparsable_numbers() {
        let s = ProviderInput {
            limit_weekly_usd: Some("100".into()),
            limit_monthly_usd: None,
            circuit_breaker: BreakerConfig::default(),
        };
        assert_eq!(Draft::from_settings(&s).to_settings(), Ok(s.clone()));
        let mut d = Draft::from_settings(&s);
        d.failure_threshold = "abc".into();
        d.open_duration_ms = "10".into();
        let errors = d.to_settings().unwrap_err();
        assert_eq!(
            errors.get("circuitBreaker.failureThreshold"),
            Some(&FieldProblem::NotANumber)
        );
        assert_eq!(
            errors.get("circuitBreaker.openDurationMs"),
            Some(&FieldProblem::OutOfRange {
                min: 1000,
                max: 86_400_000
            })
        );
    }
}
