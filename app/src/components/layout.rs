//! The signed-in frame: main sidebar (仪表盘, 设置), top bar, and the settings area's own navigation.
use leptos::prelude::*;
use leptos_router::components::{Outlet, Redirect, A};

use crate::components::language::LanguageSwitch;
use crate::i18n::{t, use_i18n};
use crate::routes::use_auth;
use crate::session::{CurrentUser, Role};

#[component]
pub fn AppLayout() -> impl IntoView {
    let i18n = use_i18n();
    let auth = use_auth();
    let collapsed = RwSignal::new(false);

    view! {
        <div class="app" class:collapsed=move || collapsed.get()>
            <aside class="sidebar" aria-label="main">
                <div class="brand">
                    <span class="brand-mark" aria-hidden="true">"◆"</span>
                    <span class="brand-name">{t!(i18n, app_name)}</span>
                </div>
                <nav class="main-nav">
                    <A href="/dashboard">
                        <span class="nav-icon" aria-hidden="true">"▦"</span>
                        <span class="nav-label">{t!(i18n, nav_dashboard)}</span>
                    </A>
                    <Transition fallback=|| ()>
                        {move || Suspend::new(async move {
                            let admin = matches!(auth.me.await, Ok(Some(ref u)) if u.is_admin());
                            admin.then(|| view! {
                                <A href="/settings">
                                    <span class="nav-icon" aria-hidden="true">"⚙"</span>
                                    <span class="nav-label">{t!(i18n, nav_settings)}</span>
                                </A>
                            })
                        })}
                    </Transition>
                </nav>
                <button
                    type="button"
                    class="btn btn-ghost collapse-toggle"
                    data-testid="sidebar-toggle"
                    aria-expanded=move || (!collapsed.get()).to_string()
                    on:click=move |_| collapsed.update(|c| *c = !*c)
                >
                    {move || if collapsed.get() { t!(i18n, nav_expand).into_any() } else { t!(i18n, nav_collapse).into_any() }}
                </button>
            </aside>
            <div class="main">
                <header class="topbar">
                    <div class="topbar-spacer"></div>
                    <LanguageSwitch />
                    <Transition fallback=|| ()>
                        {move || Suspend::new(async move {
                            match auth.me.await {
                                Ok(Some(user)) => view! { <UserBadge user /> }.into_any(),
                                // The server redirects signed-out page loads; this covers client navigation.
                                Ok(None) => view! { <Redirect path="/login" /> }.into_any(),
                                Err(_) => ().into_any(),
                            }
                        })}
                    </Transition>
                </header>
                <main class="content">
                    <Outlet />
                </main>
            </div>
        </div>
    }
}

#[component]
fn UserBadge(user: CurrentUser) -> impl IntoView {
    let i18n = use_i18n();
    let auth = use_auth();
    let role = user.role;
    view! {
        <div class="user-badge" data-testid="user-badge">
            <span class="user-name">{user.name}</span>
            <span class="role-tag" data-role=move || if role == Role::Admin { "admin" } else { "user" }>
                {move || match role {
                    Role::Admin => t!(i18n, role_admin).into_any(),
                    Role::User => t!(i18n, role_user).into_any(),
                }}
            </span>
            <ActionForm action=auth.sign_out attr:class="inline-form">
                <button type="submit" class="btn btn-ghost" data-testid="sign-out">{t!(i18n, sign_out)}</button>
            </ActionForm>
        </div>
    }
}

/// The settings area: admins only (the server enforces it; this guards client-side navigation).
#[component]
pub fn SettingsLayout() -> impl IntoView {
    let i18n = use_i18n();
    let auth = use_auth();
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                match auth.me.await {
                    Ok(Some(user)) if !user.is_admin() => view! { <Redirect path="/dashboard" /> }.into_any(),
                    _ => ().into_any(),
                }
            })}
        </Transition>
        <div class="settings">
            <nav class="settings-nav" aria-label="settings">
                <h2 class="settings-nav-title">{t!(i18n, settings_title)}</h2>
                <A href="/settings/notifications">{t!(i18n, settings_nav_notifications)}</A>
            </nav>
            <section class="settings-body">
                <Outlet />
            </section>
        </div>
    }
}
