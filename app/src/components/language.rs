//! The language switch: zh-CN ⇄ en, remembered in a cookie by leptos_i18n.
use leptos::prelude::*;

use crate::i18n::{t, use_i18n, Locale};

#[component]
pub fn LanguageSwitch() -> impl IntoView {
    let i18n = use_i18n();
    let toggle = move |_| {
        let next = match i18n.get_locale() {
            Locale::zh_CN => Locale::en,
            Locale::en => Locale::zh_CN,
        };
        i18n.set_locale(next);
    };
    view! {
        <button type="button" class="btn btn-ghost" data-testid="language-switch" on:click=toggle>
            <span class="sr-only">{t!(i18n, language_label)}</span>
            {t!(i18n, language_switch)}
        </button>
    }
}
