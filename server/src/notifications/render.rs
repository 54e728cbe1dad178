//! Message templates: pure functions from what happened to a [`Message`]: its typed data (the
//! signed-webhook event's `data`, the custom templates' placeholders) and its blocks, whose WeCom
//! rendering is tested byte for byte against the examples of the specification
//! (`server/tests/golden/*.md`) and every channel's against its golden files.
//!
//! Times are rendered as given: callers pass them already in APP_TIMEZONE. Templates hold the
//! whole message; each channel escapes it and cuts it to its platform's limit. Outside text
//! (names, errors) is made one line here, and nothing else: escaping is each channel's.

use app::usage::{DailyReset, UsageLevel, UsageWindow};
use chrono::{DateTime, NaiveDate};
use chrono_tz::Tz;
use rust_decimal::{Decimal, RoundingStrategy};

use crate::channels::blocks::{Block, Document, Inline, Part, TitleStyle, PART_SEPARATOR};
use crate::channels::message::{
    CircuitBreakerClosed, CircuitBreakerOpened, ConnectionTest, CostAlertEntry, CostAlertTriggered,
    DailyLeaderboardPublished, EntityType, Event, EventData, LeaderboardRank, Message, TIME_FORMAT,
};
use crate::usage::spending::{format_usd, level_of, usage_percent};

/// An amount in data: the message's 4 decimals, as a string (no float rounds it).
fn usd(amount: Decimal) -> String {
    format_usd(amount).replacen('$', "", 1)
}

fn time(t: &DateTime<Tz>) -> String {
    t.format(TIME_FORMAT).to_string()
}

// ---------------------------------------------------------------------------------------------
// Shared formatting
// ---------------------------------------------------------------------------------------------

/// A count with thousands separators (`1,234`).
pub fn format_count(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Tokens as the plain number below 1,000, else K/M/B with 2 decimals (`12.35K`, `2.45M`),
/// rounded half away from zero. A value that would round to `1000.00` of a unit is promoted to
/// the next one (999,995 → `1.00M`, never `1000.00K`); `B` is the largest unit.
pub fn format_tokens(n: i64) -> String {
    const UNITS: [(u128, char); 3] = [(1_000, 'K'), (1_000_000, 'M'), (1_000_000_000, 'B')];
    let sign = if n < 0 { "-" } else { "" };
    let abs = u128::from(n.unsigned_abs());
    if abs < 1_000 {
        return format!("{sign}{abs}");
    }
    let mut chosen = (0, 'B');
    for (i, (unit, suffix)) in UNITS.iter().enumerate() {
        let hundredths = (abs * 100 + unit / 2) / unit;
        chosen = (hundredths, *suffix);
        if hundredths < 100_000 || i == UNITS.len() - 1 {
            break;
        }
    }
    let (hundredths, suffix) = chosen;
    format!("{sign}{}.{:02}{suffix}", hundredths / 100, hundredths % 100)
}

// ---------------------------------------------------------------------------------------------
// 测试推送功能
// ---------------------------------------------------------------------------------------------

/// A part of `event`'s title.
fn part(event: Event, body: Vec<Block>, footer: Vec<Block>) -> Part {
    Part {
        title: event.title().to_owned(),
        title_style: TitleStyle::Heading,
        body,
        footer,
    }
}

/// The message sent by 测试连接: a short note, whose title the specification writes in bold.
pub fn test_message(now: DateTime<Tz>) -> Message {
    let part = Part {
        title_style: TitleStyle::Bold,
        ..part(
            Event::ConnectionTest,
            vec![Block::text("企业微信机器人连接成功!")],
            Vec::new(),
        )
    };
    Message::new(
        EventData::ConnectionTest(ConnectionTest {}),
        Document::single(part),
        now.fixed_offset(),
    )
}

// ---------------------------------------------------------------------------------------------
// 熔断器告警
// ---------------------------------------------------------------------------------------------

/// A provider's circuit breaker opened.
pub struct CircuitBreakerAlert<'a> {
    pub provider_name: &'a str,
    pub provider_id: i64,
    /// The id its gateway gives it, if a connected gateway reports it.
    pub provider_ref: Option<&'a str>,
    pub failure_count: u32,
    pub recovers_at: DateTime<Tz>,
    pub last_error: Option<&'a str>,
    pub now: DateTime<Tz>,
}

/// Longest error text shown, in characters, before `…`: provider errors can be whole HTML pages.
const LAST_ERROR_MAX_CHARS: usize = 200;

/// The spec's 供应商熔断告警. The line `最后错误` is always present so that every alert has the
/// same shape; without an error (or with a blank one) it reads `最后错误: 无`.
pub fn circuit_breaker_alert(a: &CircuitBreakerAlert) -> Message {
    let shown_error = a.last_error.map(error_text).filter(|e| !e.is_empty());
    let last_error = match &shown_error {
        Some(e) => Block::line(vec![Inline::text("最后错误: "), Inline::code(e.clone())]),
        None => Block::text("最后错误: 无"),
    };
    let body = vec![
        Block::quote(vec![
            Inline::text("供应商 "),
            Inline::bold(one_line(a.provider_name)),
            Inline::text(format!(
                " (ID: {}) 已触发熔断保护",
                shown_id(a.provider_id, a.provider_ref)
            )),
        ]),
        Block::heading("详细信息"),
        Block::text(format!("失败次数: {} 次", a.failure_count)),
        Block::text(format!("预计恢复: {}", time(&a.recovers_at))),
        last_error,
    ];
    let footer = vec![Block::text(format!("{} · 熔断器将在预计时间后自动恢复", time(&a.now)))];
    let data = EventData::CircuitBreakerOpened(CircuitBreakerOpened {
        provider_id: a.provider_id,
        provider_ref: a.provider_ref.map(str::to_owned),
        provider_name: a.provider_name.to_owned(),
        failure_count: a.failure_count,
        recovers_at: a.recovers_at.fixed_offset(),
        last_error: shown_error,
    });
    let document = Document::single(part(Event::CircuitBreakerOpened, body, footer));
    Message::new(data, document, a.now.fixed_offset())
}

/// The id a message shows: the one the gateway that reports the account gives it (what its
/// admins look up there), else Hub Notify's, which is the gateway's own for `/api/v1/usage`.
fn shown_id(id: i64, gateway_ref: Option<&str>) -> String {
    gateway_ref.map_or_else(|| id.to_string(), one_line)
}

/// A name from the gateway on one line (whitespace runs, newlines included, become one space),
/// so the layout holds; what it must not mean on a platform is that platform's to escape.
fn one_line(name: &str) -> String {
    name.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// An error text as shown: one line, at most [`LAST_ERROR_MAX_CHARS`] characters then `…`.
fn error_text(text: &str) -> String {
    let one_line = one_line(text);
    match one_line.char_indices().nth(LAST_ERROR_MAX_CHARS) {
        Some((cut, _)) => format!("{}…", &one_line[..cut]),
        None => one_line,
    }
}

/// A provider's circuit breaker closed again.
pub struct CircuitBreakerRecovery<'a> {
    pub provider_name: &'a str,
    pub provider_id: i64,
    /// The id its gateway gives it, if a connected gateway reports it.
    pub provider_ref: Option<&'a str>,
    pub opened_at: DateTime<Tz>,
    pub now: DateTime<Tz>,
}

/// 供应商熔断恢复: not in the spec; the same frame as the alert, saying how long it lasted.
pub fn circuit_breaker_recovery(r: &CircuitBreakerRecovery) -> Message {
    let open_seconds = (r.now - r.opened_at).num_seconds();
    let body = vec![
        Block::quote(vec![
            Inline::text("供应商 "),
            Inline::bold(one_line(r.provider_name)),
            Inline::text(format!(" (ID: {}) 已恢复正常", shown_id(r.provider_id, r.provider_ref))),
        ]),
        Block::text(format!("熔断时长: {}", format_duration(open_seconds))),
    ];
    let footer = vec![Block::text(format!("{} · 熔断器已关闭,请求恢复正常", time(&r.now)))];
    let data = EventData::CircuitBreakerClosed(CircuitBreakerClosed {
        provider_id: r.provider_id,
        provider_ref: r.provider_ref.map(str::to_owned),
        provider_name: r.provider_name.to_owned(),
        opened_at: r.opened_at.fixed_offset(),
        open_seconds: open_seconds.max(0),
    });
    let document = Document::single(part(Event::CircuitBreakerClosed, body, footer));
    Message::new(data, document, r.now.fixed_offset())
}

/// `45 秒`, `30 分钟`, `2 小时`, `2 小时 5 分钟`; smaller units are truncated, not rounded,
/// so a duration is never overstated. Negative (clock skew) counts as zero.
fn format_duration(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..60 => format!("{s} 秒"),
        60..3600 => format!("{} 分钟", s / 60),
        _ if s % 3600 < 60 => format!("{} 小时", s / 3600),
        _ => format!("{} 小时 {} 分钟", s / 3600, s % 3600 / 60),
    }
}

// ---------------------------------------------------------------------------------------------
// 每日排行榜
// ---------------------------------------------------------------------------------------------

/// One user's usage on the leaderboard's day.
pub struct LeaderboardEntry {
    pub user_id: i64,
    /// The id its gateway gives the user, if a connected gateway reports it.
    pub user_ref: Option<String>,
    pub user_name: String,
    pub cost_usd: Decimal,
    pub requests: i64,
    pub tokens: i64,
}

/// The leaderboard of one day.
pub struct DailyLeaderboard {
    /// The day the usage was counted (the day before sending).
    pub date: NaiveDate,
    /// Already ranked and cut to the top N: rank = index + 1.
    pub entries: Vec<LeaderboardEntry>,
    pub total_requests: i64,
    pub total_cost_usd: Decimal,
    pub now: DateTime<Tz>,
}

/// The spec's 今日用户消费排行榜 (its wording, though it counts the previous day). A day without
/// usage still sends a short message in the same frame, so a quiet day is visible, not skipped.
pub fn daily_leaderboard(b: &DailyLeaderboard) -> Message {
    let entries = b
        .entries
        .iter()
        .enumerate()
        .map(|(i, e)| LeaderboardRank {
            rank: i + 1,
            user_id: e.user_id,
            user_ref: e.user_ref.clone(),
            user_name: e.user_name.clone(),
            cost_usd: usd(e.cost_usd),
            requests: e.requests,
            tokens: e.tokens,
        })
        .collect();
    let data = EventData::DailyLeaderboard(DailyLeaderboardPublished {
        date: b.date,
        entries,
        total_requests: b.total_requests,
        total_cost_usd: usd(b.total_cost_usd),
    });
    let document = Document::single(daily_leaderboard_part(b));
    Message::new(data, document, b.now.fixed_offset())
}

fn daily_leaderboard_part(b: &DailyLeaderboard) -> Part {
    let mut body = vec![Block::quote(vec![
        Inline::text("统计日期: "),
        Inline::bold(b.date.format("%Y-%m-%d").to_string()),
    ])];
    if b.entries.is_empty() {
        body.push(Block::text("当日无用户消费记录"));
        return part(Event::DailyLeaderboard, body, vec![Block::text(time(&b.now))]);
    }
    body.push(Block::heading("排名情况"));
    for (i, e) in b.entries.iter().enumerate() {
        let rank = match i {
            0 => "🥇".to_owned(),
            1 => "🥈".to_owned(),
            2 => "🥉".to_owned(),
            _ => format!("{}.", i + 1),
        };
        body.push(Block::line(vec![
            Inline::text(format!("{rank} ")),
            Inline::bold(one_line(&e.user_name)),
            Inline::text(format!(" (ID: {})", shown_id(e.user_id, e.user_ref.as_deref()))),
        ]));
        body.push(Block::text(format!(
            "消费 {} · 请求 {} 次 · Token {}",
            format_usd(e.cost_usd),
            format_count(e.requests),
            format_tokens(e.tokens)
        )));
    }
    let footer = vec![
        Block::heading("今日总览"),
        Block::text(format!(
            "总请求 {} 次 · 总消费 {}",
            format_count(b.total_requests),
            format_usd(b.total_cost_usd)
        )),
        Block::text(time(&b.now)),
    ];
    part(Event::DailyLeaderboard, body, footer)
}

// ---------------------------------------------------------------------------------------------
// 成本预警
// ---------------------------------------------------------------------------------------------

/// Whose spending reached the threshold.
pub enum CostEntity<'a> {
    User {
        name: &'a str,
    },
    /// An API key, named with its owner.
    Key {
        name: &'a str,
        owner: &'a str,
    },
    Provider {
        name: &'a str,
    },
}

/// The 统计周期 text of a window; a day that is not the calendar day says how it is cut
/// (`今日 (18:00 起)`, `24 小时`).
pub fn window_label(window: UsageWindow, reset: DailyReset) -> String {
    match (window, reset) {
        (UsageWindow::FiveHours, _) => "5 小时".to_owned(),
        (UsageWindow::Day, DailyReset::Rolling) => "24 小时".to_owned(),
        (UsageWindow::Day, DailyReset::Fixed { minute: 0 }) => "今日".to_owned(),
        (UsageWindow::Day, fixed) => format!("今日 ({} 起)", fixed.time_of_day().unwrap_or_default()),
        (UsageWindow::Week, _) => "本周".to_owned(),
        (UsageWindow::Month, _) => "本月".to_owned(),
        (UsageWindow::Total, _) => "累计".to_owned(),
    }
}

fn level_emoji(level: UsageLevel) -> &'static str {
    match level {
        UsageLevel::Green => "🟢",
        UsageLevel::Yellow => "🟡",
        UsageLevel::Red => "🔴",
    }
}

/// Spending of one user or provider over one window, against its limit.
pub struct CostAlert<'a> {
    pub entity: CostEntity<'a>,
    pub window: UsageWindow,
    /// How the day is cut ([`UsageWindow::Day`]).
    pub reset: DailyReset,
    pub current_usd: Decimal,
    pub limit_usd: Decimal,
    pub now: DateTime<Tz>,
}

/// The spec's 成本预警提醒. 使用比例 shows one decimal rounded half away from zero, while the
/// emoji comes from the exact ratio: 89.96 % shows `90.0%` 🟡, the level the cost check also
/// computes, so message and re-alerting never disagree. A non-positive limit (a caller bug) shows
/// `-` 🔴 rather than panicking on the division.
pub fn cost_alert(a: &CostAlert) -> Message {
    cost_alerts(std::slice::from_ref(a))
}

/// Several cost alerts of one check in one message, each a part in the layout of
/// [`cost_alert`]; `data.alerts` has them all, in order.
pub fn cost_alerts(alerts: &[CostAlert]) -> Message {
    let entries: Vec<CostAlertEntry> = alerts.iter().map(cost_alert_entry).collect();
    let data = EventData::CostAlert(CostAlertTriggered {
        count: entries.len(),
        alerts: entries,
    });
    let document = Document {
        parts: alerts.iter().map(cost_alert_part).collect(),
    };
    let at = alerts
        .first()
        .map_or_else(|| chrono::Utc::now().fixed_offset(), |a| a.now.fixed_offset());
    Message::new(data, document, at)
}

/// The shown ratio (one decimal, or `-` for a limit that is not positive) and its level.
fn shown_ratio(a: &CostAlert) -> (Option<Decimal>, UsageLevel) {
    match usage_percent(a.current_usd, a.limit_usd) {
        Some(p) => {
            let mut shown = p.round_dp_with_strategy(1, RoundingStrategy::MidpointAwayFromZero);
            shown.rescale(1);
            (Some(shown), level_of(p))
        }
        None => (None, UsageLevel::Red),
    }
}

fn cost_alert_entry(a: &CostAlert) -> CostAlertEntry {
    let (entity_type, name, owner) = match a.entity {
        CostEntity::User { name } => (EntityType::User, name, None),
        CostEntity::Key { name, owner } => (EntityType::Key, name, Some(owner.to_owned())),
        CostEntity::Provider { name } => (EntityType::Provider, name, None),
    };
    let (percent, level) = shown_ratio(a);
    CostAlertEntry {
        entity_type,
        name: name.to_owned(),
        owner,
        window: a.window,
        window_label: window_label(a.window, a.reset),
        current_usd: usd(a.current_usd),
        limit_usd: usd(a.limit_usd),
        usage_percent: percent.and_then(|p| p.to_string().parse::<f64>().ok()),
        level,
        remaining_usd: usd((a.limit_usd - a.current_usd).max(Decimal::ZERO)),
    }
}

fn cost_alert_part(a: &CostAlert) -> Part {
    let mut lead = match a.entity {
        CostEntity::User { name } => vec![Inline::text("用户 "), Inline::bold(one_line(name))],
        CostEntity::Key { name, owner } => vec![
            Inline::text("用户 "),
            Inline::bold(one_line(owner)),
            Inline::text(" 的密钥 "),
            Inline::bold(one_line(name)),
        ],
        CostEntity::Provider { name } => vec![Inline::text("供应商 "), Inline::bold(one_line(name))],
    };
    lead.push(Inline::text(" 的消费已达到预警阈值"));
    let (percent, level) = shown_ratio(a);
    let percent = percent.map_or_else(|| "-".to_owned(), |p| format!("{p}%"));
    let remaining = (a.limit_usd - a.current_usd).max(Decimal::ZERO);
    let body = vec![
        Block::quote(lead),
        Block::heading("消费详情"),
        Block::text(format!("当前消费: {}", format_usd(a.current_usd))),
        Block::text(format!("配额限制: {}", format_usd(a.limit_usd))),
        Block::line(vec![
            Inline::text("使用比例: "),
            Inline::bold(percent),
            Inline::text(format!(" {}", level_emoji(level))),
        ]),
        Block::text(format!("剩余额度: {}", format_usd(remaining))),
        Block::text(format!("统计周期: {}", window_label(a.window, a.reset))),
    ];
    let footer = vec![Block::text(format!("{} · 请注意控制消费", time(&a.now)))];
    part(Event::CostAlert, body, footer)
}

/// The specification's text of one alert (WeCom's), by which alerts are grouped.
pub fn cost_alert_text(a: &CostAlert) -> String {
    crate::channels::wecom::markdown(&cost_alert(a))
}

// ---------------------------------------------------------------------------------------------
// Several messages in one
// ---------------------------------------------------------------------------------------------

/// Groups messages, in order, into as few as fit `limit_bytes` each once joined by
/// [`PART_SEPARATOR`]: a WeCom robot takes 20 messages a minute, so twenty alerts of one check
/// must not be twenty messages. A message longer than the limit on its own is a group of one.
pub fn group_messages(messages: &[&str], limit_bytes: usize) -> Vec<std::ops::Range<usize>> {
    let mut groups = Vec::new();
    let mut start = 0;
    let mut size = 0;
    for (i, m) in messages.iter().enumerate() {
        if i > start && size + PART_SEPARATOR.len() + m.len() > limit_bytes {
            groups.push(start..i);
            start = i;
            size = 0;
        }
        size += if i > start { PART_SEPARATOR.len() } else { 0 } + m.len();
    }
    if start < messages.len() {
        groups.push(start..messages.len());
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use chrono_tz::Asia::Shanghai;
    use serde_json::{json, Value};

    /// The specification's text of a message: WeCom's rendering.
    fn md(message: &Message) -> String {
        crate::channels::wecom::markdown(message)
    }
    use std::str::FromStr;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Tz> {
        Shanghai.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
    }

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    /// Fixtures are the spec's lines verbatim; a trailing newline (editors add one) is ignored.
    fn golden(text: &str) -> &str {
        text.strip_suffix('\n').unwrap_or(text)
    }

    // --- formatting helpers ---

    #[test]
    fn counts_have_thousands_separators() {
        assert_eq!(format_count(0), "0");
        assert_eq!(format_count(999), "999");
        assert_eq!(format_count(1_000), "1,000");
        assert_eq!(format_count(1_234), "1,234");
        assert_eq!(format_count(999_999), "999,999");
        assert_eq!(format_count(1_234_567), "1,234,567");
        assert_eq!(format_count(-1_234), "-1,234");
        assert_eq!(format_count(i64::MIN), "-9,223,372,036,854,775,808");
    }

    #[test]
    fn tokens_use_units_and_never_show_1000_of_a_unit() {
        assert_eq!(format_tokens(0), "0");
        assert_eq!(format_tokens(999), "999");
        assert_eq!(format_tokens(1_000), "1.00K");
        assert_eq!(format_tokens(12_345), "12.35K");
        assert_eq!(format_tokens(12_344), "12.34K");
        assert_eq!(format_tokens(999_994), "999.99K");
        assert_eq!(format_tokens(999_995), "1.00M");
        assert_eq!(format_tokens(999_999), "1.00M");
        assert_eq!(format_tokens(1_000_000), "1.00M");
        assert_eq!(format_tokens(2_450_000), "2.45M");
        assert_eq!(format_tokens(999_995_000), "1.00B");
        assert_eq!(format_tokens(1_000_000_000), "1.00B");
        assert_eq!(format_tokens(1_234_000_000_000), "1234.00B");
        assert_eq!(format_tokens(i64::MAX), "9223372036.85B");
        assert_eq!(format_tokens(-1_500), "-1.50K");
        assert_eq!(format_tokens(-999), "-999");
        assert_eq!(format_tokens(i64::MIN), "-9223372036.85B");
    }

    // --- 测试推送功能 ---

    #[test]
    fn test_message_matches_the_spec() {
        assert_eq!(
            md(&test_message(at(2025, 1, 15, 14, 0, 0))).as_bytes(),
            golden(include_str!("../../tests/golden/test_message.md")).as_bytes()
        );
    }

    // --- 熔断器告警 ---

    fn spec_breaker_alert(last_error: Option<&str>) -> CircuitBreakerAlert<'_> {
        CircuitBreakerAlert {
            provider_name: "Anthropic 官方",
            provider_id: 1,
            provider_ref: None,
            failure_count: 5,
            recovers_at: at(2025, 1, 15, 14, 30, 0),
            last_error,
            now: at(2025, 1, 15, 14, 0, 0),
        }
    }

    #[test]
    fn circuit_breaker_alert_matches_the_spec() {
        let a = spec_breaker_alert(Some("rate_limit_exceeded: You have exceeded your rate limit"));
        assert_eq!(
            md(&circuit_breaker_alert(&a)).as_bytes(),
            golden(include_str!("../../tests/golden/circuit_breaker.md")).as_bytes()
        );
    }

    fn last_error_line(last_error: Option<&str>) -> String {
        let text = md(&circuit_breaker_alert(&spec_breaker_alert(last_error)));
        text.lines().find(|l| l.starts_with("最后错误")).unwrap().to_owned()
    }

    #[test]
    fn missing_or_blank_last_error_reads_none() {
        assert_eq!(last_error_line(None), "最后错误: 无");
        assert_eq!(last_error_line(Some(" \n\t ")), "最后错误: 无");
    }

    #[test]
    fn last_error_is_one_line_without_backticks() {
        assert_eq!(
            last_error_line(Some("  upstream said:\n\n  `bad`\r\n\tgateway  ")),
            "最后错误: `upstream said: 'bad' gateway`"
        );
    }

    #[test]
    fn last_error_is_cut_at_200_characters() {
        let exact = "错".repeat(200);
        assert_eq!(last_error_line(Some(&exact)), format!("最后错误: `{exact}`"));
        let long = format!("{exact}多");
        assert_eq!(last_error_line(Some(&long)), format!("最后错误: `{exact}…`"));
    }

    #[test]
    fn circuit_breaker_recovery_says_how_long_it_was_open() {
        let r = CircuitBreakerRecovery {
            provider_name: "Anthropic 官方",
            provider_id: 1,
            provider_ref: None,
            opened_at: at(2025, 1, 15, 14, 0, 0),
            now: at(2025, 1, 15, 14, 30, 0),
        };
        assert_eq!(
            md(&circuit_breaker_recovery(&r)),
            "## 供应商熔断恢复\n\
             > 供应商 **Anthropic 官方** (ID: 1) 已恢复正常\n\
             熔断时长: 30 分钟\n\
             ---\n\
             2025-01-15 14:30:00 · 熔断器已关闭,请求恢复正常"
        );
    }

    #[test]
    fn durations_are_humanised_and_truncated() {
        assert_eq!(format_duration(-5), "0 秒");
        assert_eq!(format_duration(0), "0 秒");
        assert_eq!(format_duration(59), "59 秒");
        assert_eq!(format_duration(60), "1 分钟");
        assert_eq!(format_duration(119), "1 分钟");
        assert_eq!(format_duration(3_599), "59 分钟");
        assert_eq!(format_duration(3_600), "1 小时");
        assert_eq!(format_duration(3_659), "1 小时");
        assert_eq!(format_duration(3_660), "1 小时 1 分钟");
        assert_eq!(format_duration(50 * 3_600 + 5 * 60), "50 小时 5 分钟");
    }

    /// An account a connected gateway reports is named by the id it has there, which its
    /// admins can look up; the data keeps Hub Notify's id beside it.
    #[test]
    fn a_gateways_account_shows_the_gateways_id() {
        let mut a = spec_breaker_alert(None);
        a.provider_id = 1_000_000_000_007;
        a.provider_ref = Some("claude-sonnet-eu");
        let alert = circuit_breaker_alert(&a);
        assert_eq!(
            md(&alert).lines().nth(1),
            Some("> 供应商 **Anthropic 官方** (ID: claude-sonnet-eu) 已触发熔断保护")
        );
        let data = alert.data.to_map();
        assert_eq!(
            (&data["providerId"], &data["providerRef"]),
            (
                &serde_json::json!(1_000_000_000_007_i64),
                &serde_json::json!("claude-sonnet-eu")
            )
        );
        assert!(
            !circuit_breaker_alert(&spec_breaker_alert(None))
                .data
                .to_map()
                .contains_key("providerRef"),
            "an account of Hub Notify's own has no other id"
        );

        let mut e = entry(1_000_000_000_003, "张三", "1", 1, 1);
        e.user_ref = Some("42".into());
        let board = daily_leaderboard(&DailyLeaderboard {
            date: NaiveDate::from_ymd_opt(2025, 1, 14).unwrap(),
            entries: vec![e],
            total_requests: 1,
            total_cost_usd: dec("1"),
            now: at(2025, 1, 15, 9, 0, 0),
        });
        assert!(md(&board).contains("🥇 **张三** (ID: 42)\n"), "{}", md(&board));
    }

    // --- 每日排行榜 ---

    #[test]
    fn names_cannot_break_the_layout() {
        let name = |n: &str| {
            let text = md(&cost_alert(&spec_cost_alert(CostEntity::User { name: n }, "9", "10")));
            text.lines().nth(1).unwrap().to_owned()
        };
        assert_eq!(name("a**b\n  c`d"), "> 用户 **a＊＊b c'd** 的消费已达到预警阈值");
        assert_eq!(name("Anthropic 官方"), "> 用户 **Anthropic 官方** 的消费已达到预警阈值");
    }

    fn entry(user_id: i64, user_name: &str, cost: &str, requests: i64, tokens: i64) -> LeaderboardEntry {
        LeaderboardEntry {
            user_id,
            user_ref: None,
            user_name: user_name.to_owned(),
            cost_usd: dec(cost),
            requests,
            tokens,
        }
    }

    // The specification's example, byte for byte: `notifications::samples` (one copy of its data).

    #[test]
    fn ranks_after_the_podium_are_numbered() {
        let b = DailyLeaderboard {
            date: NaiveDate::from_ymd_opt(2025, 1, 14).unwrap(),
            entries: vec![
                entry(1, "a", "5", 5, 5),
                entry(2, "b", "4", 4, 4),
                entry(3, "c", "3", 3, 3),
                entry(4, "d", "2", 2, 12_345),
                entry(5, "e", "1", 1_000, 999),
            ],
            total_requests: 1_014,
            total_cost_usd: dec("15"),
            now: at(2025, 1, 15, 9, 0, 0),
        };
        let text = md(&daily_leaderboard(&b));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[9], "4. **d** (ID: 4)");
        assert_eq!(lines[10], "消费 $2.0000 · 请求 2 次 · Token 12.35K");
        assert_eq!(lines[11], "5. **e** (ID: 5)");
        assert_eq!(lines[12], "消费 $1.0000 · 请求 1,000 次 · Token 999");
        assert_eq!(lines[15], "总请求 1,014 次 · 总消费 $15.0000");
    }

    #[test]
    fn a_day_without_usage_still_sends_a_message() {
        let b = DailyLeaderboard {
            date: NaiveDate::from_ymd_opt(2025, 1, 14).unwrap(),
            entries: vec![],
            total_requests: 0,
            total_cost_usd: Decimal::ZERO,
            now: at(2025, 1, 15, 9, 0, 0),
        };
        assert_eq!(
            md(&daily_leaderboard(&b)),
            "## 今日用户消费排行榜\n\
             > 统计日期: **2025-01-14**\n\
             当日无用户消费记录\n\
             ---\n\
             2025-01-15 09:00:00"
        );
    }

    // --- 成本预警 ---

    fn spec_cost_alert<'a>(entity: CostEntity<'a>, current: &str, limit: &str) -> CostAlert<'a> {
        CostAlert {
            entity,
            window: UsageWindow::Week,
            reset: DailyReset::MIDNIGHT,
            current_usd: dec(current),
            limit_usd: dec(limit),
            now: at(2025, 1, 15, 10, 30, 0),
        }
    }

    #[test]
    fn messages_are_grouped_in_order_within_the_limit() {
        let sizes = |groups: &[std::ops::Range<usize>], m: &[&str]| -> Vec<usize> {
            groups.iter().map(|g| m[g.clone()].join(PART_SEPARATOR).len()).collect()
        };
        let m = [
            "a".repeat(40),
            "b".repeat(40),
            "c".repeat(40),
            "d".repeat(150),
            "e".repeat(10),
        ];
        let m: Vec<&str> = m.iter().map(String::as_str).collect();
        // 40 + 2 + 40 = 82 fits 100; a third would make 124.
        assert_eq!(group_messages(&m, 100), vec![0..2, 2..3, 3..4, 4..5]);
        assert_eq!(sizes(&group_messages(&m, 100), &m), vec![82, 40, 150, 10]);
        assert_eq!(group_messages(&m, 124), vec![0..3, 3..4, 4..5]);
        assert_eq!(group_messages(&m, 10_000), vec![0..5]);
        assert_eq!(group_messages(&[], 100), Vec::<std::ops::Range<usize>>::new());
        // Every group of real alerts fits WeCom's limit.
        let alerts: Vec<String> = (0..40)
            .map(|i| {
                md(&cost_alert(&spec_cost_alert(
                    CostEntity::User {
                        name: &format!("用户{i}"),
                    },
                    "9",
                    "10",
                )))
            })
            .collect();
        let alerts: Vec<&str> = alerts.iter().map(String::as_str).collect();
        let groups = group_messages(&alerts, crate::channels::wecom::MAX_CONTENT_BYTES);
        assert!(groups.len() > 1 && groups.len() < 10, "{groups:?}");
        assert_eq!(groups.iter().map(|g| g.len()).sum::<usize>(), 40);
        assert!(sizes(&groups, &alerts)
            .iter()
            .all(|&n| n <= crate::channels::wecom::MAX_CONTENT_BYTES));
    }

    #[test]
    fn cost_alert_matches_the_spec() {
        let a = spec_cost_alert(CostEntity::User { name: "张三" }, "8.5", "10");
        assert_eq!(
            md(&cost_alert(&a)).as_bytes(),
            golden(include_str!("../../tests/golden/cost_alert.md")).as_bytes()
        );
    }

    #[test]
    fn provider_cost_alert_names_the_provider() {
        let a = spec_cost_alert(
            CostEntity::Provider {
                name: "Anthropic 官方"
            },
            "8.5",
            "10",
        );
        assert_eq!(
            md(&cost_alert(&a)).lines().nth(1),
            Some("> 供应商 **Anthropic 官方** 的消费已达到预警阈值")
        );
    }

    #[test]
    fn key_cost_alert_names_the_key_and_its_owner() {
        let mut a = spec_cost_alert(
            CostEntity::Key {
                name: "ci-bot",
                owner: "张三",
            },
            "8.5",
            "10",
        );
        a.window = UsageWindow::Day;
        a.reset = DailyReset::Fixed { minute: 18 * 60 };
        let message = cost_alert(&a);
        assert_eq!(
            md(&message).as_bytes(),
            golden(include_str!("../../tests/golden/cost_alert_key.md")).as_bytes()
        );
        let data = message.data.to_map();
        assert_eq!(data["alerts"][0]["entityType"], "key");
        assert_eq!(data["alerts"][0]["owner"], "张三");
        assert_eq!(data["alerts"][0]["windowLabel"], "今日 (18:00 起)");
    }

    fn ratio_and_remaining(current: &str, limit: &str) -> (String, String) {
        let text = md(&cost_alert(&spec_cost_alert(
            CostEntity::User { name: "x" },
            current,
            limit,
        )));
        let line = |prefix: &str| text.lines().find(|l| l.starts_with(prefix)).unwrap().to_owned();
        (line("使用比例"), line("剩余额度"))
    }

    #[test]
    fn ratio_is_rounded_for_display_but_the_level_uses_the_exact_ratio() {
        assert_eq!(ratio_and_remaining("79.99", "100").0, "使用比例: **80.0%** 🟢");
        assert_eq!(ratio_and_remaining("80", "100").0, "使用比例: **80.0%** 🟡");
        assert_eq!(ratio_and_remaining("89.96", "100").0, "使用比例: **90.0%** 🟡");
        assert_eq!(ratio_and_remaining("90", "100").0, "使用比例: **90.0%** 🔴");
        // Half away from zero: 12.25 → 12.3 (banker's would give 12.2).
        assert_eq!(ratio_and_remaining("12.25", "100").0, "使用比例: **12.3%** 🟢");
        assert_eq!(ratio_and_remaining("1", "3").0, "使用比例: **33.3%** 🟢");
        assert_eq!(ratio_and_remaining("0", "10").0, "使用比例: **0.0%** 🟢");
    }

    #[test]
    fn spending_over_the_limit_leaves_nothing() {
        assert_eq!(
            ratio_and_remaining("12.5", "10"),
            ("使用比例: **125.0%** 🔴".to_owned(), "剩余额度: $0.0000".to_owned())
        );
    }

    #[test]
    fn a_non_positive_limit_does_not_panic() {
        assert_eq!(
            ratio_and_remaining("1", "0"),
            ("使用比例: **-** 🔴".to_owned(), "剩余额度: $0.0000".to_owned())
        );
    }

    #[test]
    fn messages_carry_their_facts_as_data() {
        let alert = circuit_breaker_alert(&spec_breaker_alert(None));
        assert_eq!(alert.event(), Event::CircuitBreakerOpened);
        assert_eq!(
            Value::Object(alert.data.to_map()),
            json!({"providerId": 1, "providerName": "Anthropic 官方", "failureCount": 5,
                "recoversAt": "2025-01-15T14:30:00+08:00", "lastError": null})
        );
        assert_eq!(alert.at.to_rfc3339(), "2025-01-15T14:00:00+08:00");
        let two = [
            spec_cost_alert(CostEntity::User { name: "张三" }, "8.5", "10"),
            spec_cost_alert(CostEntity::Provider { name: "P" }, "12.5", "10"),
        ];
        let grouped = cost_alerts(&two);
        assert_eq!(
            md(&grouped),
            format!(
                "{}{PART_SEPARATOR}{}",
                cost_alert_text(&two[0]),
                cost_alert_text(&two[1])
            )
        );
        let data = grouped.data.to_map();
        assert_eq!(data["count"], 2);
        assert_eq!(
            data["alerts"][0],
            json!({"entityType": "user", "name": "张三", "window": "week", "windowLabel": "本周",
                "currentUsd": "8.5000", "limitUsd": "10.0000", "usagePercent": 85.0, "level": "yellow",
                "remainingUsd": "1.5000"})
        );
        assert_eq!(data["alerts"][1]["level"], "red");
        assert_eq!(data["alerts"][1]["remainingUsd"], "0.0000");
    }

    #[test]
    fn window_labels() {
        let labels = UsageWindow::ALL.map(|w| window_label(w, DailyReset::MIDNIGHT));
        assert_eq!(labels, ["5 小时", "今日", "本周", "本月", "累计"]);
        assert_eq!(window_label(UsageWindow::Day, DailyReset::Rolling), "24 小时");
        assert_eq!(
            window_label(UsageWindow::Day, DailyReset::Fixed { minute: 9 * 60 + 5 }),
            "今日 (09:05 起)"
        );
        // The reset cuts only the day.
        assert_eq!(window_label(UsageWindow::Week, DailyReset::Rolling), "本周");
    }
}
