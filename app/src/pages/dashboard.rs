//! `/dashboard`: who is signed in, and with which role. Usage figures come with usage ingest.
use leptos::prelude::*;

use crate::api::users::list_users;
use crate::error::AppError;
use crate::i18n::{t, use_i18n};
use crate::routes::use_auth;
use crate::session::Role;
use crate::users::UserSummary;

#[component]
pub fn DashboardPage() -> impl IntoView {
    let i18n = use_i18n();
    let auth = use_auth();
    // Created with the page, not inside a Suspense: only admins load the user list.
    let users = auth.is_admin().then(|| Resource::new(|| (), |_| list_users()));
    view! {
        <h1 class="page-title">{t!(i18n, dashboard_title)}</h1>
        {auth.me().map(|user| {
            let role = user.role;
            view! {
                <div class="card" data-testid="whoami">
                    <dl class="facts">
                        <dt>{t!(i18n, dashboard_signed_in_as)}</dt>
                        <dd data-testid="whoami-name">{user.name.clone()}</dd>
                        <dt>{t!(i18n, dashboard_role)}</dt>
                        <dd data-testid="whoami-role" data-role=if role == Role::Admin { "admin" } else { "user" }>
                            {move || match role {
                                Role::Admin => t!(i18n, role_admin).into_any(),
                                Role::User => t!(i18n, role_user).into_any(),
                            }}
                        </dd>
                    </dl>
                    <p class="muted">
                        {move || if role == Role::Admin {
                            t!(i18n, dashboard_admin_hint).into_any()
                        } else {
                            t!(i18n, dashboard_usage_pending).into_any()
                        }}
                    </p>
                </div>
            }
        })}
        {users.map(|users| view! { <UserList users /> })}
    }
}

/// Admins see who can sign in with an API key.
#[component]
fn UserList(users: Resource<Result<Vec<UserSummary>, AppError>>) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <div class="card" data-testid="user-list">
            <h2>{t!(i18n, dashboard_users_title)}</h2>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    match users.await {
                        Ok(list) if list.is_empty() => view! { <p class="muted">{t!(i18n, dashboard_users_empty)}</p> }.into_any(),
                        Ok(list) => view! {
                            <table class="table">
                                <thead>
                                    <tr>
                                        <th>"ID"</th>
                                        <th>{t!(i18n, dashboard_users_name)}</th>
                                        <th>{t!(i18n, dashboard_role)}</th>
                                    </tr>
                                </thead>
                                <tbody>
                                    {list.into_iter().map(|u| view! {
                                        <tr>
                                            <td>{u.id}</td>
                                            <td>{u.name}</td>
                                            <td>{move || match u.role {
                                                Role::Admin => t!(i18n, role_admin).into_any(),
                                                Role::User => t!(i18n, role_user).into_any(),
                                            }}</td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                        }.into_any(),
                        Err(_) => view! { <p class="form-error">{t!(i18n, load_failed)}</p> }.into_any(),
                    }
                })}
            </Transition>
        </div>
    }
}
