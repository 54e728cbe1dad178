//! A list loaded from the server into a card: a skeleton while it first loads (a reload keeps the
//! old list on screen), a line when it is empty, and why when it failed.
use std::sync::Arc;

use leptos::prelude::*;
use serde::{de::DeserializeOwned, Serialize};

use crate::components::form::failure_text;
use crate::components::hydration::settled;
use crate::error::AppError;
use crate::i18n::use_i18n;
use crate::I18n;

/// `name` makes the test ids: `{name}-loading`, `{name}-empty`, `{name}-error`.
#[component]
pub fn LoadedList<T, V, F>(
    list: Resource<Result<Vec<T>, AppError>>,
    name: &'static str,
    empty: fn(I18n) -> AnyView,
    failed: fn(I18n) -> AnyView,
    /// The list, when it has items.
    show: F,
) -> impl IntoView
where
    T: Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
    V: IntoView + 'static,
    F: Fn(Vec<T>) -> V + Send + Sync + 'static,
{
    let i18n = use_i18n();
    let show = Arc::new(show);
    view! {
        <Transition fallback=move || view! { <div class="skeleton" data-testid=format!("{name}-loading")></div> }>
            {move || {
                let show = show.clone();
                Suspend::new(async move {
                    settled(match list.await {
                        Ok(items) if items.is_empty() => view! {
                            <p class="muted" data-testid=format!("{name}-empty")>{empty(i18n)}</p>
                        }.into_any(),
                        Ok(items) => show(items).into_any(),
                        Err(error) => view! { <LoadFailed name failed error /> }.into_any(),
                    })
                })
            }}
        </Transition>
    }
}

/// Why a list did not load (`{name}-error`): `failed` and the failure in brackets.
#[component]
pub fn LoadFailed(name: &'static str, failed: fn(I18n) -> AnyView, error: AppError) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <p class="form-error" role="alert" data-testid=format!("{name}-error")>
            {failed(i18n)}" ("{failure_text(i18n, &error)}")"
        </p>
    }
}
