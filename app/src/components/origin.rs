//! Where a user or provider comes from (用户, 供应商): the gateway and its own id, whether the
//! gateway disabled or deleted it, and — for one a gateway keeps — that its settings are changed
//! there, not here.
use leptos::prelude::*;

use crate::i18n::{t_string, use_i18n};
use crate::usage::{EntityState, Origin, Source};

/// Below the name: `Claude Code Hub #3`, `LiteLLM · alice`, and 已停用 / 已删除.
#[component]
pub fn OriginNote(origin: Origin) -> impl IntoView {
    let i18n = use_i18n();
    let source = (origin.source != Source::Http).then(|| {
        let text = match (origin.source, origin.source_id) {
            (Source::Cch, Some(id)) => format!("{} #{id}", origin.source.product()),
            (source, Some(id)) => format!("{} · {id}", source.product()),
            (source, None) => source.product().to_owned(),
        };
        view! { <span class="origin-tag" data-testid="origin" data-source=origin.source.key()>{text}</span> }
    });
    let state = origin.state;
    let state = (state != EntityState::Active).then(|| {
        view! {
            <span class="origin-tag origin-state" data-testid="origin-state" data-state=state.as_str()>
                {move || match state {
                    EntityState::Disabled => t_string!(i18n, origin_disabled).to_string(),
                    _ => t_string!(i18n, origin_deleted).to_string(),
                }}
            </span>
        }
    });
    view! { <div class="origin">{source}{state}</div> }
}

/// In place of the edit button of a row a gateway keeps.
#[component]
pub fn KeptBySource(source: Source) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <span class="muted small" data-testid="read-only">
            {move || t_string!(i18n, origin_read_only, source = source.product()).to_string()}
        </span>
    }
}
