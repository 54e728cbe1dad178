//! `/settings/sources` (数据来源, admin): every source of usage — HTTP ingest, LiteLLM's callback,
//! Claude Code Hub's database — with its state (on or off, last event, the last hour's counts,
//! the latest rejections and unpriced events; for Claude Code Hub the tail's instance, lag and
//! last error) and the snippet that connects it, ready to copy.
use leptos::prelude::*;

use crate::api::sources::list_sources;
use crate::components::copy::CopyButton;
use crate::components::hydration::settled;
use crate::components::usage::written_time;
use crate::i18n::{t, t_string, use_i18n};
use crate::sources::{setup_snippet, Note, Source, SourceStatus, SourcesPage, TailStatus};
use crate::I18n;

#[component]
pub fn SourcesPage() -> impl IntoView {
    let i18n = use_i18n();
    let page = Resource::new(|| (), |_| list_sources());
    view! {
        <h1 class="page-title" data-testid="sources-title">{t!(i18n, sources_title)}</h1>
        <p class="muted">{t!(i18n, sources_intro)}</p>
        <Transition fallback=move || view! { <div class="skeleton" data-testid="sources-loading"></div> }>
            {move || Suspend::new(async move {
                settled(match page.await {
                    Ok(SourcesPage { sources, base_url }) => sources
                        .into_iter()
                        .map(|source| view! { <SourceCard source base_url=base_url.clone() /> })
                        .collect_view()
                        .into_any(),
                    Err(_) => view! {
                        <p class="form-error" role="alert" data-testid="sources-error">{t!(i18n, sources_load_failed)}</p>
                    }
                    .into_any(),
                })
            })}
        </Transition>
    }
}

fn title(i18n: I18n, source: Source) -> String {
    match source {
        Source::Http => t_string!(i18n, source_http).to_string(),
        Source::Litellm => t_string!(i18n, source_litellm).to_string(),
        Source::Cch => t_string!(i18n, source_cch).to_string(),
    }
}

/// A time the server wrote in UTC.
fn utc(at: &str) -> String {
    format!("{} UTC", written_time(at))
}

#[component]
fn SourceCard(source: SourceStatus, base_url: String) -> impl IntoView {
    let i18n = use_i18n();
    let name = source.name;
    let counts = source.activity.last_hour.clone();
    let last_event = source.activity.last_event_at.clone();
    let enabled = source.enabled;
    view! {
        <section class="card source-card" data-testid="source" data-source=name.key() data-enabled=enabled.to_string()>
            <header class="source-head">
                <h2>{move || title(i18n, name)}</h2>
                <span class="status-pill" class:on=enabled data-testid="source-state">
                    {move || if enabled { t!(i18n, source_on).into_any() } else { t!(i18n, source_off).into_any() }}
                </span>
            </header>
            <dl class="facts">
                <dt>{t!(i18n, source_last_event)}</dt>
                <dd data-testid="source-last-event">
                    {match last_event {
                        Some(at) => utc(&at),
                        None => t_string!(i18n, source_never).to_string(),
                    }}
                </dd>
                <dt>{t!(i18n, source_last_hour)}</dt>
                <dd data-testid="source-last-hour">
                    {move || t_string!(
                        i18n,
                        source_counts,
                        accepted = counts.accepted,
                        duplicates = counts.duplicates,
                        revised = counts.revised,
                        rejected = counts.rejected,
                        unpriced = counts.unpriced
                    ).to_string()}
                </dd>
                {source.tail.map(|tail| view! { <TailFacts tail /> })}
            </dl>
            <Notes notes=source.activity.latest_unpriced kind="unpriced" />
            <Notes notes=source.activity.latest_rejections kind="rejected" />
            <Snippet source=name base_url />
        </section>
    }
}

#[component]
fn TailFacts(tail: TailStatus) -> impl IntoView {
    let i18n = use_i18n();
    let TailStatus {
        active_instance,
        polled_at,
        lag_seconds,
        last_error,
        last_error_at,
    } = tail;
    view! {
        <dt>{t!(i18n, source_instance)}</dt>
        <dd class="mono" data-testid="source-instance">
            {active_instance.unwrap_or_else(|| "—".into())}
        </dd>
        <dt>{t!(i18n, source_polled)}</dt>
        <dd data-testid="source-polled">
            {match polled_at {
                Some(at) => utc(&at),
                None => t_string!(i18n, source_never).to_string(),
            }}
            {lag_seconds.map(|lag| {
                let lag = format!("{lag:.1}");
                view! { " · "{move || t_string!(i18n, source_lag, seconds = lag.clone()).to_string()} }
            })}
        </dd>
        {last_error.map(|error| view! {
            <dt>{t!(i18n, source_last_error)}</dt>
            <dd class="form-error" data-testid="source-last-error">
                {error}{last_error_at.map(|at| format!(" ({})", utc(&at)))}
            </dd>
        })}
    }
}

/// The latest unpriced events (an admin must price the model in the gateway) or rejections.
#[component]
fn Notes(notes: Vec<Note>, kind: &'static str) -> impl IntoView {
    let i18n = use_i18n();
    (!notes.is_empty()).then(|| {
        view! {
            <div class="source-notes" data-testid=format!("source-{kind}")>
                <p class="small">
                    {move || if kind == "unpriced" { t!(i18n, source_unpriced_notes).into_any() } else { t!(i18n, source_rejected_notes).into_any() }}
                </p>
                <ul>
                    {notes
                        .into_iter()
                        .map(|n| view! { <li class="small"><span class="muted">{utc(&n.at)}</span>" "{n.detail}</li> })
                        .collect_view()}
                </ul>
            </div>
        }
    })
}

#[component]
fn Snippet(source: Source, base_url: String) -> impl IntoView {
    let i18n = use_i18n();
    let text = setup_snippet(source, &base_url);
    view! {
        <div class="source-snippet">
            <div class="source-snippet-head">
                <span class="small muted">
                    {move || match source {
                        Source::Http => t!(i18n, source_snippet_http).into_any(),
                        Source::Litellm => t!(i18n, source_snippet_litellm).into_any(),
                        Source::Cch => t!(i18n, source_snippet_cch).into_any(),
                    }}
                </span>
                <CopyButton text=text.clone() test_id="copy-snippet" />
            </div>
            <pre class="mono snippet" data-testid="source-snippet">{text}</pre>
        </div>
    }
}

lazy_page!(SourcesRoute, SourcesPage);
