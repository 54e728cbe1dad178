//! Marks that say when the page answers clicks. Effects run only in the browser, once the part
//! of the page that made them is hydrated; browser tests wait for these marks before they act.
use leptos::prelude::*;

/// Marks `<body data-hydrated>` once the app's shell is hydrated.
pub fn mark_body_hydrated() {
    Effect::new(|_| {
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "");
        }
    });
}

/// `view` followed by a hidden mark that is `data-pending` until `view` is hydrated. A loaded
/// part (the content of a `Suspend`) may hydrate after the shell, when its data arrives: a
/// click before that is lost, so a test waits until no `[data-pending]` is left.
pub fn settled(view: AnyView) -> AnyView {
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));
    view! {
        {view}
        <span hidden data-pending=move || (!hydrated.get()).then_some("")></span>
    }
    .into_any()
}
