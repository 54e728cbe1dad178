//! Message templates: pure functions from data to a [`Message`]: the WeCom markdown, tested byte
//! for byte against the examples of the specification (`server/tests/golden/*.md`), and the same
//! facts as data (the signed-webhook event's `data`, the custom templates' placeholders).
//!
//! Every message is the spec's lines joined with `\n`, without a trailing newline. Times are
//! rendered as given: callers pass them already in APP_TIMEZONE. Templates return the full text;
//! each channel cuts it to its platform's limit.

use app::usage::{DailyReset, UsageLevel, UsageWindow};
use chrono::{DateTime, NaiveDate};
use chrono_tz::Tz;
use rust_decimal::{Decimal, RoundingStrategy};

use serde_json::{json, Map, Value};

use crate::channels::message::{Event, Message};
use crate::usage::spending::{format_usd, level_of, usage_percent};

/// `data` of a message: the object `value` holds.
fn data(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// An amount in data: the message's 4 decimals, as a string (no float rounds it).
fn usd(amount: Decimal) -> String {
    format_usd(amount).replacen('$', "", 1)
}

/// A time in data: RFC 3339 with `APP_TIMEZONE`'s offset.
fn rfc3339(t: &DateTime<Tz>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

/// The one timestamp format of every message (`2025-01-15 14:00:00`).
const TIME_FORMAT: &str = "%Y-%m-%d %H:%M:%S";

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

/// The message sent by 测试连接.
pub fn test_message(now: DateTime<Tz>) -> Message {
    Message::new(
        Event::ConnectionTest,
        "**测试消息**\n企业微信机器人连接成功!".to_owned(),
        Map::new(),
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
    let shown_error = a.last_error.map(inline_code).filter(|e| !e.is_empty());
    let last_error = match &shown_error {
        Some(e) => format!("`{e}`"),
        None => "无".to_owned(),
    };
    let markdown = [
        "## 供应商熔断告警".to_owned(),
        format!(
            "> 供应商 **{}** (ID: {}) 已触发熔断保护",
            bold_safe(a.provider_name),
            a.provider_id
        ),
        "**详细信息**".to_owned(),
        format!("失败次数: {} 次", a.failure_count),
        format!("预计恢复: {}", time(&a.recovers_at)),
        format!("最后错误: {last_error}"),
        "---".to_owned(),
        format!("{} · 熔断器将在预计时间后自动恢复", time(&a.now)),
    ]
    .join("\n");
    let data = data(json!({
        "providerId": a.provider_id,
        "providerName": a.provider_name,
        "failureCount": a.failure_count,
        "recoversAt": rfc3339(&a.recovers_at),
        "lastError": shown_error,
    }));
    Message::new(Event::CircuitBreakerOpened, markdown, data, a.now.fixed_offset())
}

/// A name from the gateway inside `**…**`: one line, and no `*` or backtick that would end the
/// bold early or open code (full-width look-alikes instead), so the layout holds.
fn bold_safe(name: &str) -> String {
    name.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('*', "＊")
        .replace('`', "'")
}

/// Makes arbitrary text safe inside one markdown inline code span: one line (whitespace runs,
/// newlines included, become one space), no backticks (they would close the span: `'` instead),
/// at most [`LAST_ERROR_MAX_CHARS`] characters then `…`.
fn inline_code(text: &str) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ").replace('`', "'");
    match one_line.char_indices().nth(LAST_ERROR_MAX_CHARS) {
        Some((cut, _)) => format!("{}…", &one_line[..cut]),
        None => one_line,
    }
}

/// A provider's circuit breaker closed again.
pub struct CircuitBreakerRecovery<'a> {
    pub provider_name: &'a str,
    pub provider_id: i64,
    pub opened_at: DateTime<Tz>,
    pub now: DateTime<Tz>,
}

/// 供应商熔断恢复: not in the spec; the same frame as the alert, saying how long it lasted.
pub fn circuit_breaker_recovery(r: &CircuitBreakerRecovery) -> Message {
    let open_seconds = (r.now - r.opened_at).num_seconds();
    let markdown = [
        "## 供应商熔断恢复".to_owned(),
        format!(
            "> 供应商 **{}** (ID: {}) 已恢复正常",
            bold_safe(r.provider_name),
            r.provider_id
        ),
        format!("熔断时长: {}", format_duration(open_seconds)),
        "---".to_owned(),
        format!("{} · 熔断器已关闭,请求恢复正常", time(&r.now)),
    ]
    .join("\n");
    let data = data(json!({
        "providerId": r.provider_id,
        "providerName": r.provider_name,
        "openedAt": rfc3339(&r.opened_at),
        "openSeconds": open_seconds.max(0),
    }));
    Message::new(Event::CircuitBreakerClosed, markdown, data, r.now.fixed_offset())
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
    let entries: Vec<Value> = b
        .entries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            json!({
                "rank": i + 1,
                "userId": e.user_id,
                "userName": e.user_name,
                "costUsd": usd(e.cost_usd),
                "requests": e.requests,
                "tokens": e.tokens,
            })
        })
        .collect();
    let data = data(json!({
        "date": b.date.format("%Y-%m-%d").to_string(),
        "entries": entries,
        "totalRequests": b.total_requests,
        "totalCostUsd": usd(b.total_cost_usd),
    }));
    Message::new(
        Event::DailyLeaderboard,
        daily_leaderboard_text(b),
        data,
        b.now.fixed_offset(),
    )
}

fn daily_leaderboard_text(b: &DailyLeaderboard) -> String {
    let mut lines = vec![
        "## 今日用户消费排行榜".to_owned(),
        format!("> 统计日期: **{}**", b.date.format("%Y-%m-%d")),
    ];
    if b.entries.is_empty() {
        lines.push("当日无用户消费记录".to_owned());
        lines.push("---".to_owned());
        lines.push(time(&b.now));
        return lines.join("\n");
    }
    lines.push("**排名情况**".to_owned());
    for (i, e) in b.entries.iter().enumerate() {
        let rank = match i {
            0 => "🥇".to_owned(),
            1 => "🥈".to_owned(),
            2 => "🥉".to_owned(),
            _ => format!("{}.", i + 1),
        };
        lines.push(format!("{rank} **{}** (ID: {})", bold_safe(&e.user_name), e.user_id));
        lines.push(format!(
            "消费 {} · 请求 {} 次 · Token {}",
            format_usd(e.cost_usd),
            format_count(e.requests),
            format_tokens(e.tokens)
        ));
    }
    lines.push("---".to_owned());
    lines.push("**今日总览**".to_owned());
    lines.push(format!(
        "总请求 {} 次 · 总消费 {}",
        format_count(b.total_requests),
        format_usd(b.total_cost_usd)
    ));
    lines.push(time(&b.now));
    lines.join("\n")
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

/// Several cost alerts of one check in one message, each in the layout of [`cost_alert`],
/// separated by [`MESSAGE_SEPARATOR`]; `data.alerts` has them all, in order.
pub fn cost_alerts(alerts: &[CostAlert]) -> Message {
    let markdown = alerts
        .iter()
        .map(cost_alert_text)
        .collect::<Vec<_>>()
        .join(MESSAGE_SEPARATOR);
    let entries: Vec<Value> = alerts.iter().map(cost_alert_data).collect();
    let data = data(json!({"count": entries.len(), "alerts": entries}));
    let at = alerts
        .first()
        .map_or_else(|| chrono::Utc::now().fixed_offset(), |a| a.now.fixed_offset());
    Message::new(Event::CostAlert, markdown, data, at)
}

fn cost_alert_data(a: &CostAlert) -> Value {
    let (entity_type, name, owner) = match a.entity {
        CostEntity::User { name } => ("user", name, None),
        CostEntity::Key { name, owner } => ("key", name, Some(owner)),
        CostEntity::Provider { name } => ("provider", name, None),
    };
    let percent = usage_percent(a.current_usd, a.limit_usd);
    let level = percent.map_or(UsageLevel::Red, level_of);
    let mut entry = json!({
        "entityType": entity_type,
        "name": name,
        "window": a.window.key(),
        "windowLabel": window_label(a.window, a.reset),
        "currentUsd": usd(a.current_usd),
        "limitUsd": usd(a.limit_usd),
        "usagePercent": percent
            .map(|p| p.round_dp_with_strategy(1, RoundingStrategy::MidpointAwayFromZero))
            .and_then(|p| p.to_string().parse::<f64>().ok()),
        "level": match level {
            UsageLevel::Green => "green",
            UsageLevel::Yellow => "yellow",
            UsageLevel::Red => "red",
        },
        "remainingUsd": usd((a.limit_usd - a.current_usd).max(Decimal::ZERO)),
    });
    if let Some(owner) = owner {
        entry["owner"] = json!(owner);
    }
    entry
}

/// The text of one alert.
pub fn cost_alert_text(a: &CostAlert) -> String {
    let who = match a.entity {
        CostEntity::User { name } => format!("用户 **{}**", bold_safe(name)),
        CostEntity::Key { name, owner } => format!("用户 **{}** 的密钥 **{}**", bold_safe(owner), bold_safe(name)),
        CostEntity::Provider { name } => format!("供应商 **{}**", bold_safe(name)),
    };
    let (percent, level) = match usage_percent(a.current_usd, a.limit_usd) {
        Some(p) => {
            let mut shown = p.round_dp_with_strategy(1, RoundingStrategy::MidpointAwayFromZero);
            shown.rescale(1);
            (format!("{shown}%"), level_of(p))
        }
        None => ("-".to_owned(), UsageLevel::Red),
    };
    let remaining = (a.limit_usd - a.current_usd).max(Decimal::ZERO);
    [
        "## 成本预警提醒".to_owned(),
        format!("> {who} 的消费已达到预警阈值"),
        "**消费详情**".to_owned(),
        format!("当前消费: {}", format_usd(a.current_usd)),
        format!("配额限制: {}", format_usd(a.limit_usd)),
        format!("使用比例: **{percent}** {}", level_emoji(level)),
        format!("剩余额度: {}", format_usd(remaining)),
        format!("统计周期: {}", window_label(a.window, a.reset)),
        "---".to_owned(),
        format!("{} · 请注意控制消费", time(&a.now)),
    ]
    .join("\n")
}

// ---------------------------------------------------------------------------------------------
// Several messages in one
// ---------------------------------------------------------------------------------------------

/// Between messages sent together: a blank line, so each keeps its own layout.
pub const MESSAGE_SEPARATOR: &str = "\n\n";

/// Groups messages, in order, into as few as fit `limit_bytes` each once joined by
/// [`MESSAGE_SEPARATOR`]: a WeCom robot takes 20 messages a minute, so twenty alerts of one check
/// must not be twenty messages. A message longer than the limit on its own is a group of one.
pub fn group_messages(messages: &[&str], limit_bytes: usize) -> Vec<std::ops::Range<usize>> {
    let mut groups = Vec::new();
    let mut start = 0;
    let mut size = 0;
    for (i, m) in messages.iter().enumerate() {
        if i > start && size + MESSAGE_SEPARATOR.len() + m.len() > limit_bytes {
            groups.push(start..i);
            start = i;
            size = 0;
        }
        size += if i > start { MESSAGE_SEPARATOR.len() } else { 0 } + m.len();
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
            test_message(at(2025, 1, 15, 14, 0, 0)).markdown.as_bytes(),
            golden(include_str!("../../tests/golden/test_message.md")).as_bytes()
        );
    }

    // --- 熔断器告警 ---

    fn spec_breaker_alert(last_error: Option<&str>) -> CircuitBreakerAlert<'_> {
        CircuitBreakerAlert {
            provider_name: "Anthropic 官方",
            provider_id: 1,
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
            circuit_breaker_alert(&a).markdown.as_bytes(),
            golden(include_str!("../../tests/golden/circuit_breaker.md")).as_bytes()
        );
    }

    fn last_error_line(last_error: Option<&str>) -> String {
        let text = circuit_breaker_alert(&spec_breaker_alert(last_error)).markdown;
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
            opened_at: at(2025, 1, 15, 14, 0, 0),
            now: at(2025, 1, 15, 14, 30, 0),
        };
        assert_eq!(
            circuit_breaker_recovery(&r).markdown,
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

    // --- 每日排行榜 ---

    #[test]
    fn names_cannot_break_the_layout() {
        assert_eq!(bold_safe("a**b\n  c`d"), "a＊＊b c'd");
        assert_eq!(bold_safe("Anthropic 官方"), "Anthropic 官方");
    }

    fn entry(user_id: i64, user_name: &str, cost: &str, requests: i64, tokens: i64) -> LeaderboardEntry {
        LeaderboardEntry {
            user_id,
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
        let text = daily_leaderboard(&b).markdown;
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
            daily_leaderboard(&b).markdown,
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
            groups
                .iter()
                .map(|g| m[g.clone()].join(MESSAGE_SEPARATOR).len())
                .collect()
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
                cost_alert(&spec_cost_alert(
                    CostEntity::User {
                        name: &format!("用户{i}"),
                    },
                    "9",
                    "10",
                ))
                .markdown
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
            cost_alert(&a).markdown.as_bytes(),
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
            cost_alert(&a).markdown.lines().nth(1),
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
            message.markdown.as_bytes(),
            golden(include_str!("../../tests/golden/cost_alert_key.md")).as_bytes()
        );
        assert_eq!(message.data["alerts"][0]["entityType"], "key");
        assert_eq!(message.data["alerts"][0]["owner"], "张三");
        assert_eq!(message.data["alerts"][0]["windowLabel"], "今日 (18:00 起)");
    }

    fn ratio_and_remaining(current: &str, limit: &str) -> (String, String) {
        let text = cost_alert(&spec_cost_alert(CostEntity::User { name: "x" }, current, limit)).markdown;
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
        assert_eq!(alert.event, Event::CircuitBreakerOpened);
        assert_eq!(
            Value::Object(alert.data),
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
            grouped.markdown,
            format!(
                "{}{MESSAGE_SEPARATOR}{}",
                cost_alert_text(&two[0]),
                cost_alert_text(&two[1])
            )
        );
        assert_eq!(grouped.data["count"], 2);
        assert_eq!(
            grouped.data["alerts"][0],
            json!({"entityType": "user", "name": "张三", "window": "week", "windowLabel": "本周",
                "currentUsd": "8.5000", "limitUsd": "10.0000", "usagePercent": 85.0, "level": "yellow",
                "remainingUsd": "1.5000"})
        );
        assert_eq!(grouped.data["alerts"][1]["level"], "red");
        assert_eq!(grouped.data["alerts"][1]["remainingUsd"], "0.0000");
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
