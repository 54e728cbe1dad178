use leptos::prelude::*;
use leptos_router::components::A;

use crate::i18n::{t, use_i18n};

#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
    let i18n = use_i18n();
    view! {
        <div class="not-found card">
            <h1>{t!(i18n, not_found_title)}</h1>
            <A href="/dashboard">{t!(i18n, not_found_back)}</A>
        </div>
    }
}
