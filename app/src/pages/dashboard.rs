//! `/dashboard`: who is signed in, and with which role. Usage figures come with usage ingest.
use leptos::prelude::*;

use crate::i18n::{t, use_i18n};
use crate::routes::use_auth;
use crate::session::Role;

#[component]
pub fn DashboardPage() -> impl IntoView {
    let i18n = use_i18n();
    let auth = use_auth();
    view! {
        <h1 class="page-title">{t!(i18n, dashboard_title)}</h1>
        <Transition fallback=|| view! { <div class="card skeleton"></div> }>
            {move || Suspend::new(async move {
                auth.me.await.ok().flatten().map(|user| {
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
                })
            })}
        </Transition>
    }
}
