//! 消息推送 rendered as the server renders it (the i18n context needs the `ssr` build off the
//! browser).
use leptos::prelude::*;

use super::draft::Draft;
use super::kind_card::KindCard;
use crate::components::toast::Toasts;
use crate::i18n::I18nContextProvider;
use crate::notifications::{FieldErrors, NotificationKind, NotificationSettings};

#[test]
fn an_enabled_kind_shows_its_targets_beside_its_webhook_url() {
    let _ = any_spawner::Executor::init_futures_executor();
    let mut settings = NotificationSettings {
        enabled: true,
        ..Default::default()
    };
    settings.cost_alert.enabled = true;
    settings.cost_alert.target_ids = Some(vec![]);
    let html = Owner::new().with(|| {
        let draft = RwSignal::new(Draft::from_settings(&settings));
        let errors = RwSignal::new(FieldErrors::default());
        let toasts = Toasts::new();
        let known = RwSignal::new(Vec::new());
        view! {
            <I18nContextProvider>
                <KindCard kind=NotificationKind::CircuitBreaker draft errors toasts known />
                <KindCard kind=NotificationKind::CostAlert draft errors toasts known />
            </I18nContextProvider>
        }
        .to_html()
    });
    for id in [
        "field-costAlert-webhookUrl",
        "test-costAlert",
        "kind-targets-costAlert",
        "bound-targets-empty",
        "pick-target-costAlert",
        "field-costAlert-newTarget-webhookUrl",
        "field-costAlert-newTarget-name",
        "create-target-costAlert",
    ] {
        assert!(html.contains(&format!("data-testid=\"{id}\"")), "{id} in {html}");
    }
    assert!(
        !html.contains("kind-targets-circuitBreaker"),
        "a kind that is off shows no targets"
    );
}
