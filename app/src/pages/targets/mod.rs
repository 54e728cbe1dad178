//! `/settings/notifications/targets` (推送目标): every push target with its channel, where it
//! sends, whether it is on, the kinds bound to it and its last test; add, edit, test and delete.
//! A row (`row`) opens the form (`form`): the fields every target has, then its channel's own
//! (`channel_fields`), over the form's text as typed (`draft`).
use leptos::prelude::*;

use crate::api::targets::list_push_targets;
use crate::components::copy::CopyButton;
use crate::components::loaded::LoadedList;
use crate::components::row_editor::RowEditor;
use crate::components::toast::{Toaster, Toasts};
use crate::i18n::{t, t_string, use_i18n};
use crate::targets::PushTargetView;

// `#[component]` gives a component's props builder `pub` methods whatever the component's own
// visibility: shared between these files, they read as unreachable `pub` items.
#[allow(unreachable_pub)]
mod channel_fields;
mod draft;
#[allow(unreachable_pub)]
mod form;
#[allow(unreachable_pub)]
mod quick_add;
#[allow(unreachable_pub)]
mod row;

use form::TargetForm;
pub use quick_add::QuickAddTarget;
use row::TargetRow;

/// The create form's place in the [`RowEditor`]: stored targets have positive ids.
const NEW: i64 = 0;

/// What the page's parts share.
#[derive(Clone, Copy)]
struct Page {
    editor: RowEditor,
    toasts: Toasts,
    /// Bumped after a change that is not a form's save (a switch, a test, a delete).
    reloads: RwSignal<u32>,
    /// The name and secret of a `webhook` target just created without a secret: shown once.
    generated: RwSignal<Option<(String, String)>>,
}

impl Page {
    fn reload(&self) {
        self.reloads.update(|n| *n += 1);
    }
}

#[component]
pub fn TargetsPage() -> impl IntoView {
    let i18n = use_i18n();
    let page = Page {
        editor: RowEditor::new(),
        toasts: Toasts::new(),
        reloads: RwSignal::new(0),
        generated: RwSignal::new(None),
    };
    let editor = page.editor;
    let targets = Resource::new(move || (editor.saves(), page.reloads.get()), |_| list_push_targets());
    view! {
        <Toaster toasts=page.toasts />
        <h1 class="page-title" data-testid="targets-title">{t!(i18n, targets_title)}</h1>
        <p class="muted">{t!(i18n, targets_intro)}</p>
        <GeneratedSecret generated=page.generated />
        <div class="card targets-card">
            <div class="card-toolbar">
                <button
                    type="button"
                    class="btn btn-primary"
                    data-testid="add-target"
                    aria-expanded=move || editor.is_open(NEW).to_string()
                    on:click=move |_| editor.toggle(NEW)
                >
                    {t!(i18n, target_add)}
                </button>
            </div>
            <Show when=move || editor.is_open(NEW)>
                <TargetForm existing=None page />
            </Show>
            <LoadedList
                list=targets
                name="targets"
                empty=|i18n| t!(i18n, targets_empty).into_any()
                failed=|i18n| t!(i18n, targets_load_failed).into_any()
                show=move |list| view! { <TargetTable list page /> }
            />
        </div>
    }
}

fn select_all(ev: leptos::ev::FocusEvent) {
    event_target::<leptos::web_sys::HtmlInputElement>(&ev).select();
}

/// The signing secret generated for a new `webhook` target: the server never shows it again.
#[component]
fn GeneratedSecret(generated: RwSignal<Option<(String, String)>>) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        {move || generated.get().map(|(name, secret)| {
            let to_copy = secret.clone();
            view! {
                <div class="card generated-secret" role="status" data-testid="generated-secret">
                    <p class="generated-secret-title">
                        {move || t_string!(i18n, target_secret_generated, name = name.clone()).to_string()}
                    </p>
                    <div class="generated-secret-row">
                        // Focused, it is selected: ready to copy by hand where the clipboard is not offered.
                        <input
                            class="mono"
                            readonly
                            data-testid="generated-secret-value"
                            prop:value=secret
                            on:focus=select_all
                        />
                        <CopyButton text=to_copy test_id="copy-generated-secret" />
                        <button
                            type="button"
                            class="btn btn-ghost"
                            data-testid="dismiss-generated-secret"
                            on:click=move |_| generated.set(None)
                        >
                            {t!(i18n, target_secret_done)}
                        </button>
                    </div>
                    <p class="muted small">{t!(i18n, target_secret_copy_hint)}</p>
                </div>
            }
        })}
    }
}

#[component]
fn TargetTable(list: Vec<PushTargetView>, page: Page) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <div class="table-scroll">
            <table class="table targets-table" data-testid="targets-table">
                <thead>
                    <tr>
                        <th>{t!(i18n, col_name)}</th>
                        <th>{t!(i18n, targets_col_enabled)}</th>
                        <th>{t!(i18n, targets_col_kinds)}</th>
                        <th>{t!(i18n, targets_col_last_test)}</th>
                        <th>{t!(i18n, col_actions)}</th>
                    </tr>
                </thead>
                <tbody>
                    {list.into_iter().map(|target| view! { <TargetRow target page /> }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

lazy_page!(TargetsRoute, TargetsPage);

#[cfg(all(test, feature = "ssr"))]
mod render_tests;
