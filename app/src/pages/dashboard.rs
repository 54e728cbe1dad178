//! `/dashboard`: who is signed in, and with which role; a user sees their own spending per quota
//! window against their quotas, the admin a pointer to 设置 › 用户.
use leptos::prelude::*;
use leptos_router::components::A;

use crate::api::usage::my_usage;
use crate::api::users::list_users;
use crate::components::hydration::settled;
use crate::components::role::role_name;
use crate::components::usage::{window_label, UsageMeter};
use crate::error::AppError;
use crate::i18n::{t, use_i18n};
use crate::routes::use_auth;
use crate::session::Role;
use crate::usage::UserUsage;
use crate::users::UserSummary;

#[component]
pub fn DashboardPage() -> impl IntoView {
    let i18n = use_i18n();
    let auth = use_auth();
    // Created with the page, not inside a Suspense: only admins load the user list.
    let users = auth.is_admin().then(|| Resource::new(|| (), |_| list_users()));
    // A user with a gateway id sees their own consumption; the admin token has none.
    let mine = auth
        .me()
        .is_some_and(|me| me.user_id.is_some())
        .then(|| Resource::new(|| (), |_| my_usage()));
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
                        <dd data-testid="whoami-role" data-role=role.as_str()>{move || role_name(i18n, role)}</dd>
                    </dl>
                    {(role == Role::Admin).then(|| view! {
                        <p class="muted">{t!(i18n, dashboard_admin_hint)}</p>
                        <p class="muted" data-testid="admin-usage-hint">
                            {t!(i18n, dashboard_admin_usage_hint)}" "
                            <A href="/settings/users" attr:data-testid="users-link">{t!(i18n, dashboard_admin_usage_link)}</A>
                        </p>
                    })}
                </div>
            }
        })}
        {mine.map(|usage| view! { <MyUsage usage /> })}
        {users.map(|users| view! { <UserList users /> })}
    }
}

/// The signed-in user's spending in each window against their quotas.
#[component]
fn MyUsage(usage: Resource<Result<Option<UserUsage>, AppError>>) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <div class="card" data-testid="my-usage">
            <h2>{t!(i18n, dashboard_my_usage)}</h2>
            <p class="muted small">{t!(i18n, dashboard_my_usage_hint)}</p>
            <Transition fallback=|| view! { <div class="skeleton"></div> }>
                {move || Suspend::new(async move {
                    settled(match usage.await {
                        Ok(Some(me)) => view! {
                            <div class="usage-grid">
                                {me.windows.into_iter().map(|w| {
                                    let window = w.window;
                                    view! {
                                        <div class="usage-tile" data-testid=format!("my-usage-{}", window.key())>
                                            <div class="usage-tile-label">{move || window_label(i18n, window)}</div>
                                            <UsageMeter usage=w />
                                        </div>
                                    }
                                }).collect_view()}
                            </div>
                        }.into_any(),
                        Ok(None) => view! {
                            <p class="muted" data-testid="my-usage-none">{t!(i18n, dashboard_usage_pending)}</p>
                        }.into_any(),
                        Err(_) => view! { <p class="form-error" data-testid="my-usage-error">{t!(i18n, dashboard_my_usage_failed)}</p> }.into_any(),
                    })
                })}
            </Transition>
        </div>
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
                    settled(match users.await {
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
                                            <td>{move || role_name(i18n, u.role)}</td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                        }.into_any(),
                        Err(_) => view! { <p class="form-error">{t!(i18n, load_failed)}</p> }.into_any(),
                    })
                })}
            </Transition>
        </div>
    }
}

lazy_page!(DashboardRoute, DashboardPage);
