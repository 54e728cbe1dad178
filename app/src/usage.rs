//! Consumption per quota window (用户, 供应商 and the dashboard): the shapes shared by the pages,
//! the server functions and the server, and the one validation of quotas and circuit-breaker
//! settings that the pages, the server functions and the REST API all use.
//!
//! Amounts travel as decimal strings (`"12.3456"`), so the wasm needs no decimal crate.
use serde::{Deserialize, Serialize};

use crate::notifications::{FieldErrors, FieldProblem};
use crate::session::Role;

/// A quota window: 5 小时 (rolling), 今日 (cut as [`DailyReset`] says), 本周 (from Monday),
/// 本月 — calendar windows in `APP_TIMEZONE`, as the cost check counts them — and 累计 (all
/// usage stored).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum UsageWindow {
    #[serde(rename = "5h")]
    FiveHours,
    Day,
    Week,
    Month,
    Total,
}

impl UsageWindow {
    /// Every window, in the order pages, the API and alerts list them.
    pub const ALL: [UsageWindow; 5] = [
        UsageWindow::FiveHours,
        UsageWindow::Day,
        UsageWindow::Week,
        UsageWindow::Month,
        UsageWindow::Total,
    ];
    /// The windows a user's (and an API key's) page shows even without a quota.
    pub const USER: [UsageWindow; 4] = [
        UsageWindow::FiveHours,
        UsageWindow::Day,
        UsageWindow::Week,
        UsageWindow::Month,
    ];
    /// The windows a provider's page shows even without a quota (a gateway may set the others).
    pub const PROVIDER: [UsageWindow; 2] = [UsageWindow::Week, UsageWindow::Month];

    /// The JSON name, also used in test ids (`usage-5h`).
    pub fn key(self) -> &'static str {
        match self {
            UsageWindow::FiveHours => "5h",
            UsageWindow::Day => "day",
            UsageWindow::Week => "week",
            UsageWindow::Month => "month",
            UsageWindow::Total => "total",
        }
    }
}

/// Where a daily quota's day begins (Claude Code Hub's `daily_reset_mode` and
/// `daily_reset_time`): at a fixed local time every day (00:00: the calendar day), or the last
/// 24 hours.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", tag = "mode")]
pub enum DailyReset {
    /// At this many minutes after local midnight; written `"time": "HH:MM"` as the gateway does.
    Fixed {
        #[serde(rename = "time", with = "hh_mm")]
        #[cfg_attr(feature = "ssr", schema(value_type = String, example = "00:00"))]
        minute: u16,
    },
    Rolling,
}

/// Minutes after midnight as `HH:MM`.
mod hh_mm {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub(super) fn text(minute: u16) -> String {
        format!("{:02}:{:02}", minute / 60, minute % 60)
    }

    pub(super) fn serialize<S: Serializer>(minute: &u16, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&text(*minute))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u16, D::Error> {
        let text = String::deserialize(d)?;
        match super::DailyReset::fixed_at(&text) {
            Some(super::DailyReset::Fixed { minute }) => Ok(minute),
            _ => Err(D::Error::custom(format!("`{text}` is not a time of day (HH:MM)"))),
        }
    }
}

impl Default for DailyReset {
    fn default() -> Self {
        DailyReset::MIDNIGHT
    }
}

impl DailyReset {
    pub const MIDNIGHT: DailyReset = DailyReset::Fixed { minute: 0 };

    /// `HH:MM` as Claude Code Hub writes it; `None` when it is not a time of day.
    pub fn fixed_at(hh_mm: &str) -> Option<DailyReset> {
        let (h, m) = hh_mm.trim().split_once(':')?;
        let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
        (h < 24 && m < 60).then_some(DailyReset::Fixed { minute: h * 60 + m })
    }

    /// The local time a fixed day begins at (`18:00`).
    pub fn time_of_day(self) -> Option<String> {
        match self {
            DailyReset::Fixed { minute } => Some(hh_mm::text(minute)),
            DailyReset::Rolling => None,
        }
    }
}

/// How close spending is to its limit, as the cost alert grades it: green below 80 %, yellow
/// from 80 %, red from 90 % (of the exact ratio).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UsageLevel {
    Green,
    Yellow,
    Red,
}

impl UsageLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            UsageLevel::Green => "green",
            UsageLevel::Yellow => "yellow",
            UsageLevel::Red => "red",
        }
    }
}

/// Spending in one window against its limit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WindowUsage {
    pub window: UsageWindow,
    /// How the day is cut (for [`UsageWindow::Day`]; midnight otherwise).
    #[serde(default)]
    pub reset: DailyReset,
    /// USD, 4 decimals.
    pub spent_usd: String,
    /// USD, 4 decimals; `None` = no quota.
    pub limit_usd: Option<String>,
    /// `spent / limit × 100`; `None` without a quota.
    pub percent: Option<f64>,
    /// From the exact ratio (so it agrees with the cost alert); `None` without a quota.
    pub level: Option<UsageLevel>,
}

/// Where usage, and the users and providers it names, come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// `POST /api/v1/usage`: a gateway reporting in Hub Notify's own shape.
    Http,
    /// LiteLLM's proxy, through its `generic_api` callback (`POST /api/v1/ingest/litellm`).
    Litellm,
    /// Claude Code Hub's database (`CCH_DATABASE_URL`).
    Cch,
}

impl Source {
    pub const ALL: [Source; 3] = [Source::Http, Source::Litellm, Source::Cch];

    /// The name stored and shown (`source` columns, API, metrics labels).
    pub fn key(self) -> &'static str {
        match self {
            Source::Http => "http",
            Source::Litellm => "litellm",
            Source::Cch => "cch",
        }
    }

    pub fn from_key(key: &str) -> Option<Source> {
        Source::ALL.into_iter().find(|s| s.key() == key)
    }

    /// The gateway's own name for people.
    pub fn product(self) -> &'static str {
        match self {
            Source::Http => "HTTP",
            Source::Litellm => "LiteLLM",
            Source::Cch => "Claude Code Hub",
        }
    }
}

/// Where a user or provider comes from, and whether its settings are the gateway's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Origin {
    pub source: Source,
    /// The id it has there (LiteLLM's user id or deployment hash, Claude Code Hub's id);
    /// `None` when the source names it by the id shown here.
    pub source_id: Option<String>,
    /// Kept in step with the gateway, which owns its quotas and settings: change them there.
    pub read_only: bool,
    pub state: EntityState,
}

impl Default for Origin {
    fn default() -> Self {
        Origin {
            source: Source::Http,
            source_id: None,
            read_only: false,
            state: EntityState::Active,
        }
    }
}

/// Whether the gateway still uses a user or provider. Only active ones are checked for cost
/// alerts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum EntityState {
    Active,
    /// Disabled in the gateway.
    Disabled,
    /// Deleted in the gateway (its usage is kept).
    Deleted,
}

impl EntityState {
    pub fn as_str(self) -> &'static str {
        match self {
            EntityState::Active => "active",
            EntityState::Disabled => "disabled",
            EntityState::Deleted => "deleted",
        }
    }
}

/// A gateway user, its quotas and its spending per window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserUsage {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub origin: Origin,
    pub quotas: UserQuotaInput,
    /// The windows of the list (`UsageWindow::USER` and those some user has a quota in), in
    /// `UsageWindow::ALL` order: the same for every row.
    pub windows: Vec<WindowUsage>,
    pub today: DayActivity,
}

/// An API key a gateway gave one of its users (Claude Code Hub's): its spending per window
/// against its own quotas. Read-only: the gateway keeps it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyUsage {
    pub id: i64,
    pub name: String,
    pub owner_id: i64,
    pub owner_name: String,
    pub origin: Origin,
    /// The windows of the list, as [`UserUsage::windows`].
    pub windows: Vec<WindowUsage>,
    pub today: DayActivity,
}

/// Requests and tokens of today (in `APP_TIMEZONE`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct DayActivity {
    pub requests: i64,
    pub tokens: i64,
}

/// A provider's circuit as the gateway sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CircuitState {
    Closed,
    Open,
    HalfOpen,
}

impl CircuitState {
    pub fn as_str(self) -> &'static str {
        match self {
            CircuitState::Closed => "CLOSED",
            CircuitState::Open => "OPEN",
            CircuitState::HalfOpen => "HALF_OPEN",
        }
    }
}

/// A gateway provider: quotas, breaker settings, circuit and spending per window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderUsage {
    pub id: i64,
    pub name: String,
    pub origin: Origin,
    pub settings: ProviderInput,
    pub circuit_state: CircuitState,
    pub consecutive_failures: u32,
    /// While OPEN: when requests may be tried again (RFC 3339).
    pub open_until: Option<String>,
    /// The windows of the list (`UsageWindow::PROVIDER` and those some provider has a quota
    /// in), in `UsageWindow::ALL` order: the same for every row.
    pub windows: Vec<WindowUsage>,
    pub today: DayActivity,
}

/// A user's quotas as edited: USD amounts as typed; `None` (or blank) = no quota.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserQuotaInput {
    pub limit_5h_usd: Option<String>,
    pub limit_daily_usd: Option<String>,
    pub limit_weekly_usd: Option<String>,
    pub limit_monthly_usd: Option<String>,
}

/// A provider's circuit-breaker settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BreakerConfig {
    pub failure_threshold: i64,
    pub open_duration_ms: i64,
    pub half_open_success_threshold: i64,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            failure_threshold: 5,
            open_duration_ms: 30 * 60 * 1000,
            half_open_success_threshold: 2,
        }
    }
}

impl BreakerConfig {
    /// Brought within the ranges this project accepts (a gateway's own settings may lie outside
    /// them: a threshold of 0, an open duration of days).
    pub fn clamped(self) -> BreakerConfig {
        let clamp = |v: i64, (min, max): (i32, i32)| v.clamp(i64::from(min), i64::from(max));
        BreakerConfig {
            failure_threshold: clamp(self.failure_threshold, FAILURE_THRESHOLD_RANGE),
            open_duration_ms: clamp(self.open_duration_ms, OPEN_DURATION_MS_RANGE),
            half_open_success_threshold: clamp(self.half_open_success_threshold, HALF_OPEN_SUCCESS_RANGE),
        }
    }
}

/// A provider's quotas and breaker settings as edited.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderInput {
    pub limit_weekly_usd: Option<String>,
    pub limit_monthly_usd: Option<String>,
    pub circuit_breaker: BreakerConfig,
}

pub const FAILURE_THRESHOLD_RANGE: (i32, i32) = (1, 100);
/// 1 s to 24 h.
pub const OPEN_DURATION_MS_RANGE: (i32, i32) = (1000, 86_400_000);
pub const HALF_OPEN_SUCCESS_RANGE: (i32, i32) = (1, 10);
/// Quotas are below 1e10 USD (the column is NUMERIC(14, 4)).
const MAX_INTEGER_DIGITS: usize = 10;
pub const MAX_AMOUNT_DECIMALS: usize = 4;

/// An amount as typed: trimmed, and blank = `None`.
fn normalized_amount(value: &Option<String>) -> Option<String> {
    value.as_ref().map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// A quota amount: digits with at most 4 decimals, above zero and below 1e10.
pub fn check_amount(text: &str) -> Result<(), FieldProblem> {
    let (integer, fraction) = match text.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (text, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let well_formed = digits(integer) && fraction.is_none_or(digits);
    let significant = integer.trim_start_matches('0');
    let positive = text.bytes().any(|b| (b'1'..=b'9').contains(&b));
    if well_formed
        && positive
        && significant.len() <= MAX_INTEGER_DIGITS
        && fraction.is_none_or(|f| f.len() <= MAX_AMOUNT_DECIMALS)
    {
        Ok(())
    } else {
        Err(FieldProblem::Amount)
    }
}

fn check_amounts<'a>(errors: &mut FieldErrors, fields: impl IntoIterator<Item = (&'static str, &'a Option<String>)>) {
    for (path, value) in fields {
        if let Some(Err(problem)) = value.as_deref().map(check_amount) {
            errors.insert(path.into(), problem);
        }
    }
}

/// A whole-number setting within its inclusive range.
pub fn check_in_range(value: i64, (min, max): (i32, i32)) -> Result<(), FieldProblem> {
    if (i64::from(min)..=i64::from(max)).contains(&value) {
        Ok(())
    } else {
        Err(FieldProblem::OutOfRange { min, max })
    }
}

fn check_range(errors: &mut FieldErrors, path: &str, value: i64, range: (i32, i32)) {
    if let Err(problem) = check_in_range(value, range) {
        errors.insert(path.into(), problem);
    }
}

impl UserQuotaInput {
    /// Trimmed, blank amounts as `None`.
    pub fn normalized(&self) -> Self {
        UserQuotaInput {
            limit_5h_usd: normalized_amount(&self.limit_5h_usd),
            limit_daily_usd: normalized_amount(&self.limit_daily_usd),
            limit_weekly_usd: normalized_amount(&self.limit_weekly_usd),
            limit_monthly_usd: normalized_amount(&self.limit_monthly_usd),
        }
    }

    /// The normalized quotas, or one problem per invalid field keyed by its JSON path
    /// (`limitDailyUsd`).
    pub fn validate(&self) -> Result<Self, FieldErrors> {
        let q = self.normalized();
        let mut errors = FieldErrors::default();
        check_amounts(
            &mut errors,
            [
                ("limit5hUsd", &q.limit_5h_usd),
                ("limitDailyUsd", &q.limit_daily_usd),
                ("limitWeeklyUsd", &q.limit_weekly_usd),
                ("limitMonthlyUsd", &q.limit_monthly_usd),
            ],
        );
        if errors.is_empty() {
            Ok(q)
        } else {
            Err(errors)
        }
    }

    /// The limit of a window.
    pub fn limit(&self, window: UsageWindow) -> Option<&str> {
        match window {
            UsageWindow::FiveHours => self.limit_5h_usd.as_deref(),
            UsageWindow::Day => self.limit_daily_usd.as_deref(),
            UsageWindow::Week => self.limit_weekly_usd.as_deref(),
            UsageWindow::Month => self.limit_monthly_usd.as_deref(),
            // Set only by a gateway (read-only here).
            UsageWindow::Total => None,
        }
    }
}

impl ProviderInput {
    pub fn normalized(&self) -> Self {
        ProviderInput {
            limit_weekly_usd: normalized_amount(&self.limit_weekly_usd),
            limit_monthly_usd: normalized_amount(&self.limit_monthly_usd),
            circuit_breaker: self.circuit_breaker,
        }
    }

    /// The normalized settings, or one problem per invalid field keyed by its JSON path
    /// (`limitWeeklyUsd`, `circuitBreaker.failureThreshold`).
    pub fn validate(&self) -> Result<Self, FieldErrors> {
        let p = self.normalized();
        let mut errors = FieldErrors::default();
        check_amounts(
            &mut errors,
            [
                ("limitWeeklyUsd", &p.limit_weekly_usd),
                ("limitMonthlyUsd", &p.limit_monthly_usd),
            ],
        );
        let cb = &p.circuit_breaker;
        check_range(
            &mut errors,
            "circuitBreaker.failureThreshold",
            cb.failure_threshold,
            FAILURE_THRESHOLD_RANGE,
        );
        check_range(
            &mut errors,
            "circuitBreaker.openDurationMs",
            cb.open_duration_ms,
            OPEN_DURATION_MS_RANGE,
        );
        check_range(
            &mut errors,
            "circuitBreaker.halfOpenSuccessThreshold",
            cb.half_open_success_threshold,
            HALF_OPEN_SUCCESS_RANGE,
        );
        if errors.is_empty() {
            Ok(p)
        } else {
            Err(errors)
        }
    }
}

/// `"2.5000"` → `"2.5"`, `"10.0000"` → `"10"`: an amount as an admin would type it.
pub fn trim_amount(amount: &str) -> String {
    if amount.contains('.') {
        amount.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        amount.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems<T>(r: Result<T, FieldErrors>) -> Vec<String> {
        match r {
            Ok(_) => vec![],
            Err(e) => e.0.into_keys().collect(),
        }
    }

    #[test]
    fn a_daily_reset_is_written_as_the_gateway_writes_it() {
        let evening = DailyReset::fixed_at("18:30").unwrap();
        let json = serde_json::to_value(evening).unwrap();
        assert_eq!(json, serde_json::json!({"mode": "fixed", "time": "18:30"}));
        assert_eq!(serde_json::from_value::<DailyReset>(json).unwrap(), evening);
        assert_eq!(
            serde_json::to_value(DailyReset::Rolling).unwrap(),
            serde_json::json!({"mode": "rolling"})
        );
        for bad in ["24:00", "7", "07:60", "x"] {
            assert!(
                serde_json::from_value::<DailyReset>(serde_json::json!({"mode": "fixed", "time": bad})).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn amounts() {
        for ok in ["1", "0.0001", "2.5", "150.1234", "9999999999.9999", "007", "10.0"] {
            assert_eq!(check_amount(ok), Ok(()), "{ok}");
        }
        for bad in [
            "0",
            "0.0000",
            "-1",
            "1.23456",
            "10000000000",
            "1e3",
            "abc",
            ".5",
            "5.",
            "1,5",
            "+1",
            " 1",
            "",
        ] {
            assert_eq!(check_amount(bad), Err(FieldProblem::Amount), "{bad:?}");
        }
    }

    #[test]
    fn user_quotas_are_trimmed_and_checked_per_field() {
        let input = UserQuotaInput {
            limit_5h_usd: Some(" 2.5 ".into()),
            limit_daily_usd: Some("   ".into()),
            limit_weekly_usd: None,
            limit_monthly_usd: Some("150".into()),
        };
        let valid = input.validate().unwrap();
        assert_eq!(valid.limit_5h_usd.as_deref(), Some("2.5"));
        assert_eq!(valid.limit_daily_usd, None);
        let bad = UserQuotaInput {
            limit_5h_usd: Some("-1".into()),
            limit_daily_usd: Some("0".into()),
            limit_weekly_usd: Some("1.23456".into()),
            limit_monthly_usd: None,
        };
        assert_eq!(
            problems(bad.validate()),
            vec!["limit5hUsd", "limitDailyUsd", "limitWeeklyUsd"]
        );
    }

    #[test]
    fn breaker_ranges() {
        let mut p = ProviderInput::default();
        assert_eq!(problems(p.validate()), Vec::<String>::new());
        p.circuit_breaker = BreakerConfig {
            failure_threshold: 0,
            open_duration_ms: 999,
            half_open_success_threshold: 11,
        };
        p.limit_monthly_usd = Some("x".into());
        assert_eq!(
            problems(p.validate()),
            vec![
                "circuitBreaker.failureThreshold",
                "circuitBreaker.halfOpenSuccessThreshold",
                "circuitBreaker.openDurationMs",
                "limitMonthlyUsd"
            ]
        );
        p.circuit_breaker = BreakerConfig {
            failure_threshold: 100,
            open_duration_ms: 86_400_000,
            half_open_success_threshold: 10,
        };
        p.limit_monthly_usd = None;
        assert_eq!(problems(p.validate()), Vec::<String>::new());
    }

    #[test]
    fn a_gateways_breaker_settings_are_brought_within_range() {
        let odd = BreakerConfig {
            failure_threshold: 0,
            open_duration_ms: 7 * 86_400_000,
            half_open_success_threshold: 50,
        };
        assert_eq!(
            odd.clamped(),
            BreakerConfig {
                failure_threshold: 1,
                open_duration_ms: 86_400_000,
                half_open_success_threshold: 10,
            }
        );
        assert_eq!(BreakerConfig::default().clamped(), BreakerConfig::default());
    }

    #[test]
    fn json_shape() {
        let json = serde_json::to_value(UserQuotaInput {
            limit_5h_usd: Some("1".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            json,
            serde_json::json!({"limit5hUsd": "1", "limitDailyUsd": null, "limitWeeklyUsd": null, "limitMonthlyUsd": null})
        );
        assert_eq!(serde_json::to_value(UsageWindow::FiveHours).unwrap(), "5h");
        assert_eq!(serde_json::to_value(CircuitState::HalfOpen).unwrap(), "HALF_OPEN");
    }

    #[test]
    fn trimmed_amounts() {
        assert_eq!(trim_amount("2.5000"), "2.5");
        assert_eq!(trim_amount("10.0000"), "10");
        assert_eq!(trim_amount("100"), "100");
    }
}
