//! `/settings/notifications/deliveries` (投递记录): every notification sent or being sent, newest
//! first, filtered by kind, status and push target, one page at a time.
//!
//! The view lives in the URL (`?kind=&status=&target=&before=`), so a reload or a shared link shows the
//! same page and the server renders it. One Resource, keyed on the query, read in one Transition.
use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_query_map};
use leptos_router::params::ParamsMap;
use leptos_router::NavigateOptions;

use crate::api::deliveries::list_deliveries;
use crate::api::targets::list_push_targets;
use crate::components::hydration::settled;
use crate::components::targets::channel_name;
use crate::deliveries::{preview, DeliveryFilter, DeliveryPage, DeliveryRecord, DeliveryStatus};
use crate::error::AppError;
use crate::i18n::{t, use_i18n};
use crate::notifications::NotificationKind;
use crate::I18n;

const PATH: &str = "/settings/notifications/deliveries";
/// Characters of content shown in the table before it is expanded.
const PREVIEW_CHARS: usize = 80;

/// What the URL asks for. Unknown or malformed values are ignored (the first page, unfiltered).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct ViewQuery {
    kind: Option<NotificationKind>,
    status: Option<DeliveryStatus>,
    /// A push target's id.
    target: Option<i64>,
    before: Option<i64>,
}

/// The filters a trail of pages belongs to: kind, status, target.
type Filters = (Option<NotificationKind>, Option<DeliveryStatus>, Option<i64>);

/// A positive id, or nothing.
fn positive_id(text: Option<&str>) -> Option<i64> {
    text.and_then(|t| t.trim().parse::<i64>().ok()).filter(|id| *id > 0)
}

impl ViewQuery {
    fn from_params(params: &ParamsMap) -> Self {
        Self::parse(
            params.get_str("kind"),
            params.get_str("status"),
            params.get_str("target"),
            params.get_str("before"),
        )
    }

    fn parse(kind: Option<&str>, status: Option<&str>, target: Option<&str>, before: Option<&str>) -> Self {
        ViewQuery {
            kind: kind.and_then(NotificationKind::from_key),
            status: status.and_then(DeliveryStatus::parse),
            target: positive_id(target),
            before: positive_id(before),
        }
    }

    fn filter(self) -> DeliveryFilter {
        DeliveryFilter {
            kind: self.kind,
            status: self.status,
            target_id: self.target,
            limit: None,
            before: self.before,
        }
    }

    /// The filters without the cursor: what a trail of pages belongs to.
    fn filters(self) -> Filters {
        (self.kind, self.status, self.target)
    }

    /// This view at another cursor (`None`: the newest page).
    fn at(self, before: Option<i64>) -> Self {
        ViewQuery { before, ..self }
    }

    /// The page's address for this view; empty parameters are left out.
    fn href(self) -> String {
        let mut params = Vec::new();
        if let Some(kind) = self.kind {
            params.push(format!("kind={}", kind.key()));
        }
        if let Some(status) = self.status {
            params.push(format!("status={}", status.as_str()));
        }
        if let Some(target) = self.target {
            params.push(format!("target={target}"));
        }
        if let Some(before) = self.before {
            params.push(format!("before={before}"));
        }
        if params.is_empty() {
            PATH.to_owned()
        } else {
            format!("{PATH}?{}", params.join("&"))
        }
    }
}

/// The cursors of the pages visited from the newest one with the same filters, so 上一页 can go
/// back one page (the server's cursor only goes to older records). Kept in memory: after a reload
/// only 回到最新 is offered. Looked up by position, so the browser's back and forward keep it right.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Trail {
    filters: Filters,
    /// `None` is the newest page.
    cursors: Vec<Option<i64>>,
}

impl Trail {
    /// Going from the page at `from` to the older page at `to`.
    fn advance(&mut self, from: ViewQuery, to: i64) {
        if self.filters != from.filters() {
            *self = Trail {
                filters: from.filters(),
                cursors: Vec::new(),
            };
        }
        match self.cursors.iter().position(|c| *c == from.before) {
            Some(i) => self.cursors.truncate(i + 1),
            None => self.cursors = vec![from.before],
        }
        self.cursors.push(Some(to));
    }

    /// The cursor of the page before (newer than) the current one, if it was visited.
    fn previous(&self, current: ViewQuery) -> Option<Option<i64>> {
        if self.filters != current.filters() || current.before.is_none() {
            return None;
        }
        let i = self.cursors.iter().position(|c| *c == current.before)?;
        i.checked_sub(1).map(|p| self.cursors[p])
    }
}

/// `2026-11-26T14:03:05+08:00` → `2026-11-26 14:03:05`: the time as written. The server writes
/// times in APP_TIMEZONE, so the page shows them as the messages do, whatever the browser's zone.
fn written_datetime(rfc3339: &str) -> String {
    let (date, time) = (rfc3339.get(..10), rfc3339.get(11..19));
    match (date, time) {
        (Some(date), Some(time)) if matches!(rfc3339.as_bytes()[10], b'T' | b't' | b' ') => format!("{date} {time}"),
        _ => rfc3339.to_owned(),
    }
}

fn kind_text(i18n: I18n, kind: NotificationKind) -> AnyView {
    match kind {
        NotificationKind::CircuitBreaker => t!(i18n, kind_circuit_breaker).into_any(),
        NotificationKind::DailyLeaderboard => t!(i18n, kind_daily_leaderboard).into_any(),
        NotificationKind::CostAlert => t!(i18n, kind_cost_alert).into_any(),
    }
}

fn status_text(i18n: I18n, status: DeliveryStatus) -> AnyView {
    match status {
        DeliveryStatus::Pending => t!(i18n, delivery_status_pending).into_any(),
        DeliveryStatus::Sending => t!(i18n, delivery_status_sending).into_any(),
        DeliveryStatus::Delivered => t!(i18n, delivery_status_delivered).into_any(),
        DeliveryStatus::Failed => t!(i18n, delivery_status_failed).into_any(),
    }
}

#[component]
pub fn DeliveriesPage() -> impl IntoView {
    let i18n = use_i18n();
    let query_map = use_query_map();
    let query = Memo::new(move |_| query_map.with(ViewQuery::from_params));
    let page = Resource::new(move || query.get().filter(), list_deliveries);
    let trail = RwSignal::new(Trail::default());
    let loading = RwSignal::new(false);
    // Times render as written on the server and switch to the browser's zone once it runs.
    let in_browser = RwSignal::new(false);
    Effect::new(move |_| in_browser.set(true));
    // Hydration keeps the server's attribute values, so "loading" is only ever shown in the browser.
    let busy = move || (in_browser.get() && loading.get()).to_string();

    let navigate = use_navigate();
    let go = move |to: ViewQuery| navigate(&to.href(), NavigateOptions::default());
    let go_kind = go.clone();
    let on_kind = move |ev: leptos::ev::Event| {
        let kind = NotificationKind::from_key(&event_target_value(&ev));
        go_kind(ViewQuery {
            kind,
            ..query.get_untracked().at(None)
        });
    };
    let go_status = go.clone();
    let on_status = move |ev: leptos::ev::Event| {
        let status = DeliveryStatus::parse(&event_target_value(&ev));
        go_status(ViewQuery {
            status,
            ..query.get_untracked().at(None)
        });
    };
    let on_target = move |ev: leptos::ev::Event| {
        let target = positive_id(Some(&event_target_value(&ev)));
        go(ViewQuery {
            target,
            ..query.get_untracked().at(None)
        });
    };
    // The targets to filter by: only the select needs them, so they load in the browser.
    let targets = LocalResource::new(list_push_targets);
    let target_options = move || {
        let mut list = targets.get().and_then(Result::ok).unwrap_or_default();
        list.sort_by(|a, b| a.name.cmp(&b.name));
        list
    };

    view! {
        <h1 class="page-title" data-testid="deliveries-title">{t!(i18n, deliveries_title)}</h1>
        <p class="muted">{t!(i18n, deliveries_intro)}</p>
        <div class="card deliveries-card" aria-busy=busy data-loading=busy>
            <div class="filters">
                <label class="filter">
                    <span class="field-label">{t!(i18n, deliveries_filter_kind)}</span>
                    <select data-testid="deliveries-filter-kind" name="kind" on:change=on_kind>
                        <option
                            value=""
                            selected=move || query.with(|q| q.kind.is_none())
                            prop:selected=move || query.with(|q| q.kind.is_none())
                        >
                            {t!(i18n, deliveries_filter_all)}
                        </option>
                        {NotificationKind::ALL
                            .into_iter()
                            .map(|kind| {
                                let on = move || query.with(|q| q.kind == Some(kind));
                                view! {
                                    <option value=kind.key() selected=on prop:selected=on>
                                        {move || kind_text(i18n, kind)}
                                    </option>
                                }
                            })
                            .collect_view()}
                    </select>
                </label>
                <label class="filter">
                    <span class="field-label">{t!(i18n, deliveries_filter_status)}</span>
                    <select data-testid="deliveries-filter-status" name="status" on:change=on_status>
                        <option
                            value=""
                            selected=move || query.with(|q| q.status.is_none())
                            prop:selected=move || query.with(|q| q.status.is_none())
                        >
                            {t!(i18n, deliveries_filter_all)}
                        </option>
                        {DeliveryStatus::ALL
                            .into_iter()
                            .map(|status| {
                                let on = move || query.with(|q| q.status == Some(status));
                                view! {
                                    <option value=status.as_str() selected=on prop:selected=on>
                                        {move || status_text(i18n, status)}
                                    </option>
                                }
                            })
                            .collect_view()}
                    </select>
                </label>
                <label class="filter">
                    <span class="field-label">{t!(i18n, deliveries_filter_target)}</span>
                    <select data-testid="deliveries-filter-target" name="target" on:change=on_target>
                        <option
                            value=""
                            selected=move || query.with(|q| q.target.is_none())
                            prop:selected=move || query.with(|q| q.target.is_none())
                        >
                            {t!(i18n, deliveries_filter_all)}
                        </option>
                        <For each=target_options key=|t| (t.id, t.name.clone()) let:target>
                            {
                                let id = target.id;
                                let on = move || query.with(|q| q.target == Some(id));
                                view! {
                                    <option value=id.to_string() selected=on prop:selected=on>
                                        {move || format!("{} · {}", target.name, channel_name(i18n, target.channel()))}
                                    </option>
                                }
                            }
                        </For>
                    </select>
                </label>
            </div>
            <Transition
                fallback=|| view! { <div class="skeleton" data-testid="deliveries-loading"></div> }
                set_pending=loading.write_only()
            >
                {move || Suspend::new(async move {
                    let shown = query.get_untracked();
                    settled(match page.await {
                        Ok(result) => view! { <DeliveryTable page=result shown trail /> }.into_any(),
                        Err(error) => view! {
                            <p class="form-error" role="alert" data-testid="deliveries-error">
                                {t!(i18n, deliveries_load_failed)}
                                {match error {
                                    AppError::Forbidden | AppError::Unauthorized => String::new(),
                                    other => format!(" ({other})"),
                                }}
                            </p>
                        }.into_any(),
                    })
                })}
            </Transition>
        </div>
    }
}

/// One page of records and the links to the pages around it.
#[component]
fn DeliveryTable(
    page: DeliveryPage,
    /// The view this page was loaded for.
    shown: ViewQuery,
    trail: RwSignal<Trail>,
) -> impl IntoView {
    let i18n = use_i18n();
    let DeliveryPage { items, next_before } = page;
    let rows = if items.is_empty() {
        view! { <p class="muted empty-deliveries" data-testid="deliveries-empty">{t!(i18n, deliveries_empty)}</p> }
            .into_any()
    } else {
        view! {
            <div class="table-scroll">
                <table class="table deliveries-table" data-testid="deliveries-table">
                    <thead>
                        <tr>
                            <th>{t!(i18n, deliveries_col_time)}</th>
                            <th>{t!(i18n, deliveries_col_kind)}</th>
                            <th>{t!(i18n, deliveries_col_target)}</th>
                            <th>{t!(i18n, deliveries_col_status)}</th>
                            <th>{t!(i18n, deliveries_col_attempts)}</th>
                            <th>{t!(i18n, deliveries_col_error)}</th>
                            <th>{t!(i18n, deliveries_col_content)}</th>
                        </tr>
                    </thead>
                    <tbody>
                        {items.into_iter().map(|record| view! { <DeliveryRow record /> }).collect_view()}
                    </tbody>
                </table>
            </div>
        }
        .into_any()
    };

    let previous = move || trail.with(|t| t.previous(shown));
    view! {
        {rows}
        <nav class="pager" aria-label="pages">
            {move || previous().map(|cursor| view! {
                <a class="btn btn-ghost" href=shown.at(cursor).href() data-testid="deliveries-prev" rel="prev">
                    {t!(i18n, deliveries_prev)}
                </a>
            })}
            {shown.before.map(|_| view! {
                <a class="btn btn-ghost" href=shown.at(None).href() data-testid="deliveries-newest">
                    {t!(i18n, deliveries_newest)}
                </a>
            })}
            {next_before.map(|next| view! {
                <a
                    class="btn btn-ghost"
                    href=shown.at(Some(next)).href()
                    data-testid="deliveries-next"
                    rel="next"
                    // Before the router's own click listener navigates.
                    on:click:capture=move |_| trail.update(|t| t.advance(shown, next))
                >
                    {t!(i18n, deliveries_next)}
                </a>
            })}
        </nav>
    }
}

#[component]
fn DeliveryRow(record: DeliveryRecord) -> impl IntoView {
    let i18n = use_i18n();
    let DeliveryRecord {
        id,
        kind,
        target,
        target_name,
        channel,
        status,
        attempts,
        last_error,
        content,
        created_at,
        ..
    } = record;
    let shown_time = written_datetime(&created_at);
    let summary = preview(&content, PREVIEW_CHARS);
    view! {
        <tr data-testid="delivery-row" data-id=id.to_string() data-kind=kind.key() data-status=status.as_str()>
            <td class="nowrap">
                <time datetime=created_at.clone() title=created_at data-testid="delivery-time">{shown_time}</time>
            </td>
            <td class="nowrap" data-testid="delivery-kind">{move || kind_text(i18n, kind)}</td>
            <td>
                {target_name.map(|name| view! { <span class="target-name" data-testid="delivery-target-name">{name}</span> " " })}
                {channel.map(|c| view! { <span class="badge" data-testid="delivery-channel">{c.key()}</span> " " })}
                <span class="mono" data-testid="delivery-target">{target}</span>
            </td>
            <td>
                <span class=format!("status-pill status-{}", status.as_str()) data-testid="delivery-status">
                    {move || status_text(i18n, status)}
                </span>
            </td>
            <td class="num" data-testid="delivery-attempts">{attempts}</td>
            <td class="delivery-error" data-testid="delivery-error">
                {match last_error.filter(|e| !e.trim().is_empty()) {
                    Some(error) => view! { <span>{error}</span> }.into_any(),
                    None => view! { <span class="muted">"—"</span> }.into_any(),
                }}
            </td>
            <td class="delivery-content">
                <details data-testid="delivery-content">
                    <summary data-testid="delivery-preview">{summary}</summary>
                    <pre data-testid="delivery-full">{content}</pre>
                </details>
            </td>
        </tr>
    }
}

lazy_page!(DeliveriesRoute, DeliveriesPage);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_parse_and_ignore_nonsense() {
        let q = ViewQuery::parse(Some("costAlert"), Some("failed"), Some("3"), Some("42"));
        assert_eq!(
            q,
            ViewQuery {
                kind: Some(NotificationKind::CostAlert),
                status: Some(DeliveryStatus::Failed),
                target: Some(3),
                before: Some(42),
            }
        );
        assert_eq!(
            ViewQuery::parse(Some("nope"), Some("done"), Some("wecom"), Some("x")),
            ViewQuery::default()
        );
        assert_eq!(
            ViewQuery::parse(None, None, Some("0"), Some("-3")),
            ViewQuery::default()
        );
        assert_eq!(
            ViewQuery::parse(Some(""), Some(""), Some(""), Some("")),
            ViewQuery::default()
        );
    }

    #[test]
    fn hrefs_round_trip_and_leave_out_empty_parameters() {
        assert_eq!(ViewQuery::default().href(), PATH);
        let q = ViewQuery::parse(Some("dailyLeaderboard"), None, None, Some("7"));
        assert_eq!(q.href(), format!("{PATH}?kind=dailyLeaderboard&before=7"));
        assert_eq!(q.at(None).href(), format!("{PATH}?kind=dailyLeaderboard"));
        let full = ViewQuery::parse(Some("circuitBreaker"), Some("pending"), Some("5"), Some("99"));
        assert_eq!(
            full.href(),
            format!("{PATH}?kind=circuitBreaker&status=pending&target=5&before=99")
        );
        assert_eq!(
            full.filter(),
            DeliveryFilter {
                kind: Some(NotificationKind::CircuitBreaker),
                status: Some(DeliveryStatus::Pending),
                target_id: Some(5),
                limit: None,
                before: Some(99),
            }
        );
    }

    #[test]
    fn the_trail_goes_back_one_page_at_a_time() {
        let newest = ViewQuery::default();
        let mut trail = Trail::default();
        assert_eq!(trail.previous(newest), None);
        trail.advance(newest, 80);
        trail.advance(newest.at(Some(80)), 60);
        assert_eq!(trail.previous(newest.at(Some(60))), Some(Some(80)));
        assert_eq!(trail.previous(newest.at(Some(80))), Some(None));
        assert_eq!(trail.previous(newest), None);
        // Back to page 2 (browser back), then onwards again: the old branch is dropped.
        trail.advance(newest.at(Some(80)), 61);
        assert_eq!(trail.cursors, vec![None, Some(80), Some(61)]);
        // Another filter starts a new trail.
        let failed = ViewQuery::parse(None, Some("failed"), None, None);
        assert_eq!(trail.previous(failed.at(Some(80))), None);
        trail.advance(failed, 50);
        assert_eq!(trail.previous(failed.at(Some(50))), Some(None));
        // A page reached by a reload is not on the trail: only 回到最新 then.
        assert_eq!(trail.previous(failed.at(Some(7))), None);
    }

    #[test]
    fn written_times_are_readable() {
        assert_eq!(written_datetime("2026-11-26T14:03:05+08:00"), "2026-11-26 14:03:05");
        assert_eq!(written_datetime("2026-11-26T06:03:05.123456Z"), "2026-11-26 06:03:05");
        assert_eq!(written_datetime("yesterday"), "yesterday");
    }
}
