//! LiteLLM's proxy, through its `generic_api` callback: every request's `StandardLoggingPayload`,
//! POSTed in batches — a JSON array (`log_format: json_array`, the default), one JSON object a
//! line (`ndjson`) or one object a request (`single`) — to `POST /api/v1/ingest/litellm`.
//!
//! Each payload becomes one usage event:
//! - request: `litellm_call_id` (stable across LiteLLM's own retries of the POST);
//! - user: `metadata.user_api_key_user_id`, unless it is `default_user_id` (what a proxy without
//!   a database puts on every request), else `end_user` (the request's `user`), else the virtual
//!   key's alias, else `default_user_id` itself: usage is never dropped for want of a name;
//! - provider: the deployment (`model_id`), so that a breaker opens per deployment as LiteLLM's
//!   own cooldowns do, named by its `model_group` and where it sends (`api_base`'s host, else
//!   `custom_llm_provider`);
//! - tokens: `prompt_tokens` counts cache reads and writes (OpenAI's meaning), so input is
//!   `prompt_tokens` less both, read from `metadata.usage_object`
//!   (`cache_read_input_tokens` / `cache_creation_input_tokens`, or OpenAI's
//!   `prompt_tokens_details.cached_tokens`);
//! - outcome: `status`; the HTTP status 200 on success, `error_information.error_code` on failure.
//!
//! A successful event with tokens but `response_cost` 0 is LiteLLM not knowing the model's price:
//! it is stored (its tokens are real) and counted as **unpriced**, since every cost figure would
//! under-count it until the price is added to LiteLLM.
use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, TimeZone, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;
use utoipa::ToSchema;

use super::activity::Outcome;
use super::identities::Entity;
use super::{Source, Sources};
use crate::usage::event::UsageEvent;
use crate::usage::ingest::{RejectedEvent, MAX_BATCH};

/// What a proxy without a database names every user.
pub const DEFAULT_USER: &str = "default_user_id";
/// Prefix of our request ids, so a LiteLLM call id cannot meet another source's request id.
const REQUEST_PREFIX: &str = "litellm:";

/// Why a body is not a batch at all (nothing is stored).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BodyError {
    #[error("the body is empty")]
    Empty,
    #[error("the body is not JSON, a JSON array or JSON lines ({0})")]
    NotJson(String),
    #[error("expected LiteLLM's logging payloads (JSON objects), got {0}")]
    NotEvents(&'static str),
    #[error("at most {MAX_BATCH} events per request, got {0}")]
    TooMany(usize),
}

/// A payload read, or why one is not an event (with its `litellm_call_id`, when it has one).
type Read = Result<Payload, (Option<String>, String)>;

/// The payloads of a body in any of the callback's three formats. A payload is ~13 KB (LiteLLM
/// sends the model's whole price entry with each) of which a handful of fields are read: a batch
/// is read in one pass into those fields; only a batch with a payload that does not read is gone
/// through again, payload by payload, to keep the others.
fn read(body: &[u8]) -> Result<Vec<Read>, BodyError> {
    let body = body.trim_ascii();
    if body.is_empty() {
        return Err(BodyError::Empty);
    }
    if body.starts_with(b"[") {
        if let Ok(all) = serde_json::from_slice::<Vec<Payload>>(body) {
            if all.len() > MAX_BATCH {
                return Err(BodyError::TooMany(all.len()));
            }
            return Ok(all.into_iter().map(Ok).collect());
        }
    }
    let text = std::str::from_utf8(body).map_err(|e| BodyError::NotJson(e.to_string()))?;
    Ok(payloads(text)?.into_iter().map(|raw| read_one(raw.get())).collect())
}

/// One payload, or why it does not read, naming the field (`startTime: invalid type: …`).
fn read_one(text: &str) -> Read {
    serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_str(text))
        .map_err(|e| (call_id(text), format!("{}: {}", e.path(), e.inner())))
}

/// The payloads of a body (not empty), each still JSON text.
fn payloads(text: &str) -> Result<Vec<&RawValue>, BodyError> {
    let values: Vec<&RawValue> = if text.starts_with('[') {
        serde_json::from_str(text).map_err(|e| BodyError::NotJson(e.to_string()))?
    } else {
        match serde_json::from_str::<&RawValue>(text) {
            Ok(one) => vec![one],
            // Not one JSON value: JSON lines (`ndjson`).
            Err(whole) => text
                .lines()
                .filter(|line| !line.trim().is_empty())
                .enumerate()
                .map(|(i, line)| {
                    serde_json::from_str::<&RawValue>(line).map_err(|e| {
                        BodyError::NotJson(if i == 0 {
                            whole.to_string()
                        } else {
                            format!("line {}: {e}", i + 1)
                        })
                    })
                })
                .collect::<Result<_, _>>()?,
        }
    };
    if values.len() > MAX_BATCH {
        return Err(BodyError::TooMany(values.len()));
    }
    if let Some(other) = values.iter().find(|v| !v.get().starts_with('{')) {
        return Err(BodyError::NotEvents(json_kind(other.get())));
    }
    Ok(values)
}

/// What kind of JSON value a text that is not an object holds.
fn json_kind(text: &str) -> &'static str {
    match text.as_bytes().first() {
        Some(b'n') => "null",
        Some(b't' | b'f') => "a boolean",
        Some(b'"') => "a string",
        Some(b'[') => "an array",
        Some(b'{') => "an object",
        _ => "a number",
    }
}

/// The fields of a `StandardLoggingPayload` read here (LiteLLM sends many more).
#[derive(Debug, Deserialize)]
struct Payload {
    litellm_call_id: Option<String>,
    status: String,
    #[serde(rename = "startTime")]
    start_time: f64,
    model: String,
    model_group: Option<String>,
    model_id: Option<String>,
    api_base: Option<String>,
    custom_llm_provider: Option<String>,
    #[serde(default)]
    response_cost: Option<f64>,
    #[serde(default)]
    prompt_tokens: Option<i64>,
    #[serde(default)]
    completion_tokens: Option<i64>,
    #[serde(default)]
    metadata: Option<Metadata>,
    end_user: Option<String>,
    error_str: Option<String>,
    error_information: Option<ErrorInformation>,
}

#[derive(Debug, Default, Deserialize)]
struct Metadata {
    user_api_key_user_id: Option<String>,
    user_api_key_alias: Option<String>,
    usage_object: Option<UsageObject>,
}

#[derive(Debug, Default, Deserialize)]
struct UsageObject {
    cache_read_input_tokens: Option<i64>,
    cache_creation_input_tokens: Option<i64>,
    prompt_tokens_details: Option<PromptTokensDetails>,
}

#[derive(Debug, Default, Deserialize)]
struct PromptTokensDetails {
    cached_tokens: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
struct ErrorInformation {
    error_code: Option<Value>,
}

/// A payload as one of our events, its user and provider still named by LiteLLM.
#[derive(Debug, PartialEq)]
pub struct Mapped {
    /// The event, with user and provider ids still 0.
    pub event: UsageEvent,
    pub user_ref: String,
    pub provider_ref: String,
    pub unpriced: bool,
}

fn text(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

/// At most 200 characters, as every stored name.
fn name(text: &str) -> String {
    text.trim().chars().take(200).collect()
}

/// One payload as an event, or why it cannot be one.
fn map(p: Payload) -> Result<Mapped, String> {
    let call_id = text(p.litellm_call_id.as_deref()).ok_or("litellm_call_id is missing")?;
    let success = match p.status.as_str() {
        "success" => true,
        "failure" => false,
        other => return Err(format!("status must be success or failure, got {other:?}")),
    };
    let metadata = p.metadata.unwrap_or_default();
    let user_ref = text(metadata.user_api_key_user_id.as_deref())
        .filter(|u| *u != DEFAULT_USER)
        .or(text(p.end_user.as_deref()))
        .or(text(metadata.user_api_key_alias.as_deref()))
        .unwrap_or(DEFAULT_USER);
    let group = text(p.model_group.as_deref()).unwrap_or(p.model.as_str());
    let provider_ref = text(p.model_id.as_deref()).unwrap_or(group);
    let host = text(p.api_base.as_deref())
        .and_then(|base| url::Url::parse(base).ok())
        .and_then(|u| u.host_str().map(str::to_owned));
    let route = host.or_else(|| text(p.custom_llm_provider.as_deref()).map(str::to_owned));
    let provider_name = match route {
        Some(route) => format!("{group} · {route}"),
        None => group.to_owned(),
    };
    let usage = metadata.usage_object.unwrap_or_default();
    let cache_read = usage
        .cache_read_input_tokens
        .or(usage.prompt_tokens_details.and_then(|d| d.cached_tokens))
        .unwrap_or(0)
        .max(0);
    let cache_creation = usage.cache_creation_input_tokens.unwrap_or(0).max(0);
    let prompt = p.prompt_tokens.unwrap_or(0);
    let output = p.completion_tokens.unwrap_or(0);
    let cost = p.response_cost.unwrap_or(0.0);
    if !cost.is_finite() || cost < 0.0 {
        return Err(format!("response_cost must be a cost in USD, got {cost}"));
    }
    let created_at = timestamp(p.start_time).ok_or_else(|| format!("startTime {} is not a time", p.start_time))?;
    let status_code = if success {
        Some(200)
    } else {
        p.error_information
            .and_then(|e| e.error_code)
            .and_then(|code| match code {
                Value::String(s) => s.trim().parse::<i32>().ok(),
                Value::Number(n) => n.as_i64().and_then(|n| i32::try_from(n).ok()),
                _ => None,
            })
            .filter(|code| (100..=599).contains(code))
    };
    let event = UsageEvent {
        request_id: format!("{REQUEST_PREFIX}{call_id}"),
        user_id: 0,
        user_name: name(user_ref),
        provider_id: 0,
        provider_name: name(&provider_name),
        model: name(&p.model),
        cost_usd: Decimal::try_from(cost).map_err(|e| format!("response_cost {cost}: {e}"))?,
        input_tokens: (prompt - cache_read - cache_creation).max(0),
        output_tokens: output,
        cache_creation_input_tokens: cache_creation,
        cache_read_input_tokens: cache_read,
        success,
        status_code,
        error: if success {
            None
        } else {
            text(p.error_str.as_deref()).map(str::to_owned)
        },
        created_at,
        key_id: None,
    };
    Ok(Mapped {
        unpriced: success && cost == 0.0 && prompt + output > 0,
        event,
        user_ref: name(user_ref),
        provider_ref: name(provider_ref),
    })
}

/// Epoch seconds (LiteLLM's `startTime`) as a time, to the microsecond.
fn timestamp(seconds: f64) -> Option<DateTime<Utc>> {
    let micros = (seconds * 1e6).round();
    // Finite, and from 1970 to the year 9999: it fits an i64 whole.
    if !(0.0..253_402_300_800e6).contains(&micros) {
        return None;
    }
    #[allow(clippy::cast_possible_truncation)]
    Utc.timestamp_micros(micros as i64).single()
}

/// The `litellm_call_id` of a payload that is not an event, to name it by.
fn call_id(raw: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Id {
        litellm_call_id: Option<String>,
    }
    serde_json::from_str::<Id>(raw).ok()?.litellm_call_id
}

/// What a LiteLLM batch came to.
#[derive(Debug, Default, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LiteLlmReport {
    /// New events stored.
    pub accepted: usize,
    /// Events stored before (LiteLLM sent the batch again), or repeated in this one: ignored.
    pub duplicates: usize,
    /// Of the accepted, those without a price (`response_cost` 0 with tokens).
    pub unpriced: usize,
    /// Events that are not usage, with their index and `litellm_call_id` (`requestId`).
    pub rejected: Vec<RejectedEvent>,
}

impl Sources {
    /// Stores a body the callback POSTed: the valid events of it (the proxy drops a whole batch
    /// on any 4xx, so one bad event must not lose the rest).
    pub async fn ingest_litellm(&self, body: &[u8]) -> Result<LiteLlmReport, IngestError> {
        let payloads = read(body)?;
        let mut rejected = Vec::new();
        let mut mapped = Vec::with_capacity(payloads.len());
        for (index, payload) in payloads.into_iter().enumerate() {
            let call_id = match &payload {
                Ok(p) => p.litellm_call_id.clone(),
                Err((id, _)) => id.clone(),
            };
            match payload.map_err(|(_, reason)| reason).and_then(map) {
                Ok(m) => mapped.push((index, m)),
                Err(reason) => rejected.push(RejectedEvent {
                    index,
                    request_id: call_id,
                    reason,
                }),
            }
        }
        let users: BTreeMap<&str, &str> = mapped
            .iter()
            .map(|(_, m)| (m.user_ref.as_str(), m.event.user_name.as_str()))
            .collect();
        let providers: BTreeMap<&str, &str> = mapped
            .iter()
            .map(|(_, m)| (m.provider_ref.as_str(), m.event.provider_name.as_str()))
            .collect();
        let (user_ids, provider_ids) = tokio::try_join!(
            self.identities.resolve(Source::Litellm, Entity::User, &users),
            self.identities.resolve(Source::Litellm, Entity::Provider, &providers),
        )?;
        let mut events = Vec::with_capacity(mapped.len());
        let mut unpriced_ids = HashSet::new();
        for (index, m) in mapped {
            let mut event = m.event;
            event.user_id = user_ids[&m.user_ref];
            event.provider_id = provider_ids[&m.provider_ref];
            let call_id = event.request_id.trim_start_matches(REQUEST_PREFIX).to_owned();
            match event.checked() {
                Ok(event) => {
                    if m.unpriced {
                        unpriced_ids.insert(event.request_id.clone());
                    }
                    events.push(event);
                }
                Err(reason) => rejected.push(RejectedEvent {
                    index,
                    request_id: Some(call_id),
                    reason,
                }),
            }
        }
        rejected.sort_by_key(|r| r.index);
        let ingested = self.ingestor.ingest_valid(events).await?;
        let unpriced: Vec<String> = ingested
            .new
            .iter()
            .map(|i| &ingested.events[*i])
            .filter(|e| unpriced_ids.contains(&e.request_id))
            .map(|e| {
                format!(
                    "{} on {}: {} tokens, response_cost 0 — add the model's price to LiteLLM",
                    e.model,
                    e.provider_name,
                    e.tokens()
                )
            })
            .collect();
        self.record(
            Source::Litellm,
            &ingested,
            &Outcome {
                accepted: ingested.new.len(),
                duplicates: ingested.duplicates,
                rejected: &rejected,
                unpriced: &unpriced,
                ..Outcome::default()
            },
        )
        .await;
        Ok(LiteLlmReport {
            accepted: ingested.new.len(),
            duplicates: ingested.duplicates,
            unpriced: unpriced.len(),
            rejected,
        })
    }
}

/// Why a LiteLLM body was not stored.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Body(#[from] BodyError),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A batch LiteLLM 1.108.7 sent (tracebacks shortened): a priced mock success, a mock 429,
    /// and a success from an OpenAI-compatible deployment LiteLLM has no price for, whose usage
    /// has 1,000 cached tokens.
    fn captured() -> Vec<Value> {
        serde_json::from_str(include_str!("../../tests/fixtures/litellm/batch.json")).unwrap()
    }

    /// One payload as an event, from its JSON.
    fn map(raw: Value) -> Result<Mapped, String> {
        super::map(serde_json::from_value(raw).map_err(|e| e.to_string())?)
    }

    /// Each payload's call id, or the reason it did not read.
    fn ids(body: &[u8]) -> Result<Vec<Result<Option<String>, String>>, BodyError> {
        Ok(read(body)?
            .into_iter()
            .map(|r| r.map(|p| p.litellm_call_id).map_err(|(_, e)| e))
            .collect())
    }

    #[test]
    fn the_three_formats_and_what_is_not_a_batch() {
        let mut one = captured()[0].clone();
        one["litellm_call_id"] = json!("a");
        let mut two = captured()[1].clone();
        two["litellm_call_id"] = json!("b");
        let both = [Ok(Some("a".to_owned())), Ok(Some("b".to_owned()))];
        assert_eq!(ids(json!([one, two]).to_string().as_bytes()).unwrap(), both);
        assert_eq!(ids(one.to_string().as_bytes()).unwrap(), [Ok(Some("a".to_owned()))]);
        assert_eq!(ids(format!("{one}\n{two}\n").as_bytes()).unwrap(), both);
        assert_eq!(ids(b" \n").unwrap_err(), BodyError::Empty);
        assert!(matches!(ids(b"not json").unwrap_err(), BodyError::NotJson(_)));
        assert!(matches!(
            ids(format!("{one}\n{{broken").as_bytes()).unwrap_err(),
            BodyError::NotJson(e) if e.starts_with("line 2")
        ));
        assert_eq!(ids(b"[1, 2]").unwrap_err(), BodyError::NotEvents("a number"));
        assert_eq!(ids(b"[{}, null]").unwrap_err(), BodyError::NotEvents("null"));
        assert_eq!(ids(b"\"text\"").unwrap_err(), BodyError::NotEvents("a string"));
        assert!(matches!(ids(b"\xff\xfe").unwrap_err(), BodyError::NotJson(_)));
        let many = serde_json::to_vec(&vec![json!({}); MAX_BATCH + 1]).unwrap();
        assert_eq!(ids(&many).unwrap_err(), BodyError::TooMany(MAX_BATCH + 1));
        let full = serde_json::to_vec(&vec![one.clone(); MAX_BATCH + 1]).unwrap();
        assert_eq!(ids(&full).unwrap_err(), BodyError::TooMany(MAX_BATCH + 1));
    }

    #[test]
    fn a_payload_that_does_not_read_is_named_and_the_others_kept() {
        let mut bad = captured()[1].clone();
        bad["startTime"] = json!("yesterday");
        let read = ids(json!([captured()[0], bad, captured()[2]]).to_string().as_bytes()).unwrap();
        assert_eq!(read[0], Ok(Some("ecca1788-1174-4e5c-9b61-3b18e6b0699f".to_owned())));
        let reason = read[1].as_ref().unwrap_err();
        assert!(
            reason.starts_with("startTime: invalid type: string \"yesterday\""),
            "{reason}"
        );
        assert_eq!(read[2], Ok(Some("046040bd-d008-4167-9517-cd5e877110bd".to_owned())));
    }

    #[test]
    fn a_priced_success_of_a_proxy_without_a_database_is_the_end_users() {
        let m = map(captured()[0].clone()).unwrap();
        assert_eq!(m.user_ref, "alice@example.com", "default_user_id is passed over");
        assert_eq!(
            m.provider_ref,
            "20e81b418352109907873c7e31b0cba21e68b343a6508ceac50b15a6c46601da"
        );
        let e = &m.event;
        assert_eq!(e.request_id, "litellm:ecca1788-1174-4e5c-9b61-3b18e6b0699f");
        assert_eq!(e.provider_name, "mock-ok · openai");
        assert_eq!(e.model, "openai/gpt-4o-mini");
        assert_eq!(e.cost_usd, Decimal::new(135, 7));
        assert_eq!((e.input_tokens, e.output_tokens), (10, 20));
        assert_eq!((e.cache_read_input_tokens, e.cache_creation_input_tokens), (0, 0));
        assert_eq!((e.success, e.status_code, e.error.as_deref()), (true, Some(200), None));
        assert_eq!(e.created_at.timestamp_micros(), 1_796_607_489_257_209);
        assert!(!m.unpriced);
    }

    #[test]
    fn a_failure_carries_its_http_status_and_error() {
        let m = map(captured()[1].clone()).unwrap();
        let e = &m.event;
        assert_eq!(e.provider_name, "mock-fail · anthropic");
        assert_eq!((e.success, e.status_code), (false, Some(429)));
        assert_eq!(
            e.error.as_deref(),
            Some("litellm.RateLimitError: this is a mock rate limit error")
        );
        assert_eq!(e.cost_usd, Decimal::ZERO);
        assert!(!m.unpriced, "a failure has nothing to price");
    }

    #[test]
    fn cached_tokens_are_taken_out_of_the_prompt_and_a_zero_cost_is_unpriced() {
        let m = map(captured()[2].clone()).unwrap();
        let e = &m.event;
        assert_eq!(e.provider_name, "fake-cached · 127.0.0.1");
        // prompt_tokens 1,200 of which prompt_tokens_details.cached_tokens 1,000.
        assert_eq!(
            (e.input_tokens, e.cache_read_input_tokens, e.output_tokens),
            (200, 1000, 30)
        );
        assert_eq!(e.tokens(), 1230, "the total is LiteLLM's total_tokens");
        assert!(m.unpriced);
    }

    #[test]
    fn anthropic_cache_reads_and_writes_both_come_out_of_the_prompt() {
        let mut raw = captured()[0].clone();
        raw["prompt_tokens"] = json!(1000);
        raw["metadata"]["usage_object"] =
            json!({"prompt_tokens": 1000, "cache_read_input_tokens": 300, "cache_creation_input_tokens": 50});
        let e = map(raw).unwrap().event;
        assert_eq!(
            (e.input_tokens, e.cache_read_input_tokens, e.cache_creation_input_tokens),
            (650, 300, 50)
        );
    }

    #[test]
    fn the_user_is_the_keys_user_then_the_end_user_then_the_keys_alias() {
        let with = |user_id: Value, end_user: Value, alias: Value| {
            let mut raw = captured()[0].clone();
            raw["metadata"]["user_api_key_user_id"] = user_id;
            raw["end_user"] = end_user;
            raw["metadata"]["user_api_key_alias"] = alias;
            map(raw).unwrap().user_ref
        };
        assert_eq!(with(json!("u-42"), json!("bob"), json!("key-a")), "u-42");
        assert_eq!(with(json!("default_user_id"), json!("bob"), json!("key-a")), "bob");
        assert_eq!(with(json!(null), json!(""), json!("key-a")), "key-a");
        assert_eq!(with(json!("default_user_id"), json!(null), json!(null)), DEFAULT_USER);
    }

    #[test]
    fn what_is_not_a_usage_event_says_why() {
        let mut raw = captured()[0].clone();
        raw["litellm_call_id"] = Value::Null;
        assert_eq!(map(raw).unwrap_err(), "litellm_call_id is missing");
        let mut raw = captured()[0].clone();
        raw["status"] = json!("pending");
        assert_eq!(
            map(raw).unwrap_err(),
            "status must be success or failure, got \"pending\""
        );
        let mut raw = captured()[0].clone();
        raw["response_cost"] = json!(-1.0);
        assert!(map(raw).unwrap_err().starts_with("response_cost must be"));
        let mut raw = captured()[0].clone();
        raw.as_object_mut().unwrap().remove("startTime");
        assert!(map(raw).unwrap_err().contains("startTime"));
    }
}
