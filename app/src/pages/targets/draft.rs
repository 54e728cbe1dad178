//! The target form's text as typed, and the input it means.
use std::collections::BTreeMap;

use leptos::prelude::*;

use crate::notifications::{FieldErrors, FieldProblem};
use crate::targets::{BudgetSetting, ChannelConfig, ChannelKind, PushTargetInput, PushTargetView, Shown};

/// One of the draft's texts, as a signal for a field.
pub(super) fn text_of(draft: RwSignal<TargetDraft>, get: fn(&TargetDraft) -> &String) -> Signal<String> {
    Signal::derive(move || draft.with(|d| get(d).clone()))
}

/// The target as it is, to save with one thing changed: write-only settings and the URL are left
/// out (kept), the rest is sent back as shown.
pub(super) fn unchanged_input(target: &PushTargetView) -> PushTargetInput {
    let mut input = PushTargetInput {
        channel: Some(target.channel()),
        enabled: target.enabled,
        proxy_url: target.proxy_url.clone(),
        proxy_fallback_direct: target.proxy_fallback_direct,
        rate_limit: target.rate_limit,
        ..PushTargetInput::named(target.name.clone())
    };
    match &target.config {
        ChannelConfig::Telegram(chat) => {
            input.chat_id = Some(chat.chat_id.clone());
            input.message_thread_id = chat.message_thread_id;
            input.api_base_url = chat.api_base_url.clone();
        }
        ChannelConfig::Custom(hook) => input.template = Some(hook.template.clone()),
        _ => {}
    }
    input
}

/// One custom header as typed; `row` tells the rows apart while names are edited.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct HeaderDraft {
    pub(super) row: u32,
    pub(super) name: String,
    /// Blank keeps the stored value of a header of that name.
    pub(super) value: String,
}

/// The form as typed. Write-only secrets start blank: left blank, the stored one is kept.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct TargetDraft {
    /// The config of the target being edited; `None` while creating.
    pub(super) stored: Option<ChannelConfig<Shown>>,
    pub(super) name: String,
    /// The channel picked (creating); `None` lets the URL's host name it.
    pub(super) channel: Option<ChannelKind>,
    /// Whether the admin picked the channel, so a pasted URL no longer picks it.
    pub(super) channel_chosen: bool,
    pub(super) enabled: bool,
    pub(super) webhook_url: String,
    pub(super) secret: String,
    /// Feishu, DingTalk: remove the stored secret.
    pub(super) remove_secret: bool,
    pub(super) bot_token: String,
    pub(super) chat_id: String,
    pub(super) message_thread_id: String,
    pub(super) api_base_url: String,
    pub(super) template: String,
    pub(super) headers: Vec<HeaderDraft>,
    pub(super) proxy_url: String,
    pub(super) proxy_fallback_direct: bool,
    pub(super) own_budget: bool,
    pub(super) budget_sends: String,
    pub(super) budget_seconds: String,
}

/// A template the page could not read as JSON: where, as `line:column` after this mark.
pub(super) const NOT_JSON: &str = "not JSON at";
/// The reason [`PushTargetInput::validate`] gives for a template that is not an object.
pub(super) const NOT_AN_OBJECT: &str = "must be a JSON object";

impl TargetDraft {
    pub(super) fn new() -> Self {
        TargetDraft {
            enabled: true,
            ..Default::default()
        }
    }

    pub(super) fn from_view(target: &PushTargetView) -> Self {
        let mut draft = TargetDraft {
            stored: Some(target.config.clone()),
            name: target.name.clone(),
            channel: Some(target.channel()),
            channel_chosen: true,
            enabled: target.enabled,
            webhook_url: target.webhook_url().unwrap_or_default().to_owned(),
            proxy_url: target.proxy_url.clone().unwrap_or_default(),
            proxy_fallback_direct: target.proxy_fallback_direct,
            own_budget: target.rate_limit.is_some(),
            budget_sends: target.rate_limit.map(|b| b.sends.to_string()).unwrap_or_default(),
            budget_seconds: target.rate_limit.map(|b| b.per_seconds.to_string()).unwrap_or_default(),
            ..Default::default()
        };
        match &target.config {
            ChannelConfig::Telegram(chat) => {
                draft.chat_id = chat.chat_id.clone();
                draft.message_thread_id = chat.message_thread_id.map(|t| t.to_string()).unwrap_or_default();
                draft.api_base_url = chat.api_base_url.clone().unwrap_or_default();
            }
            ChannelConfig::Custom(hook) => {
                draft.template = serde_json::to_string_pretty(&hook.template).unwrap_or_default();
                draft.headers = (hook.headers.keys().zip(0..))
                    .map(|(name, row)| HeaderDraft {
                        row,
                        name: name.clone(),
                        value: String::new(),
                    })
                    .collect();
            }
            _ => {}
        }
        draft
    }

    /// The channel the fields are for: the stored one, the one picked, or the URL's.
    pub(super) fn channel(&self) -> Option<ChannelKind> {
        self.stored
            .as_ref()
            .map(ChannelConfig::kind)
            .or(self.channel)
            .or_else(|| ChannelKind::detect(&self.webhook_url))
    }

    /// A pasted URL picks the channel of a new target, until the admin picks one.
    pub(super) fn set_url(&mut self, url: String) {
        self.webhook_url = url;
        if self.stored.is_none() && !self.channel_chosen {
            self.channel = ChannelKind::detect(&self.webhook_url);
        }
    }

    pub(super) fn pick_channel(&mut self, channel: Option<ChannelKind>) {
        self.channel = channel;
        self.channel_chosen = channel.is_some();
    }

    /// Whether a header of this name has a stored value to keep.
    pub(super) fn header_stored(&self, name: &str) -> bool {
        match &self.stored {
            Some(ChannelConfig::Custom(hook)) => hook.headers.keys().any(|h| h.eq_ignore_ascii_case(name.trim())),
            _ => false,
        }
    }

    pub(super) fn add_header(&mut self) {
        let row = self.headers.iter().map(|h| h.row + 1).max().unwrap_or(0);
        self.headers.push(HeaderDraft {
            row,
            ..Default::default()
        });
    }

    /// The input this draft means, or every problem the page can see by itself (the same checks
    /// as the server's, plus the text that is not a number or not JSON).
    pub(super) fn to_input(&self) -> Result<PushTargetInput, FieldErrors> {
        let mut errors = FieldErrors::default();
        let channel = self.channel();
        // What the channel takes is sent; without a channel, only a URL can name one.
        let takes = |field: &str| channel.map_or(field == "webhookUrl", |c| c.takes(field));
        let given = |field: &str, text: &str| takes(field).then(|| text.to_owned());
        let secret = if takes("secret") {
            if self.remove_secret {
                Some(String::new())
            } else {
                Some(self.secret.trim().to_owned()).filter(|s| !s.is_empty())
            }
        } else {
            None
        };
        let message_thread_id = match self.message_thread_id.trim() {
            t if !takes("messageThreadId") || t.is_empty() => None,
            t => t.parse::<i64>().map_or_else(
                |_| {
                    errors.insert("messageThreadId".into(), FieldProblem::NotANumber);
                    None
                },
                Some,
            ),
        };
        let template = match self.template.trim() {
            t if !takes("template") || t.is_empty() => None,
            t => match serde_json::from_str::<serde_json::Value>(t) {
                Ok(value) => Some(value),
                Err(e) => {
                    errors.insert(
                        "template".into(),
                        FieldProblem::Template(format!("{NOT_JSON} {}:{}", e.line(), e.column())),
                    );
                    None
                }
            },
        };
        let headers = takes("headers").then(|| {
            self.headers
                .iter()
                .filter(|h| !(h.name.trim().is_empty() && h.value.is_empty()))
                .map(|h| {
                    let keep = h.value.is_empty() && self.header_stored(&h.name);
                    (h.name.clone(), (!keep).then(|| h.value.clone()))
                })
                .collect::<BTreeMap<_, _>>()
        });
        let rate_limit = if self.own_budget {
            let sends = self.budget_sends.trim().parse::<u32>();
            let per_seconds = self.budget_seconds.trim().parse::<u32>();
            if sends.is_err() {
                errors.insert("rateLimit.sends".into(), FieldProblem::NotANumber);
            }
            if per_seconds.is_err() {
                errors.insert("rateLimit.perSeconds".into(), FieldProblem::NotANumber);
            }
            match (sends, per_seconds) {
                (Ok(sends), Ok(per_seconds)) => Some(BudgetSetting { sends, per_seconds }),
                _ => None,
            }
        } else {
            None
        };
        let input = PushTargetInput {
            name: self.name.clone(),
            channel,
            enabled: self.enabled,
            webhook_url: given("webhookUrl", &self.webhook_url),
            secret,
            bot_token: given("botToken", &self.bot_token),
            chat_id: given("chatId", &self.chat_id),
            message_thread_id,
            api_base_url: given("apiBaseUrl", &self.api_base_url),
            template,
            headers,
            proxy_url: Some(self.proxy_url.clone()),
            proxy_fallback_direct: self.proxy_fallback_direct,
            rate_limit,
        }
        .normalized();
        // A blank bot token keeps the stored one.
        let input = PushTargetInput {
            bot_token: input.bot_token.filter(|t| !t.is_empty()),
            ..input
        };
        if let Err(found) = input.validate(self.stored.as_ref()) {
            for (path, problem) in found.0 {
                // Text that did not parse keeps that message, not the one for what it became.
                errors.0.entry(path).or_insert(problem);
            }
        }
        if errors.is_empty() {
            Ok(input)
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::notifications::NotificationKind;
    use crate::targets::{CustomHook, SignedHook, TelegramChat};

    /// A target of `config` with a proxy and a budget of its own.
    pub(in crate::pages::targets) fn view_of(config: ChannelConfig<Shown>) -> PushTargetView {
        PushTargetView {
            id: 7,
            name: "值班群".into(),
            enabled: true,
            config,
            proxy_url: Some("socks5://u:***@proxy.example:1080".into()),
            proxy_fallback_direct: true,
            rate_limit: Some(BudgetSetting {
                sends: 5,
                per_seconds: 60,
            }),
            default_rate_limit: None,
            endpoint: "https://open.feishu.cn".into(),
            kinds: vec![NotificationKind::CostAlert],
            last_test: None,
            generated_secret: None,
        }
    }

    fn feishu() -> PushTargetView {
        view_of(ChannelConfig::Feishu(SignedHook {
            webhook_url: Shown::Url("https://open.feishu.cn/open-apis/bot/v2/hook/***".into()),
            secret: Some(Shown::Set),
        }))
    }

    #[test]
    fn an_untouched_edit_keeps_the_secrets_and_sends_the_rest() {
        let target = feishu();
        let input = TargetDraft::from_view(&target).to_input().unwrap();
        assert_eq!(input.secret, None, "a blank secret keeps the stored one");
        assert_eq!(input.channel, Some(ChannelKind::Feishu));
        assert_eq!(input.proxy_url.as_deref(), Some("socks5://u:***@proxy.example:1080"));
        assert!(input.proxy_fallback_direct);
        assert_eq!(input.rate_limit, target.rate_limit);
        assert_eq!((input.headers, input.template, input.chat_id), (None, None, None));

        let mut removed = TargetDraft::from_view(&target);
        removed.remove_secret = true;
        assert_eq!(removed.to_input().unwrap().secret.as_deref(), Some(""));

        let unchanged = unchanged_input(&target);
        assert_eq!(
            unchanged.validate(Some(&target.config)).map(|edit| edit.config.kind()),
            Ok(ChannelKind::Feishu)
        );
    }

    #[test]
    fn a_pasted_url_picks_the_channel_until_one_is_picked() {
        let mut d = TargetDraft::new();
        d.set_url("https://oapi.dingtalk.com/robot/send?access_token=t".into());
        assert_eq!(d.channel, Some(ChannelKind::Dingtalk));
        d.set_url("http://127.0.0.1:9/feishu?key=k".into());
        assert_eq!(d.channel, None);
        d.pick_channel(Some(ChannelKind::Feishu));
        d.set_url("https://hooks.slack.com/services/x".into());
        assert_eq!(d.channel(), Some(ChannelKind::Feishu));
        d.name = "飞书".into();
        d.secret = " SECabc ".into();
        let input = d.to_input().unwrap();
        assert_eq!(input.secret.as_deref(), Some("SECabc"));
        assert_eq!(input.bot_token, None, "only Telegram takes a token");
    }

    #[test]
    fn templates_headers_and_budgets_are_read_from_text() {
        let mut d = TargetDraft::new();
        d.name = "C".into();
        d.pick_channel(Some(ChannelKind::Custom));
        d.set_url("https://example.com/hook".into());
        d.template = "{\"a\": ".into();
        d.own_budget = true;
        d.budget_sends = "x".into();
        d.budget_seconds = "60".into();
        let errors = d.to_input().unwrap_err();
        assert!(matches!(errors.get("template"), Some(FieldProblem::Template(r)) if r.starts_with(NOT_JSON)));
        assert_eq!(errors.get("rateLimit.sends"), Some(&FieldProblem::NotANumber));

        d.template = "[1]".into();
        assert_eq!(
            d.to_input().unwrap_err().get("template"),
            Some(&FieldProblem::Template(NOT_AN_OBJECT.into()))
        );

        d.template = "{\"text\": \"{{title}}\"}".into();
        d.budget_sends = "5".into();
        d.add_header();
        d.headers[0].name = "X-Token".into();
        d.headers[0].value = "abc".into();
        d.add_header();
        let input = d.to_input().unwrap();
        assert_eq!(input.template, Some(serde_json::json!({"text": "{{title}}"})));
        assert_eq!(
            input.headers,
            Some(BTreeMap::from([("X-Token".to_owned(), Some("abc".to_owned()))])),
            "a blank row is left out"
        );
        assert_eq!(
            input.rate_limit,
            Some(BudgetSetting {
                sends: 5,
                per_seconds: 60
            })
        );

        // An edit keeps a stored header's value when it is left blank.
        let stored = view_of(ChannelConfig::Custom(CustomHook {
            webhook_url: Shown::Url("https://example.com/hook".into()),
            template: serde_json::json!({"a": "b"}),
            headers: BTreeMap::from([("Authorization".to_owned(), Shown::Set)]),
        }));
        let input = TargetDraft::from_view(&stored).to_input().unwrap();
        assert_eq!(
            input.headers,
            Some(BTreeMap::from([("Authorization".to_owned(), None)]))
        );
    }

    #[test]
    fn telegram_fields_and_a_kept_token() {
        let target = view_of(ChannelConfig::Telegram(TelegramChat {
            bot_token: Shown::Set,
            chat_id: "-1001234567890".into(),
            message_thread_id: Some(42),
            api_base_url: None,
        }));
        let mut d = TargetDraft::from_view(&target);
        let input = d.to_input().unwrap();
        assert_eq!(input.bot_token, None, "left blank, the stored token is kept");
        assert_eq!(input.webhook_url, None);
        assert_eq!(input.message_thread_id, Some(42));
        d.message_thread_id = "abc".into();
        assert_eq!(
            d.to_input().unwrap_err().get("messageThreadId"),
            Some(&FieldProblem::NotANumber)
        );
    }
}
