//! `/settings/notifications` (消息推送). Until notification settings exist this shows what the
//! system would push and that nothing is configured: the master switch is off by default.
use leptos::prelude::*;

use crate::i18n::{t, use_i18n};

#[component]
pub fn NotificationsPage() -> impl IntoView {
    let i18n = use_i18n();
    let kinds = [
        (
            "circuitBreaker",
            t!(i18n, kind_circuit_breaker).into_any(),
            t!(i18n, kind_circuit_breaker_trigger).into_any(),
        ),
        (
            "dailyLeaderboard",
            t!(i18n, kind_daily_leaderboard).into_any(),
            t!(i18n, kind_daily_leaderboard_trigger).into_any(),
        ),
        (
            "costAlert",
            t!(i18n, kind_cost_alert).into_any(),
            t!(i18n, kind_cost_alert_trigger).into_any(),
        ),
    ];
    view! {
        <h1 class="page-title" data-testid="notifications-title">{t!(i18n, notifications_title)}</h1>
        <p class="muted">{t!(i18n, notifications_intro)}</p>
        <div class="card master-row">
            <span class="master-label">{t!(i18n, notifications_master)}</span>
            <span class="status-pill off" data-testid="master-status">{t!(i18n, notifications_status_off)}</span>
        </div>
        <div class="card empty-state" data-testid="notifications-empty">
            <h2>{t!(i18n, notifications_empty_title)}</h2>
            <p class="muted">{t!(i18n, notifications_empty_body)}</p>
            <table class="table">
                <thead>
                    <tr>
                        <th>{t!(i18n, notifications_col_kind)}</th>
                        <th>{t!(i18n, notifications_col_trigger)}</th>
                        <th>{t!(i18n, notifications_col_status)}</th>
                    </tr>
                </thead>
                <tbody>
                    {kinds
                        .into_iter()
                        .map(|(id, name, trigger)| view! {
                            <tr data-kind=id>
                                <td>{name}</td>
                                <td>{trigger}</td>
                                <td><span class="status-pill off">{t!(i18n, notifications_status_unconfigured)}</span></td>
                            </tr>
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
}
