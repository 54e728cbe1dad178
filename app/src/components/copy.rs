//! A button copying a text to the clipboard (复制 → 已复制), shown only where the browser offers
//! the clipboard; the text stays selectable by hand elsewhere.
use leptos::prelude::*;

use crate::i18n::{t, use_i18n};

#[component]
pub fn CopyButton(text: String, test_id: &'static str) -> impl IntoView {
    let i18n = use_i18n();
    let leptos_use::UseClipboardReturn {
        is_supported,
        copy,
        copied,
        ..
    } = leptos_use::use_clipboard();
    view! {
        <Show when=move || is_supported.get()>
            <button
                type="button"
                class="btn btn-ghost"
                data-testid=test_id
                on:click={
                    let copy = copy.clone();
                    let text = text.clone();
                    move |_| copy(&text)
                }
            >
                {move || if copied.get() { t!(i18n, copied).into_any() } else { t!(i18n, copy).into_any() }}
            </button>
        </Show>
    }
}
