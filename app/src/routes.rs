//! The HTML shell, the root component and the route table.
use leptos::prelude::*;
use leptos_meta::{provide_meta_context, HashedStylesheet, MetaTags, Title};
use leptos_router::components::{ParentRoute, Redirect, Route, Router, Routes};
use leptos_router::{path, Lazy};

use crate::api::auth::{reload_at, SignIn, SignOut};
use crate::components::hydration::mark_body_hydrated;
use crate::components::language::remembered_language;
use crate::components::layout::{AppLayout, SettingsLayout};
use crate::i18n::I18nContextProvider;
use crate::pages::{
    dashboard::DashboardRoute, deliveries::DeliveriesRoute, login::LoginRoute, not_found::NotFound,
    notifications::NotificationsRoute, providers::ProvidersRoute, sources::SourcesRoute, targets::TargetsRoute,
    users::UsersRoute,
};
use crate::session::CurrentUser;

pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html>
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <link rel="icon" href="/favicon.svg" type="image/svg+xml" />
                <AutoReload options=options.clone() />
                // The stylesheet's name carries its content hash in the release build.
                <HashedStylesheet options=options.clone() id="leptos" />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// The signed-in user and the actions that change it, shared by every page. The user is known
/// when the page is rendered (the server resolved it) and travels to the browser inside the
/// page, so nothing waits for it; signing in or out reloads the page.
#[derive(Clone, Copy)]
pub struct Auth {
    pub sign_in: ServerAction<SignIn>,
    pub sign_out: ServerAction<SignOut>,
    me: StoredValue<Option<CurrentUser>>,
}

impl Auth {
    pub fn me(&self) -> Option<CurrentUser> {
        self.me.get_value()
    }
    pub fn is_admin(&self) -> bool {
        self.me.with_value(|me| me.as_ref().is_some_and(CurrentUser::is_admin))
    }
}

pub fn use_auth() -> Auth {
    expect_context::<Auth>()
}

/// Set by a page with unsaved edits; in-app links ask before leaving it.
#[derive(Clone, Copy)]
pub struct UnsavedChanges(pub RwSignal<bool>);

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    let sign_in = ServerAction::<SignIn>::new();
    let sign_out = ServerAction::<SignOut>::new();
    let me = SharedValue::new(crate::session::request_user).into_inner();
    provide_context(Auth {
        sign_in,
        sign_out,
        me: StoredValue::new(me),
    });
    provide_context(UnsavedChanges(RwSignal::new(false)));
    Effect::new(move |_| {
        if let Some(Ok(next)) = sign_in.value().get() {
            reload_at(&next);
        }
    });
    Effect::new(move |_| {
        if let Some(Ok(next)) = sign_out.value().get() {
            reload_at(&next);
        }
    });
    mark_body_hydrated();

    view! {
        <I18nContextProvider ssr_lang_header_getter=remembered_language()>
            <Title text="Hub Notify" />
            <Router>
                <Routes fallback=NotFound>
                    <Route path=path!("/login") view={Lazy::<LoginRoute>::new()} />
                    <ParentRoute path=path!("") view=AppLayout>
                        <Route path=path!("") view=|| view! { <Redirect path="/dashboard" /> } />
                        <Route path=path!("dashboard") view={Lazy::<DashboardRoute>::new()} />
                        <ParentRoute path=path!("settings") view=SettingsLayout>
                            <Route
                                path=path!("")
                                view=|| view! { <Redirect path="/settings/notifications" /> }
                            />
                            <Route path=path!("notifications") view={Lazy::<NotificationsRoute>::new()} />
                            <Route path=path!("notifications/targets") view={Lazy::<TargetsRoute>::new()} />
                            <Route path=path!("notifications/deliveries") view={Lazy::<DeliveriesRoute>::new()} />
                            <Route path=path!("users") view={Lazy::<UsersRoute>::new()} />
                            <Route path=path!("providers") view={Lazy::<ProvidersRoute>::new()} />
                            <Route path=path!("sources") view={Lazy::<SourcesRoute>::new()} />
                        </ParentRoute>
                    </ParentRoute>
                </Routes>
            </Router>
        </I18nContextProvider>
    }
}
