//! `/login`: the admin token or a user's API key. Works without JavaScript (a plain form post).
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::components::language::LanguageSwitch;
use crate::error::AppError;
use crate::i18n::{t, use_i18n};
use crate::routes::use_auth;

#[component]
pub fn LoginPage() -> impl IntoView {
    let i18n = use_i18n();
    let auth = use_auth();
    let query = use_query_map();
    let next = move || query.read().get("next").unwrap_or_default();
    let pending = auth.sign_in.pending();
    let error = move || match auth.sign_in.value().get() {
        Some(Err(AppError::InvalidCredentials)) => Some(t!(i18n, login_error_invalid).into_any()),
        Some(Err(AppError::Throttled)) => Some(t!(i18n, login_error_throttled).into_any()),
        Some(Err(_)) => Some(t!(i18n, login_error_unavailable).into_any()),
        _ => None,
    };

    view! {
        <div class="login-page">
            <div class="login-lang">
                <LanguageSwitch />
            </div>
            <div class="login-card card">
                <div class="brand brand-large">
                    <span class="brand-mark" aria-hidden="true">"◆"</span>
                    <span class="brand-name">{t!(i18n, app_name)}</span>
                </div>
                <h1>{t!(i18n, login_title)}</h1>
                <p class="muted">{t!(i18n, login_hint)}</p>
                <ActionForm action=auth.sign_in attr:class="form" attr:data-testid="login-form">
                    <input type="hidden" name="next" value=next />
                    <label class="field">
                        <span class="field-label">{t!(i18n, login_token_label)}</span>
                        <input
                            type="password"
                            name="token"
                            required
                            autocomplete="current-password"
                            data-testid="login-token"
                        />
                    </label>
                    {move || error().map(|e| view! { <p class="form-error" role="alert" data-testid="login-error">{e}</p> })}
                    <button type="submit" class="btn btn-primary" data-testid="login-submit" disabled=move || pending.get()>
                        {move || if pending.get() { t!(i18n, login_submitting).into_any() } else { t!(i18n, login_submit).into_any() }}
                    </button>
                </ActionForm>
            </div>
        </div>
    }
}

lazy_page!(LoginRoute, LoginPage);
