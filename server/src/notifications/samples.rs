//! A realistic message of each kind, for testing a push target: the specification's own examples,
//! dated now, through the real templates.
use std::str::FromStr;

use app::notifications::NotificationKind;
use app::usage::UsageWindow;
use chrono::{DateTime, Duration};
use chrono_tz::Tz;
use rust_decimal::Decimal;

use crate::channels::message::Message;
use crate::notifications::render;

fn usd(text: &str) -> Decimal {
    Decimal::from_str(text).expect("a sample amount")
}

/// The specification's example of `kind`, as sent at `now`, marked as a test.
pub fn sample(kind: NotificationKind, now: DateTime<Tz>) -> Message {
    let mut message = example(kind, now);
    message.test = true;
    message
}

fn example(kind: NotificationKind, now: DateTime<Tz>) -> Message {
    match kind {
        NotificationKind::CircuitBreaker => render::circuit_breaker_alert(&render::CircuitBreakerAlert {
            provider_name: "Anthropic 官方",
            provider_id: 1,
            provider_ref: None,
            failure_count: 5,
            recovers_at: now + Duration::minutes(30),
            last_error: Some("rate_limit_exceeded: You have exceeded your rate limit"),
            now,
        }),
        NotificationKind::DailyLeaderboard => {
            let entry = |user_id, name: &str, cost, requests, tokens| render::LeaderboardEntry {
                user_id,
                user_ref: None,
                user_name: name.to_owned(),
                cost_usd: usd(cost),
                requests,
                tokens,
            };
            render::daily_leaderboard(&render::DailyLeaderboard {
                date: (now - Duration::days(1)).date_naive(),
                entries: vec![
                    entry(1, "张三", "12.3456", 1_234, 2_450_000),
                    entry(2, "李四", "8.7654", 987, 1_870_000),
                    entry(3, "王五", "5.4321", 654, 1_230_000),
                ],
                total_requests: 5_678,
                total_cost_usd: usd("45.6789"),
                now,
            })
        }
        NotificationKind::CostAlert => render::cost_alert(&render::CostAlert {
            entity: render::CostEntity::User { name: "张三" },
            window: UsageWindow::Week,
            reset: app::usage::DailyReset::MIDNIGHT,
            current_usd: usd("8.5"),
            limit_usd: usd("10"),
            now,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::targets::ChannelConfig;
    use chrono::TimeZone;

    use crate::channels::targets::Secret;

    #[test]
    fn samples_are_the_specifications_examples() {
        let tz: Tz = "Asia/Shanghai".parse().unwrap();
        let golden = |text: &str| text.trim_end_matches('\n').to_owned();
        let breaker_at = tz.with_ymd_and_hms(2025, 1, 15, 14, 0, 0).unwrap();
        assert_eq!(
            crate::channels::wecom::markdown(&sample(NotificationKind::CircuitBreaker, breaker_at)),
            golden(include_str!("../../tests/golden/circuit_breaker.md"))
        );
        let board_at = tz.with_ymd_and_hms(2025, 1, 15, 9, 0, 0).unwrap();
        assert_eq!(
            crate::channels::wecom::markdown(&sample(NotificationKind::DailyLeaderboard, board_at)),
            golden(include_str!("../../tests/golden/daily_leaderboard.md"))
        );
        let cost_at = tz.with_ymd_and_hms(2025, 1, 15, 10, 30, 0).unwrap();
        assert_eq!(
            crate::channels::wecom::markdown(&sample(NotificationKind::CostAlert, cost_at)),
            golden(include_str!("../../tests/golden/cost_alert.md"))
        );
    }

    /// Whether golden files are rewritten rather than checked: with `BLESS=1` only, and never
    /// under CI, where a golden file is always a check.
    fn blessing() -> bool {
        match std::env::var("BLESS").ok().as_deref() {
            None | Some("" | "0") => false,
            Some("1") => {
                let ci = std::env::var("CI").unwrap_or_default();
                assert!(
                    ci.is_empty(),
                    "BLESS=1 refused: CI={ci} is set, and under CI golden files are checked, never rewritten"
                );
                true
            }
            Some(other) => panic!("BLESS={other:?}: set BLESS=1 to rewrite the golden files, or leave it unset"),
        }
    }

    /// The target of `channel`'s golden files.
    fn golden_config(channel: &str) -> ChannelConfig<Secret> {
        use app::targets::{ChannelKind, CustomHook, Hook, SignedHook, StandardWebhook, TelegramChat};
        let webhook_url = Secret::new("https://example.invalid/hook");
        match ChannelKind::from_key(channel).expect("a channel's name") {
            ChannelKind::Wecom => ChannelConfig::Wecom(Hook { webhook_url }),
            ChannelKind::Slack => ChannelConfig::Slack(Hook { webhook_url }),
            ChannelKind::Discord => ChannelConfig::Discord(Hook { webhook_url }),
            ChannelKind::Feishu => ChannelConfig::Feishu(SignedHook {
                webhook_url,
                secret: None,
            }),
            ChannelKind::Dingtalk => ChannelConfig::Dingtalk(SignedHook {
                webhook_url,
                secret: None,
            }),
            ChannelKind::Webhook => ChannelConfig::Webhook(StandardWebhook {
                webhook_url,
                // The Standard Webhooks specification's test secret: the signature is part of the file.
                secret: Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            }),
            ChannelKind::Telegram => ChannelConfig::Telegram(TelegramChat {
                bot_token: Secret::new("123456:TEST-token"),
                chat_id: "-1001234567890".into(),
                message_thread_id: None,
                api_base_url: None,
            }),
            ChannelKind::Custom => ChannelConfig::Custom(CustomHook {
                webhook_url,
                template: serde_json::json!({"msgtype": "text", "text": {"content": "[{{time}}] {{text}}"},
                    "title": "{{title}}", "kind": "{{kind}}", "at": "{{timestamp}}", "data": {"provider": "{{providerName}}",
                    "failures": "{{failureCount}}", "entries": "{{entries}}", "alerts": "{{alerts}}"}}),
                headers: Default::default(),
            }),
        }
    }

    /// The body each channel sends for the specification's example of each kind (at the
    /// example's time; unsigned, but for the signed webhook, whose headers are in its files) is
    /// byte for byte its golden file (`server/tests/golden/channels/<channel>/`). With `BLESS=1`
    /// the files that differ are rewritten instead, and named: the run then fails, so that a
    /// rewrite is always seen, and reviewed in the diff. Returns the files rewritten.
    fn check_golden(channel: &dyn crate::channels::Channel, name: &str) -> Vec<String> {
        let tz: chrono_tz::Tz = "Asia/Shanghai".parse().unwrap();
        let now = tz.with_ymd_and_hms(2025, 1, 15, 14, 0, 0).unwrap();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/golden/channels")
            .join(name);
        let mut contents = vec![
            ("test_message", render::test_message(now)),
            (
                "circuit_breaker_recovery",
                render::circuit_breaker_recovery(&render::CircuitBreakerRecovery {
                    provider_name: "Anthropic 官方",
                    provider_id: 1,
                    provider_ref: None,
                    opened_at: now - Duration::minutes(30),
                    now,
                }),
            ),
        ];
        // Two alerts of one check in one message: each channel's way with several parts.
        contents.push((
            "cost_alerts",
            render::cost_alerts(&[
                render::CostAlert {
                    entity: render::CostEntity::Key {
                        name: "ci-bot",
                        owner: "张三",
                    },
                    window: UsageWindow::Day,
                    reset: app::usage::DailyReset::Fixed { minute: 18 * 60 },
                    current_usd: usd("8.5"),
                    limit_usd: usd("10"),
                    now,
                },
                render::CostAlert {
                    entity: render::CostEntity::Provider {
                        name: "Anthropic 官方"
                    },
                    window: UsageWindow::Month,
                    reset: app::usage::DailyReset::MIDNIGHT,
                    current_usd: usd("120"),
                    limit_usd: usd("100"),
                    now,
                },
            ]),
        ));
        for (kind, file) in [
            (NotificationKind::CircuitBreaker, "circuit_breaker"),
            (NotificationKind::DailyLeaderboard, "daily_leaderboard"),
            (NotificationKind::CostAlert, "cost_alert"),
        ] {
            contents.push((file, example(kind, now)));
        }
        let to = crate::channels::targets::Destination::of(golden_config(name));
        let envelope = crate::channels::Envelope {
            id: "msg_golden".into(),
            now: now.to_utc(),
        };
        let bless = blessing();
        let mut rewritten = Vec::new();
        for (file, message) in contents {
            let out = channel.outgoing(&to, &message, &envelope).unwrap();
            let mut body = out.body;
            if !out.headers.is_empty() {
                body = serde_json::json!({"headers": out.headers, "body": body});
            }
            let text = format!("{}\n", serde_json::to_string_pretty(&body).unwrap());
            let path = dir.join(format!("{file}.json"));
            let golden = std::fs::read_to_string(&path);
            if bless {
                if golden.as_ref().ok() != Some(&text) {
                    std::fs::create_dir_all(&dir).unwrap();
                    std::fs::write(&path, &text).unwrap();
                    rewritten.push(path.display().to_string());
                }
            } else {
                let golden = golden.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                assert_eq!(text, golden, "{}", path.display());
            }
        }
        rewritten
    }

    #[test]
    fn every_channel_renders_every_kind_as_its_golden_files() {
        use crate::channels::{custom, dingtalk, discord, feishu, slack, telegram, webhook, wecom};
        let rewritten = [
            check_golden(&wecom::WeCom, "wecom"),
            check_golden(&feishu::Feishu, "feishu"),
            check_golden(&dingtalk::DingTalk, "dingtalk"),
            check_golden(&slack::Slack, "slack"),
            check_golden(&discord::Discord, "discord"),
            check_golden(&telegram::Telegram, "telegram"),
            check_golden(&webhook::SignedWebhook, "webhook"),
            check_golden(&custom::Custom, "custom"),
        ]
        .concat();
        assert!(
            rewritten.is_empty(),
            "BLESS=1 rewrote {} golden files; review them in the diff, then run again without BLESS:\n{}",
            rewritten.len(),
            rewritten.join("\n")
        );
    }
}
