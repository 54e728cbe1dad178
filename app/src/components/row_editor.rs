//! Tables whose rows open an inline edit form (用户, 供应商): one row open at a time, its 编辑
//! button says whether it is open, and the form sits in a full-width row beneath.
use leptos::prelude::*;

use crate::components::toast::{ToastKind, Toasts};
use crate::i18n::{t, use_i18n};

/// Which row's form is open (by id), shared by a table's buttons and forms, and how many saves
/// the table has seen (its list reloads after each).
#[derive(Clone, Copy)]
pub struct RowEditor {
    open: RwSignal<Option<i64>>,
    saves: RwSignal<u32>,
}

impl RowEditor {
    pub fn new() -> Self {
        RowEditor {
            open: RwSignal::new(None),
            saves: RwSignal::new(0),
        }
    }

    pub fn is_open(&self, id: i64) -> bool {
        self.open.get() == Some(id)
    }

    /// Opens the row's form, or closes it when it is the open one.
    pub fn toggle(&self, id: i64) {
        self.open
            .update(|open| *open = if *open == Some(id) { None } else { Some(id) });
    }

    pub fn close(&self) {
        self.open.set(None);
    }

    /// A form saved: it says so, it closes, and the list (whose source reads
    /// [`RowEditor::saves`]) reloads.
    pub fn saved(&self, toasts: Toasts, message: String) {
        toasts.push(ToastKind::Success, message);
        self.close();
        self.saves.update(|n| *n += 1);
    }

    /// The number of saves so far: the source of the table's list.
    pub fn saves(&self) -> u32 {
        self.saves.get()
    }
}

impl Default for RowEditor {
    fn default() -> Self {
        Self::new()
    }
}

/// The row's 编辑 button.
#[component]
pub fn EditButton(editor: RowEditor, id: i64, test_id: &'static str) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <button
            type="button"
            class="btn btn-ghost"
            data-testid=test_id
            aria-expanded=move || editor.is_open(id).to_string()
            on:click=move |_| editor.toggle(id)
        >
            {t!(i18n, edit)}
        </button>
    }
}

/// The full-width row under row `id` that holds its form while it is open.
#[component]
pub fn EditRow(editor: RowEditor, id: i64, columns: usize, children: ChildrenFn) -> impl IntoView {
    view! {
        <Show when=move || editor.is_open(id)>
            <tr class="edit-row">
                <td colspan=columns.to_string()>{children()}</td>
            </tr>
        </Show>
    }
}

/// A form's 保存 (保存中… while it saves) and 取消 (closes the form).
#[component]
pub fn EditActions(
    editor: RowEditor,
    #[prop(into)] pending: Signal<bool>,
    save_test_id: &'static str,
) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <div class="edit-actions">
            <button type="submit" class="btn btn-primary" data-testid=save_test_id disabled=move || pending.get()>
                {move || if pending.get() { t!(i18n, saving).into_any() } else { t!(i18n, save).into_any() }}
            </button>
            <button type="button" class="btn btn-ghost" data-testid="cancel-edit" on:click=move |_| editor.close()>
                {t!(i18n, cancel)}
            </button>
        </div>
    }
}
