//! 消息推送's form as typed (numbers included, so half-typed input is never lost), and the
//! settings it means.
use crate::notifications::{
    CircuitBreakerSettings, CostAlertSettings, DailyLeaderboardSettings, FieldErrors, FieldProblem, NotificationKind,
    NotificationSettings,
};
use crate::targets::PushTargetView;

/// The form's state: text as typed (numbers included), so half-typed input is never lost.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Draft {
    pub(super) enabled: bool,
    /// Switch and webhook URL of each kind, in `NotificationKind::ALL` order.
    pub(super) kinds: [KindDraft; 3],
    pub(super) dl_time: String,
    pub(super) dl_top_n: String,
    pub(super) ca_threshold: String,
    pub(super) ca_interval: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct KindDraft {
    pub(super) enabled: bool,
    pub(super) url: String,
    /// The kind's targets as loaded: sent back, so a save keeps those the page does not show.
    pub(super) target_ids: Option<Vec<i64>>,
}

impl Draft {
    pub(super) fn from_settings(s: &NotificationSettings) -> Self {
        Draft {
            enabled: s.enabled,
            kinds: NotificationKind::ALL.map(|kind| KindDraft {
                enabled: s.kind_enabled(kind),
                url: s.webhook_url(kind).unwrap_or_default().to_owned(),
                target_ids: s.target_ids(kind).map(<[i64]>::to_vec),
            }),
            dl_time: s.daily_leaderboard.time.clone(),
            dl_top_n: s.daily_leaderboard.top_n.to_string(),
            ca_threshold: s.cost_alert.threshold_percent.to_string(),
            ca_interval: s.cost_alert.check_interval_minutes.to_string(),
        }
    }

    pub(super) fn kind(&self, kind: NotificationKind) -> &KindDraft {
        &self.kinds[kind as usize]
    }

    pub(super) fn kind_mut(&mut self, kind: NotificationKind) -> &mut KindDraft {
        &mut self.kinds[kind as usize]
    }

    /// A kind loaded without its targets (an older server) gets those the target list binds to
    /// it, so that a save sends the list the page shows.
    pub(super) fn fill_targets(&mut self, targets: &[PushTargetView]) {
        for kind in NotificationKind::ALL {
            let ids = &mut self.kind_mut(kind).target_ids;
            if ids.is_none() {
                *ids = Some(
                    targets
                        .iter()
                        .filter(|t| t.kinds.contains(&kind))
                        .map(|t| t.id)
                        .collect(),
                );
            }
        }
    }

    pub(super) fn bind(&mut self, kind: NotificationKind, id: i64) {
        let ids = self.kind_mut(kind).target_ids.get_or_insert_with(Vec::new);
        if !ids.contains(&id) {
            ids.push(id);
        }
    }

    pub(super) fn unbind(&mut self, kind: NotificationKind, id: i64) {
        if let Some(ids) = &mut self.kind_mut(kind).target_ids {
            ids.retain(|i| *i != id);
        }
    }

    /// The settings this draft means, or every problem the page can see by itself.
    pub(super) fn to_settings(&self) -> Result<NotificationSettings, FieldErrors> {
        let mut errors = FieldErrors::default();
        let mut number = |path: &str, text: &str| {
            text.trim().parse::<i32>().unwrap_or_else(|_| {
                errors.insert(path.into(), FieldProblem::NotANumber);
                0
            })
        };
        let top_n = number("dailyLeaderboard.topN", &self.dl_top_n);
        let threshold = number("costAlert.thresholdPercent", &self.ca_threshold);
        let interval = number("costAlert.checkIntervalMinutes", &self.ca_interval);
        let url = |kind| Some(self.kind(kind).url.clone());
        let enabled = |kind| self.kind(kind).enabled;
        let targets = |kind| self.kind(kind).target_ids.clone();
        let settings = NotificationSettings {
            enabled: self.enabled,
            circuit_breaker: CircuitBreakerSettings {
                enabled: enabled(NotificationKind::CircuitBreaker),
                webhook_url: url(NotificationKind::CircuitBreaker),
                target_ids: targets(NotificationKind::CircuitBreaker),
            },
            daily_leaderboard: DailyLeaderboardSettings {
                enabled: enabled(NotificationKind::DailyLeaderboard),
                webhook_url: url(NotificationKind::DailyLeaderboard),
                target_ids: targets(NotificationKind::DailyLeaderboard),
                time: self.dl_time.clone(),
                top_n,
            },
            cost_alert: CostAlertSettings {
                enabled: enabled(NotificationKind::CostAlert),
                webhook_url: url(NotificationKind::CostAlert),
                target_ids: targets(NotificationKind::CostAlert),
                threshold_percent: threshold,
                check_interval_minutes: interval,
            },
        }
        .normalized();
        if let Err(found) = settings.validate(&|_| Ok(())) {
            for (path, problem) in found.0 {
                // A number that did not parse keeps that message, not a range error for 0.
                errors.0.entry(path).or_insert(problem);
            }
        }
        if errors.is_empty() {
            Ok(settings)
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draft_round_trips_settings() {
        let s = NotificationSettings::default();
        assert_eq!(Draft::from_settings(&s).to_settings(), Ok(s));
    }

    #[test]
    fn each_kind_keeps_its_own_switch_and_url() {
        let mut s = NotificationSettings::default();
        s.circuit_breaker.webhook_url = Some("https://a.example/1".into());
        s.daily_leaderboard.enabled = true;
        s.daily_leaderboard.webhook_url = Some("https://b.example/2".into());
        s.cost_alert.webhook_url = Some("https://c.example/3".into());
        let draft = Draft::from_settings(&s);
        assert_eq!(
            draft.kind(NotificationKind::DailyLeaderboard).url,
            "https://b.example/2"
        );
        assert!(!draft.kind(NotificationKind::CostAlert).enabled);
        assert_eq!(draft.to_settings(), Ok(s));
    }

    #[test]
    fn targets_are_bound_and_unbound_in_the_draft() {
        let mut s = NotificationSettings::default();
        s.cost_alert.target_ids = Some(vec![4]);
        let mut d = Draft::from_settings(&s);
        let target = |id: i64, kinds: Vec<NotificationKind>| {
            serde_json::from_value::<PushTargetView>(serde_json::json!({
                "id": id, "name": "t", "channel": "wecom", "enabled": true,
                "webhookUrl": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=***",
                "hasSecret": false, "hasBotToken": false, "chatId": null, "messageThreadId": null,
                "apiBaseUrl": null, "template": null, "headerNames": [], "proxyUrl": null,
                "proxyFallbackDirect": false, "rateLimit": null, "defaultRateLimit": null,
                "endpoint": "https://example.com", "kinds": kinds, "lastTest": null
            }))
            .unwrap()
        };
        // Loaded without targets (an older server), a kind gets those the list binds to it.
        d.fill_targets(&[
            target(4, vec![NotificationKind::CostAlert]),
            target(9, vec![NotificationKind::CircuitBreaker]),
        ]);
        assert_eq!(d.kind(NotificationKind::CircuitBreaker).target_ids, Some(vec![9]));
        assert_eq!(d.kind(NotificationKind::DailyLeaderboard).target_ids, Some(vec![]));
        assert_eq!(d.kind(NotificationKind::CostAlert).target_ids, Some(vec![4]));
        d.bind(NotificationKind::CostAlert, 9);
        d.bind(NotificationKind::CostAlert, 9);
        d.unbind(NotificationKind::CostAlert, 4);
        let saved = d.to_settings().unwrap();
        assert_eq!(saved.cost_alert.target_ids, Some(vec![9]));
    }

    #[test]
    fn draft_reports_unparsed_numbers_before_ranges() {
        let mut d = Draft::from_settings(&NotificationSettings::default());
        d.dl_top_n = "abc".into();
        d.ca_threshold = "30".into();
        let errors = d.to_settings().unwrap_err();
        assert_eq!(errors.get("dailyLeaderboard.topN"), Some(&FieldProblem::NotANumber));
        assert_eq!(
            errors.get("costAlert.thresholdPercent"),
            Some(&FieldProblem::OutOfRange { min: 50, max: 100 })
        );
    }
}
