//! `/settings/users` (用户): every gateway user with its spending per quota window (5 小时,
//! 今日, 本周, 本月) against its quotas, and an inline form per row to edit the quotas.
use leptos::ev;
use leptos::prelude::*;

use crate::api::usage::{list_user_usage, update_user_quotas};
use crate::components::toast::{ToastKind, Toaster, Toasts};
use crate::components::usage::{window_label, UsageMeter};
use crate::error::AppError;
use crate::i18n::{t, t_string, use_i18n};
use crate::notifications::FieldErrors;
use crate::pages::notifications::TextField;
use crate::session::Role;
use crate::usage::{UsageWindow, UserQuotaInput, UserUsage};

#[component]
pub fn UsersPage() -> impl IntoView {
    let i18n = use_i18n();
    let toasts = Toasts::new();
    // Bumped after a save: the table reloads (the old one stays while it does).
    let version = RwSignal::new(0_u32);
    let users = Resource::new(move || version.get(), |_| list_user_usage());
    // The user whose quotas are being edited (one form at a time).
    let editing = RwSignal::new(None::<i64>);
    view! {
        <Toaster toasts />
        <h1 class="page-title" data-testid="users-title">{t!(i18n, users_title)}</h1>
        <p class="muted">{t!(i18n, users_intro)}</p>
        <div class="card usage-card">
            <Transition fallback=|| view! { <div class="skeleton" data-testid="users-loading"></div> }>
                {move || Suspend::new(async move {
                    match users.await {
                        Ok(list) if list.is_empty() => view! {
                            <p class="muted" data-testid="users-empty">{t!(i18n, users_empty)}</p>
                        }.into_any(),
                        Ok(list) => view! { <UserTable list editing toasts version /> }.into_any(),
                        Err(error) => view! {
                            <p class="form-error" role="alert" data-testid="users-error">
                                {t!(i18n, users_load_failed)}
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
fn UserTable(
    list: Vec<UserUsage>,
    editing: RwSignal<Option<i64>>,
    toasts: Toasts,
    version: RwSignal<u32>,
) -> impl IntoView {
    let i18n = use_i18n();
    let columns = 4 + UsageWindow::USER.len();
    view! {
        <div class="table-scroll">
            <table class="table usage-table" data-testid="users-table">
                <thead>
                    <tr>
                        <th>{t!(i18n, col_name)}</th>
                        <th>"ID"</th>
                        <th>{t!(i18n, col_role)}</th>
                        {UsageWindow::USER
                            .into_iter()
                            .map(|w| view! { <th>{move || window_label(i18n, w)}</th> })
                            .collect_view()}
                        <th>{t!(i18n, col_actions)}</th>
                    </tr>
                </thead>
                <tbody>
                    {list
                        .into_iter()
                        .map(|user| {
                            let id = user.id;
                            let role = user.role;
                            let is_editing = move || editing.get() == Some(id);
                            let form_user = user.clone();
                            view! {
                                <tr data-testid="user-row" data-id=id.to_string() class:editing=is_editing>
                                    <td data-testid="user-name">{user.name}</td>
                                    <td class="mono" data-testid="user-id">{id}</td>
                                    <td>
                                        <span class="role-tag" data-role=if role == Role::Admin { "admin" } else { "user" }>
                                            {move || match role {
                                                Role::Admin => t!(i18n, role_admin).into_any(),
                                                Role::User => t!(i18n, role_user).into_any(),
                                            }}
                                        </span>
                                    </td>
                                    {user.windows.into_iter().map(|usage| view! { <td><UsageMeter usage /></td> }).collect_view()}
                                    <td>
                                        <button
                                            type="button"
                                            class="btn btn-ghost"
                                            data-testid="edit-user"
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
                                            <QuotaForm user=form_user.clone() editing toasts version />
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

/// The four quotas as typed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Draft([String; 4]);

const PATHS: [&str; 4] = ["limit5hUsd", "limitDailyUsd", "limitWeeklyUsd", "limitMonthlyUsd"];

impl Draft {
    fn from_quotas(q: &UserQuotaInput) -> Self {
        Draft(UsageWindow::USER.map(|w| q.limit(w).unwrap_or_default().to_owned()))
    }

    fn to_input(&self) -> UserQuotaInput {
        let [h5, day, week, month] = self.0.clone().map(Some);
        UserQuotaInput {
            limit_5h_usd: h5,
            limit_daily_usd: day,
            limit_weekly_usd: week,
            limit_monthly_usd: month,
        }
    }
}

#[component]
fn QuotaForm(user: UserUsage, editing: RwSignal<Option<i64>>, toasts: Toasts, version: RwSignal<u32>) -> impl IntoView {
    let i18n = use_i18n();
    let id = user.id;
    let name = user.name.clone();
    let draft = RwSignal::new(Draft::from_quotas(&user.quotas));
    let errors = RwSignal::new(FieldErrors::default());
    // After the first save attempt, problems follow every keystroke.
    let show_errors = RwSignal::new(false);
    Effect::new(move |_| {
        if show_errors.get() {
            errors.set(draft.with(|d| d.to_input().validate().err().unwrap_or_default()));
        }
    });

    let save = Action::new(move |input: &UserQuotaInput| update_user_quotas(id, input.clone()));
    Effect::new(move |_| {
        let Some(result) = save.value().get() else { return };
        match result {
            Ok(saved) => {
                toasts.push(
                    ToastKind::Success,
                    t_string!(i18n, toast_quotas_saved, name = saved.name.clone()).to_string(),
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
        match draft.get_untracked().to_input().validate() {
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
    let label = move |i: usize| match i {
        0 => t!(i18n, field_limit_5h).into_any(),
        1 => t!(i18n, field_limit_daily).into_any(),
        2 => t!(i18n, field_limit_weekly).into_any(),
        _ => t!(i18n, field_limit_monthly).into_any(),
    };
    view! {
        <form class="edit-form" data-testid="quota-form" data-id=id.to_string() on:submit=on_submit novalidate>
            <p class="edit-form-title">{t!(i18n, quotas_of)}" "<strong>{name}</strong></p>
            <div class="field-row">
                {PATHS
                    .into_iter()
                    .enumerate()
                    .map(|(i, path)| view! {
                        <TextField
                            label=move || label(i)
                            hint=move || t!(i18n, field_limit_hint).into_any()
                            path=path
                            input_type="text"
                            placeholder=t_string!(i18n, usage_no_limit).to_string()
                            value=Signal::derive(move || draft.with(|d| d.0[i].clone()))
                            on_input=move |v| draft.update(|d| d.0[i] = v)
                            disabled=Signal::derive(|| false)
                            errors
                        />
                    })
                    .collect_view()}
            </div>
            <div class="edit-actions">
                <button type="submit" class="btn btn-primary" data-testid="save-quotas" disabled=move || save.pending().get()>
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
    fn drafts_round_trip_quotas() {
        let q = UserQuotaInput {
            limit_5h_usd: Some("2.5".into()),
            limit_daily_usd: None,
            limit_weekly_usd: Some("50".into()),
            limit_monthly_usd: None,
        };
        let draft = Draft::from_quotas(&q);
        assert_eq!(draft.0, ["2.5", "", "50", ""].map(String::from));
        assert_eq!(draft.to_input().validate(), Ok(q));
    }
}
