//! The channels' golden files hold what the code produced when they were blessed; these checks
//! hold each channel's golden circuit-breaker alert against a body written here by hand from the
//! specification's example and the platform's own documentation, so that a golden file cannot
//! drift with the code unnoticed. The example (`server/tests/golden/circuit_breaker.md`):
//!
//! ```text
//! ## 供应商熔断告警
//! > 供应商 **Anthropic 官方** (ID: 1) 已触发熔断保护
//! **详细信息**
//! 失败次数: 5 次
//! 预计恢复: 2025-01-15 14:30:00
//! 最后错误: `rate_limit_exceeded: You have exceeded your rate limit`
//! ---
//! 2025-01-15 14:00:00 · 熔断器将在预计时间后自动恢复
//! ```
#![allow(clippy::unwrap_used)] // a panic is the test's failure report

use serde_json::{json, Value};

fn golden(channel: &str) -> Value {
    let path = format!(
        "{}/tests/golden/channels/{channel}/circuit_breaker.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

const TIME_LINE: &str = "2025-01-15 14:00:00 · 熔断器将在预计时间后自动恢复";

/// WeCom's markdown message (`msgtype` markdown, `markdown.content`): the specification's example
/// byte for byte, as its 请求格式说明 shows it.
#[test]
fn wecom_sends_the_specifications_markdown() {
    let content = "## 供应商熔断告警\n\
                   > 供应商 **Anthropic 官方** (ID: 1) 已触发熔断保护\n\
                   **详细信息**\n\
                   失败次数: 5 次\n\
                   预计恢复: 2025-01-15 14:30:00\n\
                   最后错误: `rate_limit_exceeded: You have exceeded your rate limit`\n\
                   ---\n\
                   2025-01-15 14:00:00 · 熔断器将在预计时间后自动恢复";
    assert_eq!(
        golden("wecom"),
        json!({"msgtype": "markdown", "markdown": {"content": content}})
    );
}

/// A Feishu custom bot's message card (`msg_type` interactive): the heading as the card's header
/// (red: an alert), the body as a `markdown` element — whose syntax has no quotes, so the quote
/// mark goes and its text stays — the rule as an `hr`, the time line as a `note`.
#[test]
fn feishu_sends_an_interactive_card() {
    let body = "供应商 **Anthropic 官方** (ID: 1) 已触发熔断保护\n\
                **详细信息**\n\
                失败次数: 5 次\n\
                预计恢复: 2025-01-15 14:30:00\n\
                最后错误: `rate_limit_exceeded: You have exceeded your rate limit`";
    assert_eq!(
        golden("feishu"),
        json!({
            "msg_type": "interactive",
            "card": {
                "config": {"wide_screen_mode": true},
                "header": {"template": "red", "title": {"tag": "plain_text", "content": "供应商熔断告警"}},
                "elements": [
                    {"tag": "markdown", "content": body},
                    {"tag": "hr"},
                    {"tag": "note", "elements": [{"tag": "plain_text", "content": TIME_LINE}]}
                ]
            }
        })
    );
}

/// A DingTalk robot's markdown message: `title` (what the chat list shows) and `text`. DingTalk
/// joins lines that do not end in a hard break (two spaces), a quote takes in every line after
/// it up to a blank line, and a rule stands between blank lines.
#[test]
fn dingtalk_sends_markdown_with_hard_breaks() {
    let text = "## 供应商熔断告警\n\
                > 供应商 **Anthropic 官方** (ID: 1) 已触发熔断保护\n\
                \n\
                **详细信息**  \n\
                失败次数: 5 次  \n\
                预计恢复: 2025-01-15 14:30:00  \n\
                最后错误: `rate_limit_exceeded: You have exceeded your rate limit`\n\
                \n\
                ---\n\
                \n\
                2025-01-15 14:00:00 · 熔断器将在预计时间后自动恢复";
    assert_eq!(
        golden("dingtalk"),
        json!({"msgtype": "markdown", "markdown": {"title": "供应商熔断告警", "text": text}})
    );
}

/// Slack's Block Kit: a `header` (plain text), the body as a `mrkdwn` section (bold is `*one
/// star*` there), a `divider`, the time line as `context`; `text` is what notifications show.
#[test]
fn slack_sends_blocks_with_a_fallback_text() {
    let section = "> 供应商 *Anthropic 官方* (ID: 1) 已触发熔断保护\n\
                   *详细信息*\n\
                   失败次数: 5 次\n\
                   预计恢复: 2025-01-15 14:30:00\n\
                   最后错误: `rate_limit_exceeded: You have exceeded your rate limit`";
    assert_eq!(
        golden("slack"),
        json!({
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": "供应商熔断告警", "emoji": true}},
                {"type": "section", "text": {"type": "mrkdwn", "text": section}},
                {"type": "divider"},
                {"type": "context", "elements": [{"type": "mrkdwn", "text": TIME_LINE}]}
            ],
            "text": format!("供应商熔断告警\n{section}\n---\n{TIME_LINE}")
        })
    );
}

/// A Discord webhook's embed: title, description (Discord's markdown has `>` quotes, `**bold**`
/// and code), the time line as the footer, red (#E53935) for an alert; no mentions parsed.
#[test]
fn discord_sends_an_embed() {
    let description = "> 供应商 **Anthropic 官方** (ID: 1) 已触发熔断保护\n\
                       **详细信息**\n\
                       失败次数: 5 次\n\
                       预计恢复: 2025-01-15 14:30:00\n\
                       最后错误: `rate_limit_exceeded: You have exceeded your rate limit`";
    assert_eq!(
        golden("discord"),
        json!({
            "allowed_mentions": {"parse": []},
            "embeds": [{
                "title": "供应商熔断告警",
                "description": description,
                "footer": {"text": TIME_LINE},
                "color": 0xE5_3935
            }]
        })
    );
}

/// The Bot API's `sendMessage` with `parse_mode` HTML: `<b>`, `<blockquote>`, `<code>`; a rule
/// drawn with box characters (HTML mode has no `<hr>`).
#[test]
fn telegram_sends_html() {
    let text = "<b>供应商熔断告警</b>\n\
                <blockquote>供应商 <b>Anthropic 官方</b> (ID: 1) 已触发熔断保护</blockquote>\n\
                <b>详细信息</b>\n\
                失败次数: 5 次\n\
                预计恢复: 2025-01-15 14:30:00\n\
                最后错误: <code>rate_limit_exceeded: You have exceeded your rate limit</code>\n\
                ──────────\n\
                2025-01-15 14:00:00 · 熔断器将在预计时间后自动恢复";
    assert_eq!(
        golden("telegram"),
        json!({
            "chat_id": -1_001_234_567_890_i64,
            "parse_mode": "HTML",
            "disable_web_page_preview": true,
            "text": text
        })
    );
}

/// The Standard Webhooks event as docs/channels.md documents it, signed as the specification says —
/// the signature computed here by the `standardwebhooks` crate, over the body as sent (compact
/// JSON), with the specification's test secret.
#[test]
fn webhook_sends_a_signed_standard_webhooks_event() {
    let body = json!({
        "type": "circuitBreaker.opened",
        "id": "msg_golden",
        "timestamp": "2025-01-15T06:00:00Z",
        "version": 1,
        "test": false,
        "data": {
            "providerId": 1,
            "providerName": "Anthropic 官方",
            "failureCount": 5,
            "recoversAt": "2025-01-15T14:30:00+08:00",
            "lastError": "rate_limit_exceeded: You have exceeded your rate limit"
        },
        "title": "供应商熔断告警",
        "text": "供应商熔断告警\n\
                 供应商 Anthropic 官方 (ID: 1) 已触发熔断保护\n\
                 详细信息\n\
                 失败次数: 5 次\n\
                 预计恢复: 2025-01-15 14:30:00\n\
                 最后错误: rate_limit_exceeded: You have exceeded your rate limit\n\
                 ---\n\
                 2025-01-15 14:00:00 · 熔断器将在预计时间后自动恢复",
        "markdown": golden("wecom")["markdown"]["content"]
    });
    // 2025-01-15 14:00:00 in Asia/Shanghai.
    let sent_at = 1_736_920_800;
    let signature = standardwebhooks::Webhook::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        .unwrap()
        .sign("msg_golden", sent_at, &serde_json::to_vec(&body).unwrap())
        .unwrap();
    assert_eq!(
        golden("webhook"),
        json!({
            "headers": [
                ["webhook-id", "msg_golden"],
                ["webhook-timestamp", sent_at.to_string()],
                ["webhook-signature", signature]
            ],
            "body": body
        })
    );
}

/// The golden custom template, filled in as docs/channels.md says: a placeholder inside text is
/// written as text, one that is a whole string takes the field's JSON value (a number stays a
/// number), and one this kind lacks is `null`.
#[test]
fn custom_fills_in_its_template() {
    let text = "供应商熔断告警\n\
                供应商 Anthropic 官方 (ID: 1) 已触发熔断保护\n\
                详细信息\n\
                失败次数: 5 次\n\
                预计恢复: 2025-01-15 14:30:00\n\
                最后错误: rate_limit_exceeded: You have exceeded your rate limit\n\
                ---\n\
                2025-01-15 14:00:00 · 熔断器将在预计时间后自动恢复";
    assert_eq!(
        golden("custom"),
        json!({
            "msgtype": "text",
            "text": {"content": format!("[2025-01-15 14:00:00] {text}")},
            "title": "供应商熔断告警",
            "kind": "circuitBreaker",
            "at": "2025-01-15T06:00:00Z",
            "data": {"provider": "Anthropic 官方", "failures": 5, "entries": null, "alerts": null}
        })
    );
}
