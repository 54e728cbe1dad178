//! The signed-in frame: main sidebar (仪表盘, 设置), top bar, and the settings area's own navigation.
use leptos::prelude::*;
use leptos_router::components::{Outlet, Redirect, A};

use crate::components::language::LanguageSwitch;
use crate::components::role::RoleTag;
use crate::i18n::{t, t_string, use_i18n};
use crate::routes::{use_auth, UnsavedChanges};
use crate::session::CurrentUser;

/// Click handler for a navigation block (or a link), in the capture phase on the element itself so
/// it runs before the router's window listener: with unsaved edits, navigation waits for a
/// confirmation.
pub fn confirm_leave() -> impl Fn(leptos::ev::MouseEvent) + Copy + 'static {
    let i18n = use_i18n();
    let unsaved = use_context::<UnsavedChanges>();
    move |ev: leptos::ev::MouseEvent| {
        if unsaved.is_some_and(|u| u.0.get_untracked())
            && !window()
                .confirm_with_message(t_string!(i18n, confirm_leave))
                .unwrap_or(true)
        {
            ev.prevent_default();
        }
    }
}

#[component]
pub fn AppLayout() -> impl IntoView {
    let i18n = use_i18n();
    let auth = use_auth();
    let collapsed = RwSignal::new(false);
    let guard = confirm_leave();

    view! {
        <div class="app" class:collapsed=move || collapsed.get()>
            <aside class="sidebar" aria-label="main">
                <div class="brand">
                    <span class="brand-mark" aria-hidden="true">"◆"</span>
                    <span class="brand-name">{t!(i18n, app_name)}</span>
                </div>
                <nav class="main-nav" on:click:capture=guard>
                    <A href="/dashboard">
                        <span class="nav-icon" aria-hidden="true">"▦"</span>
                        <span class="nav-label">{t!(i18n, nav_dashboard)}</span>
                    </A>
                    {auth.is_admin().then(|| view! {
                        <A href="/settings">
                            <span class="nav-icon" aria-hidden="true">"⚙"</span>
                            <span class="nav-label">{t!(i18n, nav_settings)}</span>
                        </A>
                    })}
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
                    {match auth.me() {
                        Some(user) => view! { <UserBadge user /> }.into_any(),
                        // The server redirects signed-out page loads; this covers client navigation.
                        None => view! { <Redirect path="/login" /> }.into_any(),
                    }}
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
            <RoleTag role />
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
        {(!auth.is_admin()).then(|| view! { <Redirect path="/dashboard" /> })}
        <div class="settings">
            <nav class="settings-nav" aria-label="settings" on:click:capture=confirm_leave()>
                <h2 class="settings-nav-title">{t!(i18n, settings_title)}</h2>
                <A href="/settings/notifications" exact=true>{t!(i18n, settings_nav_notifications)}</A>
                <A href="/settings/notifications/targets" attr:class="settings-nav-sub">
                    {t!(i18n, settings_nav_targets)}
                </A>
                <A href="/settings/notifications/deliveries" attr:class="settings-nav-sub">
                    {t!(i18n, settings_nav_deliveries)}
                </A>
                <A href="/settings/users">{t!(i18n, settings_nav_users)}</A>
                <A href="/settings/providers">{t!(i18n, settings_nav_providers)}</A>
                <A href="/settings/sources">{t!(i18n, settings_nav_sources)}</A>
            </nav>
            <section class="settings-body">
                <Outlet />
            </section>
        </div>
    }
}
