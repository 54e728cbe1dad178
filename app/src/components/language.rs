//! The language switch (zh-CN ⇄ en) and the cookie that remembers the choice.
//!
//! The cookie is ours rather than leptos_i18n's (`cookie` feature): that feature pulls
//! leptos-use's cookie support, the `cookie` crate and `time` into the wasm's main module, for one
//! `document.cookie` write and one header read.
use leptos::prelude::*;
use leptos_use::UseLocalesOptions;

use crate::i18n::{t, use_i18n, Locale};

/// The name leptos_i18n's own cookie had, so a choice made before keeps working.
const LANGUAGE_COOKIE: &str = "i18n_pref_locale";

/// How the page's language is chosen when it is rendered: the remembered choice, else zh-CN. The
/// browser's Accept-Language is deliberately not consulted; the choice is handed to leptos_i18n
/// as if it were that header. The browser then hydrates in the language the server chose (the
/// `lang` of `<html>`).
pub fn remembered_language() -> UseLocalesOptions {
    UseLocalesOptions::default().ssr_lang_header_getter(|| {
        #[cfg(feature = "ssr")]
        {
            use_context::<http::request::Parts>().and_then(|parts| {
                parts
                    .headers
                    .get_all(http::header::COOKIE)
                    .iter()
                    .filter_map(|value| value.to_str().ok())
                    .find_map(language_in_cookies)
                    .map(str::to_owned)
            })
        }
        #[cfg(not(feature = "ssr"))]
        None
    })
}

/// The remembered language in a `Cookie` header's value, if any.
#[cfg(any(feature = "ssr", test))]
fn language_in_cookies(header: &str) -> Option<&str> {
    header.split(';').find_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        (name == LANGUAGE_COOKIE && !value.is_empty()).then_some(value)
    })
}

/// Remembers the choice for a year, for the whole site.
fn remember(locale: Locale) {
    use leptos::wasm_bindgen::JsCast;
    use leptos_i18n::Locale as _;
    if let Ok(html) = document().dyn_into::<leptos::web_sys::HtmlDocument>() {
        let cookie = format!(
            "{LANGUAGE_COOKIE}={}; Path=/; Max-Age=31536000; SameSite=Lax",
            locale.as_str()
        );
        // A refused write (cookies disabled) only means the choice is not remembered.
        let _ = html.set_cookie(&cookie);
    }
}

#[component]
pub fn LanguageSwitch() -> impl IntoView {
    let i18n = use_i18n();
    let toggle = move |_| {
        let next = match i18n.get_locale() {
            Locale::zh_CN => Locale::en,
            Locale::en => Locale::zh_CN,
        };
        i18n.set_locale(next);
        remember(next);
    };
    view! {
        <button type="button" class="btn btn-ghost" data-testid="language-switch" on:click=toggle>
            <span class="sr-only">{t!(i18n, language_label)}</span>
            {t!(i18n, language_switch)}
        </button>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_language_among_other_cookies() {
        assert_eq!(language_in_cookies("i18n_pref_locale=en"), Some("en"));
        assert_eq!(
            language_in_cookies("session=abc; i18n_pref_locale=zh-CN; x=1"),
            Some("zh-CN")
        );
        assert_eq!(language_in_cookies("session=abc"), None);
        assert_eq!(language_in_cookies("i18n_pref_locale="), None);
        assert_eq!(
            language_in_cookies("xi18n_pref_locale=en; i18n_pref_locale_old=en"),
            None
        );
        assert_eq!(language_in_cookies(""), None);
    }
}
