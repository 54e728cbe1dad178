//! Spending against a quota: the meter shown per window on 用户, 供应商 and the dashboard, in
//! the cost alert's colours (green < 80 %, yellow ≥ 80 %, red ≥ 90 %).
use leptos::prelude::*;

use crate::i18n::{t, t_string, use_i18n};
use crate::usage::{DailyReset, UsageWindow, WindowUsage};
use crate::I18n;

/// 5 小时, 今日, 本周, 本月, 累计.
pub fn window_label(i18n: I18n, window: UsageWindow) -> String {
    match window {
        UsageWindow::FiveHours => t_string!(i18n, window_5h).to_string(),
        UsageWindow::Day => t_string!(i18n, window_day).to_string(),
        UsageWindow::Week => t_string!(i18n, window_week).to_string(),
        UsageWindow::Month => t_string!(i18n, window_month).to_string(),
        UsageWindow::Total => t_string!(i18n, window_total).to_string(),
    }
}

/// How a day that is not the calendar day is cut (`18:00 起`, `近 24 小时`); `None` for the
/// calendar day and the other windows.
fn reset_note(i18n: I18n, window: UsageWindow, reset: DailyReset) -> Option<String> {
    match (window, reset) {
        (UsageWindow::Day, DailyReset::Rolling) => Some(t_string!(i18n, reset_rolling).to_string()),
        (UsageWindow::Day, DailyReset::Fixed { minute }) if minute > 0 => {
            let time = reset.time_of_day().unwrap_or_default();
            Some(t_string!(i18n, reset_from, time = time).to_string())
        }
        _ => None,
    }
}

/// `$spent / $limit`, the percentage and a bar; without a quota, `$spent · 不限额`.
/// The quota windows every row of a list has (the first row's).
pub fn window_columns(first: Option<&[WindowUsage]>) -> Vec<UsageWindow> {
    first.map(|w| w.iter().map(|w| w.window).collect()).unwrap_or_default()
}

/// A list's header cell per quota window.
#[component]
pub fn WindowHeaders(windows: Vec<UsageWindow>) -> impl IntoView {
    let i18n = use_i18n();
    windows
        .into_iter()
        .map(|w| view! { <th>{move || window_label(i18n, w)}</th> })
        .collect_view()
}

/// A row's meter cell per quota window.
#[component]
pub fn WindowCells(usages: Vec<WindowUsage>) -> impl IntoView {
    usages
        .into_iter()
        .map(|usage| view! { <td><UsageMeter usage /></td> })
        .collect_view()
}

#[component]
pub fn UsageMeter(usage: WindowUsage) -> impl IntoView {
    let i18n = use_i18n();
    let WindowUsage {
        window,
        reset,
        spent_usd,
        limit_usd,
        percent,
        level,
    } = usage;
    let level = level.map(|l| l.as_str()).unwrap_or("none");
    let limit = match limit_usd {
        Some(limit) => view! {
            <span class="muted">" / "</span>
            <span class="meter-limit" data-testid="usage-limit">{format!("${limit}")}</span>
        }
        .into_any(),
        None => view! {
            <span class="muted small meter-limit" data-testid="usage-limit" data-none="">
                " · "{t!(i18n, usage_no_limit)}
            </span>
        }
        .into_any(),
    };
    view! {
        <div class="meter" data-testid=format!("usage-{}", window.key()) data-level=level>
            <div class="meter-text">
                <span class="meter-spent" data-testid="usage-spent">{format!("${spent_usd}")}</span>
                {limit}
                {percent.map(|p| view! {
                    <span class=format!("meter-percent level-{level}") data-testid="usage-percent">
                        {format!("{p:.1}%")}
                    </span>
                })}
            </div>
            {reset_note(i18n, window, reset).map(|note| view! {
                <div class="muted small" data-testid="usage-reset">{note}</div>
            })}
            {percent.map(|p| view! {
                <div class="meter-track" aria-hidden="true">
                    <div class=format!("meter-bar level-{level}") style=format!("width: {:.1}%", p.clamp(0.0, 100.0))></div>
                </div>
            })}
        </div>
    }
}

/// `2026-11-26T14:03:05+08:00` → `2026-11-26 14:03:05`: a time as the server wrote it (in
/// `APP_TIMEZONE`, like the alerts).
pub fn written_time(rfc3339: &str) -> String {
    match (rfc3339.get(..10), rfc3339.get(11..19)) {
        (Some(date), Some(time)) => format!("{date} {time}"),
        _ => rfc3339.to_owned(),
    }
}

/// A duration in ms in the largest whole unit (`30 分钟`, `1 小时`, `1500 毫秒`).
pub fn duration_text(i18n: I18n, ms: i64) -> String {
    match ms {
        ms if ms >= 3_600_000 && ms % 3_600_000 == 0 => t_string!(i18n, duration_hours, n = ms / 3_600_000).to_string(),
        ms if ms >= 60_000 && ms % 60_000 == 0 => t_string!(i18n, duration_minutes, n = ms / 60_000).to_string(),
        ms if ms % 1000 == 0 => t_string!(i18n, duration_seconds, n = ms / 1000).to_string(),
        ms => t_string!(i18n, duration_ms, n = ms).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_times() {
        assert_eq!(written_time("2026-11-26T14:03:05.123+08:00"), "2026-11-26 14:03:05");
        assert_eq!(written_time("soon"), "soon");
    }
}
