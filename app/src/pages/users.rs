//! `/settings/users` (用户): every gateway user with its spending per quota window (5 小时,
//! 今日, 本周, 本月) against its quotas, and an inline form per row to edit the quotas (not for
//! a user a gateway keeps: its quotas are changed there); below, the API keys a gateway gave
//! them, each against its own quotas (read-only).
use leptos::prelude::*;

use crate::api::usage::{list_key_usage, list_user_usage, update_user_quotas};
use crate::components::form::{use_edit_form, TextField};
use crate::components::hydration::settled;
use crate::components::loaded::{LoadFailed, LoadedList};
use crate::components::origin::{KeptBySource, OriginNote};
use crate::components::role::RoleTag;
use crate::components::row_editor::{EditActions, EditButton, EditRow, RowEditor};
use crate::components::toast::{Toaster, Toasts};
use crate::components::usage::{window_columns, WindowCells, WindowHeaders};
use crate::i18n::{t, t_string, use_i18n};
use crate::usage::{KeyUsage, UsageWindow, UserQuotaInput, UserUsage};

#[component]
pub fn UsersPage() -> impl IntoView {
    let i18n = use_i18n();
    let toasts = Toasts::new();
    let editor = RowEditor::new();
    // Reloaded after each save (the old table stays while it does).
    let users = Resource::new(move || editor.saves(), |_| list_user_usage());
    view! {
        <Toaster toasts />
        <h1 class="page-title" data-testid="users-title">{t!(i18n, users_title)}</h1>
        <p class="muted">{t!(i18n, users_intro)}</p>
        <div class="card usage-card">
            <LoadedList
                list=users
                name="users"
                empty=|i18n| t!(i18n, users_empty).into_any()
                failed=|i18n| t!(i18n, users_load_failed).into_any()
                show=move |list| view! { <UserTable list editor toasts /> }
            />
        </div>
        <KeysCard />
    }
}

/// The gateway's API keys, when it has any (only Claude Code Hub reports them).
#[component]
fn KeysCard() -> impl IntoView {
    let i18n = use_i18n();
    let keys = Resource::new(|| (), |_| list_key_usage());
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                settled(match keys.await {
                    Ok(list) if list.is_empty() => ().into_any(),
                    Ok(list) => view! {
                        <h2 class="keys-title" data-testid="keys-title">{t!(i18n, keys_title)}</h2>
                        <div class="card usage-card"><KeyTable list /></div>
                    }.into_any(),
                    Err(error) => view! {
                        <LoadFailed name="keys" failed=|i18n| t!(i18n, keys_load_failed).into_any() error />
                    }.into_any(),
                })
            })}
        </Transition>
    }
}

#[component]
fn KeyTable(list: Vec<KeyUsage>) -> impl IntoView {
    let i18n = use_i18n();
    let windows = window_columns(list.first().map(|k| k.windows.as_slice()));
    view! {
        <div class="table-scroll">
            <table class="table usage-table" data-testid="keys-table">
                <thead>
                    <tr>
                        <th>{t!(i18n, col_key)}</th>
                        <th>{t!(i18n, col_owner)}</th>
                        <WindowHeaders windows=windows.clone() />
                    </tr>
                </thead>
                <tbody>
                    {list
                        .into_iter()
                        .map(|key| view! {
                            <tr data-testid="key-row" data-id=key.id.to_string()>
                                <td>
                                    <span data-testid="key-name">{key.name}</span>
                                    <OriginNote origin=key.origin />
                                </td>
                                <td data-testid="key-owner" data-owner-id=key.owner_id.to_string()>{key.owner_name}</td>
                                <WindowCells usages=key.windows />
                            </tr>
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
}

#[component]
fn UserTable(list: Vec<UserUsage>, editor: RowEditor, toasts: Toasts) -> impl IntoView {
    let i18n = use_i18n();
    let windows = window_columns(list.first().map(|u| u.windows.as_slice()));
    let columns = 4 + windows.len();
    view! {
        <div class="table-scroll">
            <table class="table usage-table" data-testid="users-table">
                <thead>
                    <tr>
                        <th>{t!(i18n, col_name)}</th>
                        <th>"ID"</th>
                        <th>{t!(i18n, col_role)}</th>
                        <WindowHeaders windows=windows.clone() />
                        <th>{t!(i18n, col_actions)}</th>
                    </tr>
                </thead>
                <tbody>
                    {list
                        .into_iter()
                        .map(|user| {
                            let id = user.id;
                            let form_user = user.clone();
                            let source = user.origin.source;
                            let read_only = user.origin.read_only;
                            view! {
                                <tr data-testid="user-row" data-id=id.to_string() class:editing=move || editor.is_open(id)>
                                    <td>
                                        <span data-testid="user-name">{user.name}</span>
                                        <OriginNote origin=user.origin />
                                    </td>
                                    <td class="mono" data-testid="user-id">{id}</td>
                                    <td><RoleTag role=user.role /></td>
                                    <WindowCells usages=user.windows />
                                    <td>
                                        {if read_only {
                                            view! { <KeptBySource source /> }.into_any()
                                        } else {
                                            view! { <EditButton editor id test_id="edit-user" /> }.into_any()
                                        }}
                                    </td>
                                </tr>
                                {(!read_only).then(|| view! {
                                    <EditRow editor id columns>
                                        <QuotaForm user=form_user.clone() editor toasts />
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
fn QuotaForm(user: UserUsage, editor: RowEditor, toasts: Toasts) -> impl IntoView {
    let i18n = use_i18n();
    let id = user.id;
    let name = user.name.clone();
    let draft = RwSignal::new(Draft::from_quotas(&user.quotas));
    let form = use_edit_form(
        toasts,
        draft,
        |d: &Draft| d.to_input().validate(),
        move |input| update_user_quotas(id, input),
        move |saved: UserUsage| {
            editor.saved(
                toasts,
                t_string!(i18n, toast_quotas_saved, name = saved.name).to_string(),
            )
        },
    );
    let label = move |i: usize| match i {
        0 => t!(i18n, field_limit_5h).into_any(),
        1 => t!(i18n, field_limit_daily).into_any(),
        2 => t!(i18n, field_limit_weekly).into_any(),
        _ => t!(i18n, field_limit_monthly).into_any(),
    };
    view! {
        <form class="edit-form" data-testid="quota-form" data-id=id.to_string() on:submit=move |ev| form.submit(ev) novalidate>
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
                            errors=form.errors
                        />
                    })
                    .collect_view()}
            </div>
            <EditActions editor pending=Signal::derive(move || form.pending()) save_test_id="save-quotas" />
        </form>
    }
}

lazy_page!(UsersRoute, UsersPage);

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
