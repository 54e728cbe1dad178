//! The quick way to a target: a pasted webhook URL, its platform told by the URL, a name made
//! up until one is typed. Used where targets are picked for something (a kind on 消息推送).
use leptos::prelude::*;

use crate::api::targets::create_push_target;
use crate::components::form::{failure_text, problem_text, TextField};
use crate::components::targets::{channel_name, DetectedBadge};
use crate::components::toast::{ToastKind, Toasts};
use crate::i18n::{t, t_string, use_i18n};
use crate::notifications::FieldErrors;
use crate::targets::{ChannelKind, PushTargetInput, PushTargetView};

/// The channels a pasted URL may be given here: those a URL alone sets up (a signed webhook's
/// generated secret, Telegram and custom templates need the 推送目标 page).
const PASTE_CHANNELS: [ChannelKind; 5] = [
    ChannelKind::Wecom,
    ChannelKind::Feishu,
    ChannelKind::Dingtalk,
    ChannelKind::Slack,
    ChannelKind::Discord,
];

/// The target a pasted URL makes.
fn pasted_target(name: &str, channel: Option<ChannelKind>, url: &str) -> Result<PushTargetInput, FieldErrors> {
    let input = PushTargetInput {
        channel,
        webhook_url: Some(url.to_owned()),
        ..PushTargetInput::named(name)
    }
    .normalized();
    input.validate(None).map(|_| input)
}

/// A new target from a pasted URL, where targets are picked for something (a kind on 消息推送):
/// the badge says which platform it is, the name defaults to `<platform> · <purpose>`, and the
/// target created goes to `on_created`. `key` names its test ids and error paths
/// (`<key>.newTarget.<field>`).
#[component]
pub fn QuickAddTarget(
    key: &'static str,
    #[prop(into)] purpose: Signal<String>,
    #[prop(into)] disabled: Signal<bool>,
    on_created: Callback<PushTargetView>,
    toasts: Toasts,
) -> impl IntoView {
    let i18n = use_i18n();
    let master_off = move || disabled.get();
    let url = RwSignal::new(String::new());
    let picked = RwSignal::new(None::<ChannelKind>);
    // `None` until the admin types a name of their own.
    let typed_name = RwSignal::new(None::<String>);
    let channel = move || picked.get().or_else(|| url.with(|u| ChannelKind::detect(u)));
    let default_name = move || {
        let platform = channel().map_or_else(|| "Webhook".to_owned(), |c| channel_name(i18n, c));
        format!("{platform} · {}", purpose.get())
    };
    let name = move || typed_name.get().unwrap_or_else(default_name);
    let errors = RwSignal::new(FieldErrors::default());
    let prefix = format!("{key}.newTarget.");
    let prefixed = {
        let prefix = prefix.clone();
        move |found: FieldErrors| {
            FieldErrors(
                found
                    .0
                    .into_iter()
                    .map(|(path, p)| (format!("{prefix}{path}"), p))
                    .collect(),
            )
        }
    };

    let create = Action::new(move |input: &PushTargetInput| create_push_target(input.clone()));
    let prefixed_on_error = prefixed.clone();
    Effect::new(move |_| {
        let Some(result) = create.value().get() else { return };
        match result {
            Ok(target) => {
                on_created.run(target);
                url.set(String::new());
                picked.set(None);
                typed_name.set(None);
                errors.set(FieldErrors::default());
            }
            Err(crate::error::AppError::Validation(found)) => {
                errors.set(prefixed_on_error(found));
                toasts.push(
                    ToastKind::Error,
                    t_string!(i18n, toast_target_create_failed).to_string(),
                );
            }
            Err(e) => toasts.push(
                ToastKind::Error,
                format!(
                    "{}: {}",
                    t_string!(i18n, toast_target_create_failed),
                    failure_text(i18n, &e)
                ),
            ),
        }
    });
    let submit = move |_| match pasted_target(&name(), channel(), &url.get_untracked()) {
        Ok(input) => {
            errors.set(FieldErrors::default());
            create.dispatch(input);
        }
        Err(found) => errors.set(prefixed(found)),
    };
    let channel_path = format!("{prefix}channel");
    view! {
        <div class="field-row new-target" data-testid=format!("new-target-{key}")>
            <TextField
                label=move || t!(i18n, kind_target_new_url).into_any()
                hint=move || view! {
                    <DetectedBadge url test_id=format!("detected-{key}") />
                }.into_any()
                path=format!("{prefix}webhookUrl")
                input_type="url"
                placeholder="https://…"
                value=url
                on_input=move |v| url.set(v)
                disabled=Signal::derive(master_off)
                errors
            />
            <PasteChannelSelect key picked error=Signal::derive(move || errors.with(|e| e.get(&channel_path).cloned())) disabled />
            <TextField
                label=move || t!(i18n, kind_target_new_name).into_any()
                hint=|| ().into_any()
                path=format!("{prefix}name")
                input_type="text"
                value=Signal::derive(name)
                on_input=move |v| typed_name.set(Some(v))
                disabled=Signal::derive(master_off)
                errors
            />
            <button
                type="button"
                class="btn btn-ghost test-button"
                data-testid=format!("create-target-{key}")
                disabled=move || master_off() || create.pending().get() || url.with(|u| u.trim().is_empty())
                on:click=submit
            >
                {t!(i18n, kind_target_create)}
            </button>
        </div>
    }
}

/// The platform of a pasted URL: told by its host (自动识别), or picked.
#[component]
fn PasteChannelSelect(
    key: &'static str,
    picked: RwSignal<Option<ChannelKind>>,
    error: Signal<Option<crate::notifications::FieldProblem>>,
    disabled: Signal<bool>,
) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <div class="field" class:has-error=move || error.with(Option::is_some)>
            <label class="field-label" for=format!("new-target-channel-{key}")>{t!(i18n, field_channel)}</label>
            <select
                id=format!("new-target-channel-{key}")
                data-testid=format!("new-target-channel-{key}")
                disabled=move || disabled.get()
                on:change=move |ev| picked.set(ChannelKind::from_key(&event_target_value(&ev)))
            >
                <option value="" selected=move || picked.get().is_none() prop:selected=move || picked.get().is_none()>
                    {t!(i18n, channel_auto)}
                </option>
                {PASTE_CHANNELS
                    .into_iter()
                    .map(|c| {
                        let on = move || picked.get() == Some(c);
                        view! { <option value=c.key() selected=on prop:selected=on>{move || channel_name(i18n, c)}</option> }
                    })
                    .collect_view()}
            </select>
            <span class="field-error" role="alert">
                {move || error.get().map(|p| problem_text(i18n, &p))}
            </span>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notifications::FieldProblem;

    #[test]
    fn a_pasted_url_makes_a_target_of_its_platform() {
        let url = "https://oapi.dingtalk.com/robot/send?access_token=t";
        let input = pasted_target(" 钉钉 · 成本预警 ", None, url).unwrap();
        assert_eq!(
            (input.name.as_str(), input.webhook_url.as_deref()),
            ("钉钉 · 成本预警", Some(url))
        );
        let errors = pasted_target("x", None, "http://127.0.0.1:9/ok").unwrap_err();
        assert_eq!(errors.get("channel"), Some(&FieldProblem::ChannelRequired));
        assert!(pasted_target("x", Some(ChannelKind::Wecom), "http://127.0.0.1:9/ok").is_ok());
    }
}
