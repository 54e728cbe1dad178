//! The page rendered as the server renders it (the i18n context needs the `ssr` build off the
//! browser).
use leptos::prelude::*;

use super::form::TargetForm;
use super::{Page, TargetTable};
use crate::components::row_editor::RowEditor;
use crate::components::toast::Toasts;
use crate::i18n::I18nContextProvider;
use crate::notifications::NotificationKind;
use std::collections::BTreeMap;

use crate::targets::{
    ChannelConfig, ChannelKind, CustomHook, Hook, LastTest, PushTargetView, Shown, SignedHook, TelegramChat,
};

/// The form of a stored target of `channel`, rendered to HTML.
fn form_html(channel: ChannelKind) -> String {
    // Actions and effects need an executor; another test may have set it already.
    let _ = any_spawner::Executor::init_futures_executor();
    let owner = Owner::new();
    owner.with(|| {
        let target = tests_view(channel);
        let page = Page {
            editor: RowEditor::new(),
            toasts: Toasts::new(),
            reloads: RwSignal::new(0),
            generated: RwSignal::new(None),
        };
        view! {
            <I18nContextProvider>
                <TargetForm existing=Some(target) page />
            </I18nContextProvider>
        }
        .to_html()
    })
}

fn tests_view(channel: ChannelKind) -> PushTargetView {
    let webhook_url = || Shown::Url("https://example.com/x".into());
    let config = match channel {
        ChannelKind::Feishu => ChannelConfig::Feishu(SignedHook {
            webhook_url: webhook_url(),
            secret: Some(Shown::Set),
        }),
        ChannelKind::Telegram => ChannelConfig::Telegram(TelegramChat {
            bot_token: Shown::Set,
            chat_id: "-100".into(),
            message_thread_id: None,
            api_base_url: None,
        }),
        ChannelKind::Custom => ChannelConfig::Custom(CustomHook {
            webhook_url: webhook_url(),
            template: serde_json::json!({}),
            headers: BTreeMap::from([("X-Token".to_owned(), Shown::Set)]),
        }),
        ChannelKind::Wecom => ChannelConfig::Wecom(Hook {
            webhook_url: webhook_url(),
        }),
        other => panic!("no {other:?} in these tests"),
    };
    PushTargetView {
        id: 3,
        name: "n".into(),
        proxy_url: None,
        rate_limit: None,
        endpoint: "https://example.com".into(),
        kinds: vec![],
        ..super::draft::tests::view_of(config)
    }
}

#[test]
fn a_row_shows_channel_kinds_and_last_test() {
    let _ = any_spawner::Executor::init_futures_executor();
    let owner = Owner::new();
    let html = owner.with(|| {
        let mut target = tests_view(ChannelKind::Feishu);
        target.kinds = vec![NotificationKind::CostAlert];
        target.last_test = Some(LastTest {
            at: "2026-11-26T14:03:05+08:00".into(),
            ok: false,
            error: Some("code 19021: sign match fail".into()),
            latency_ms: 87,
        });
        let page = Page {
            editor: RowEditor::new(),
            toasts: Toasts::new(),
            reloads: RwSignal::new(0),
            generated: RwSignal::new(None),
        };
        view! {
            <I18nContextProvider>
                <TargetTable list=vec![target] page />
            </I18nContextProvider>
        }
        .to_html()
    });
    for expected in [
        "飞书",
        "成本预警",
        "失败",
        "87 ms",
        "2026-11-26 14:03:05",
        "code 19021",
        "绑定的通知",
    ] {
        assert!(html.contains(expected), "{expected} in {html}");
    }
}

#[test]
fn each_channel_shows_its_own_fields() {
    let has = |html: &str, id: &str| html.contains(&format!("data-testid=\"{id}\""));
    let feishu = form_html(ChannelKind::Feishu);
    assert!(
        has(&feishu, "field-webhookUrl") && has(&feishu, "field-secret"),
        "{feishu}"
    );
    assert!(has(&feishu, "field-remove-secret") && !has(&feishu, "field-botToken"));
    assert!(feishu.contains("已设置 · 重新输入"));
    let telegram = form_html(ChannelKind::Telegram);
    assert!(has(&telegram, "field-botToken") && has(&telegram, "field-chatId"));
    assert!(!has(&telegram, "field-webhookUrl") && !has(&telegram, "field-secret"));
    let custom = form_html(ChannelKind::Custom);
    assert!(has(&custom, "field-template") && has(&custom, "header-row") && !has(&custom, "field-secret"));
    let wecom = form_html(ChannelKind::Wecom);
    assert!(has(&wecom, "field-proxyUrl") && has(&wecom, "field-ownBudget") && !has(&wecom, "field-secret"));
}
