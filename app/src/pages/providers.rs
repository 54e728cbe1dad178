//! `/settings/providers` (供应商): every gateway provider with its circuit (关闭 / 打开 / 半开),
//! its breaker settings and its spending this week and month against its quotas, and an inline
//! form per row to edit quotas and breaker settings (not for a provider a gateway keeps: they
//! are changed there).
use leptos::prelude::*;

use crate::api::usage::{list_provider_usage, update_provider_settings};
use crate::components::form::{use_edit_form, TextField};
use crate::components::loaded::LoadedList;
use crate::components::origin::{KeptBySource, OriginNote};
use crate::components::row_editor::{EditActions, EditButton, EditRow, RowEditor};
use crate::components::toast::{Toaster, Toasts};
use crate::components::usage::{duration_text, window_columns, written_time, WindowCells, WindowHeaders};
use crate::i18n::{t, t_string, use_i18n};
use crate::notifications::{FieldErrors, FieldProblem};
use crate::usage::{BreakerConfig, CircuitState, ProviderInput, ProviderUsage};

#[component]
pub fn ProvidersPage() -> impl IntoView {
    let i18n = use_i18n();
    let toasts = Toasts::new();
    let editor = RowEditor::new();
    // Reloaded after each save (the old table stays while it does).
    let providers = Resource::new(move || editor.saves(), |_| list_provider_usage());
    view! {
        <Toaster toasts />
        <h1 class="page-title" data-testid="providers-title">{t!(i18n, providers_title)}</h1>
        <p class="muted">{t!(i18n, providers_intro)}</p>
        <div class="card usage-card">
            <LoadedList
                list=providers
                name="providers"
                empty=|i18n| t!(i18n, providers_empty).into_any()
                failed=|i18n| t!(i18n, providers_load_failed).into_any()
                show=move |list| view! { <ProviderTable list editor toasts /> }
            />
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
                    // The time keeps to one line; the words before it may go above it.
                    {move || t_string!(i18n, circuit_open_until).to_string()}" "<time datetime=until>{shown}</time>
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
fn ProviderTable(list: Vec<ProviderUsage>, editor: RowEditor, toasts: Toasts) -> impl IntoView {
    let i18n = use_i18n();
    let windows = window_columns(list.first().map(|p| p.windows.as_slice()));
    let columns = 5 + windows.len();
    view! {
        <div class="table-scroll">
            <table class="table usage-table" data-testid="providers-table">
                <thead>
                    <tr>
                        <th>{t!(i18n, col_name)}</th>
                        <th>"ID"</th>
                        <th>{t!(i18n, col_circuit)}</th>
                        <th>{t!(i18n, col_breaker)}</th>
                        <WindowHeaders windows=windows.clone() />
                        <th>{t!(i18n, col_actions)}</th>
                    </tr>
                </thead>
                <tbody>
                    {list
                        .into_iter()
                        .map(|provider| {
                            let id = provider.id;
                            let form_provider = provider.clone();
                            let cb = provider.settings.circuit_breaker;
                            let source = provider.origin.source;
                            let read_only = provider.origin.read_only;
                            view! {
                                <tr
                                    data-testid="provider-row"
                                    data-id=id.to_string()
                                    data-state=provider.circuit_state.as_str()
                                    class:editing=move || editor.is_open(id)
                                >
                                    <td>
                                        <span data-testid="provider-name">{provider.name}</span>
                                        <OriginNote origin=provider.origin />
                                    </td>
                                    <td class="mono" data-testid="provider-id">{id}</td>
                                    <td>
                                        <CircuitBadge
                                            state=provider.circuit_state
                                            open_until=provider.open_until
                                            failures=provider.consecutive_failures
                                        />
                                    </td>
                                    <td class="small">
                                        <ul class="breaker-settings" data-testid="breaker-settings">
                                            <li>{move || t_string!(i18n, breaker_opens_after, threshold = cb.failure_threshold).to_string()}</li>
                                            <li>{move || t_string!(i18n, breaker_open_for, duration = duration_text(i18n, cb.open_duration_ms)).to_string()}</li>
                                            <li>{move || t_string!(i18n, breaker_closes_after, successes = cb.half_open_success_threshold).to_string()}</li>
                                        </ul>
                                    </td>
                                    <WindowCells usages=provider.windows />
                                    <td>
                                        {if read_only {
                                            view! { <KeptBySource source /> }.into_any()
                                        } else {
                                            view! { <EditButton editor id test_id="edit-provider" /> }.into_any()
                                        }}
                                    </td>
                                </tr>
                                {(!read_only).then(|| view! {
                                    <EditRow editor id columns>
                                        <ProviderForm provider=form_provider.clone() editor toasts />
                                    </EditRow>
                                })}
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
fn ProviderForm(provider: ProviderUsage, editor: RowEditor, toasts: Toasts) -> impl IntoView {
    let i18n = use_i18n();
    let id = provider.id;
    let draft = RwSignal::new(Draft::from_settings(&provider.settings));
    let form = use_edit_form(
        toasts,
        draft,
        Draft::to_settings,
        move |input| update_provider_settings(id, input),
        move |saved: ProviderUsage| {
            editor.saved(
                toasts,
                t_string!(i18n, toast_provider_saved, name = saved.name).to_string(),
            )
        },
    );
    view! {
        <form class="edit-form" data-testid="provider-form" data-id=id.to_string() on:submit=move |ev| form.submit(ev) novalidate>
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
                    errors=form.errors
                />
                <TextField
                    label=move || t!(i18n, field_limit_monthly).into_any()
                    hint=move || t!(i18n, field_limit_hint).into_any()
                    path="limitMonthlyUsd"
                    input_type="text"
                    placeholder=t_string!(i18n, usage_no_limit).to_string()
                    value=Signal::derive(move || draft.with(|d| d.monthly.clone()))
                    on_input=move |v| draft.update(|d| d.monthly = v)
                    errors=form.errors
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
                    errors=form.errors
                />
                <TextField
                    label=move || t!(i18n, field_open_duration).into_any()
                    hint=move || t!(i18n, field_open_duration_hint).into_any()
                    path="circuitBreaker.openDurationMs"
                    input_type="number"
                    value=Signal::derive(move || draft.with(|d| d.open_duration_ms.clone()))
                    on_input=move |v| draft.update(|d| d.open_duration_ms = v)
                    errors=form.errors
                />
                <TextField
                    label=move || t!(i18n, field_half_open_successes).into_any()
                    hint=move || t!(i18n, field_half_open_successes_hint).into_any()
                    path="circuitBreaker.halfOpenSuccessThreshold"
                    input_type="number"
                    value=Signal::derive(move || draft.with(|d| d.half_open_successes.clone()))
                    on_input=move |v| draft.update(|d| d.half_open_successes = v)
                    errors=form.errors
                />
            </div>
            <EditActions editor pending=Signal::derive(move || form.pending()) save_test_id="save-provider" />
        </form>
    }
}

lazy_page!(ProvidersRoute, ProvidersPage);

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
