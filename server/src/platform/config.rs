//! Configuration from the environment (and `.env`, loaded by `main`). Every variable is listed
//! in docs/operations.md (Configuration) with its default. A missing or malformed value is
//! reported as one line naming it.
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use crate::platform::encryption::{SecretsKey, SecretsKeys};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{0} is not set (see docs/operations.md: Configuration)")]
    Missing(&'static str),
    #[error("{name} is invalid: {problem}")]
    Invalid { name: &'static str, problem: String },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppEnv {
    Production,
    Development,
}

/// A value that must never reach a log: `Debug` prints a placeholder.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Sends allowed per window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    pub sends: u32,
    pub window: Duration,
}

/// What `WEBHOOK_RATE_LIMIT` asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendBudget {
    /// Unset: each webhook gets its platform's own budget.
    PlatformDefault,
    /// `off`.
    Unlimited,
    /// `N/S`: the same budget for every webhook.
    Limit(RateLimit),
}

impl SendBudget {
    /// `N/S`: N sends per S seconds (N 1–10000, S 1–3600); `off` for no limit.
    pub fn parse(raw: &str) -> Result<SendBudget, String> {
        if raw.eq_ignore_ascii_case("off") {
            return Ok(SendBudget::Unlimited);
        }
        let (sends, seconds) = raw
            .split_once('/')
            .ok_or_else(|| format!("expected sends/seconds such as 20/60, or off; got {raw:?}"))?;
        let sends: u32 = sends
            .trim()
            .parse()
            .ok()
            .filter(|n| (1..=10_000).contains(n))
            .ok_or_else(|| format!("sends must be 1 to 10000, got {sends:?}"))?;
        let seconds: u64 = seconds
            .trim()
            .parse()
            .ok()
            .filter(|n| (1..=3600).contains(n))
            .ok_or_else(|| format!("seconds must be 1 to 3600, got {seconds:?}"))?;
        Ok(SendBudget::Limit(RateLimit {
            sends,
            window: Duration::from_secs(seconds),
        }))
    }
}

#[derive(Clone, Debug)]
pub struct DatabaseConfig {
    pub url: Secret,
    pub max_connections: u32,
    /// How long taking a connection from the pool may wait, connecting included.
    pub acquire_timeout: Duration,
}

impl DatabaseConfig {
    /// [`DatabaseConfig::acquire_timeout`] unless set otherwise (not from the environment).
    pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
}

#[derive(Clone, Debug)]
pub struct RedisConfig {
    pub url: Secret,
    pub key_prefix: String,
    pub pool_size: usize,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub database: DatabaseConfig,
    pub redis: RedisConfig,
    pub admin_token: Secret,
    /// Seals the secrets kept in the database (`SECRETS_KEY`, and `SECRETS_KEY_PREVIOUS` while
    /// rotating away from it).
    pub secrets: SecretsKeys,
    pub app_env: AppEnv,
    pub timezone: chrono_tz::Tz,
    pub site_addr: SocketAddr,
    pub cookie_secure: bool,
    pub session_ttl: Duration,
    /// Private targets an admin opened on purpose (`WEBHOOK_ALLOWLIST`), as given: the SSRF
    /// guard owns its syntax and parses it at startup.
    pub webhook_allowlist: String,
    /// `WEBHOOK_TIMEOUT_SECS`; unset = the webhook client's default.
    pub webhook_timeout: Option<Duration>,
    /// `WEBHOOK_CA_FILE`: PEM certificates trusted besides the public roots (a private CA of
    /// self-hosted receivers, Bot API servers or proxies); read at startup.
    pub webhook_ca_file: Option<std::path::PathBuf>,
    /// Webhook calls one process makes at once (`DELIVERY_CONCURRENCY`).
    pub delivery_concurrency: usize,
    /// How long a delivery job stays claimed without a sign of life from its worker; a job of a
    /// dead worker is taken again after this (`DELIVERY_LOCK_TTL_SECS`).
    pub delivery_lock_ttl: Duration,
    /// Finished delivery history older than this is deleted (`DELIVERY_HISTORY_DAYS`).
    pub delivery_history_retention: Duration,
    /// When set, `/metrics` requires `Authorization: Bearer <METRICS_TOKEN>`.
    pub metrics_token: Option<Secret>,
    /// The gateway's bearer token for `POST /api/v1/usage` (`INGEST_TOKEN`); unset = ingest off.
    pub ingest_token: Option<Secret>,
    /// Repeated circuit-breaker alerts for one provider are suppressed for this long
    /// (`BREAKER_ALERT_COOLDOWN_SECS`); unset = the breaker alerts' default.
    pub breaker_alert_cooldown: Option<Duration>,
    /// Sends per webhook and window (`WEBHOOK_RATE_LIMIT`).
    pub webhook_rate_limit: SendBudget,
    /// Claude Code Hub's database to read usage from; unset = no CCH source.
    pub cch: Option<CchConfig>,
}

/// The Claude Code Hub source: `CCH_DATABASE_URL`, `CCH_POLL_INTERVAL`, `CCH_REDIS_URL`.
#[derive(Clone, Debug)]
pub struct CchConfig {
    /// CCH's PostgreSQL (a role that may read its tables is enough).
    pub database_url: Secret,
    pub poll_interval: Duration,
    /// CCH's Redis, whose circuit breakers are followed instead of computed here.
    pub redis_url: Option<Secret>,
}

pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/hub_notify";
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379/0";
/// The admin token must be long enough that guessing it is hopeless.
pub const MIN_ADMIN_TOKEN_LEN: usize = 16;

type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

fn get(lookup: Lookup, name: &str) -> Option<String> {
    lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

fn parse_num<T>(lookup: Lookup, name: &'static str, default: T, range: (T, T)) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd + fmt::Display + Copy,
{
    Ok(parse_opt_num(lookup, name, range)?.unwrap_or(default))
}

/// A number in `range`, or `None` when the variable is unset.
fn parse_opt_num<T>(lookup: Lookup, name: &'static str, range: (T, T)) -> Result<Option<T>, ConfigError>
where
    T: std::str::FromStr + PartialOrd + fmt::Display + Copy,
{
    let Some(raw) = get(lookup, name) else {
        return Ok(None);
    };
    let value: T = raw.parse().map_err(|_| ConfigError::Invalid {
        name,
        problem: format!("expected a number, got {raw:?}"),
    })?;
    if value < range.0 || value > range.1 {
        return Err(ConfigError::Invalid {
            name,
            problem: format!("{value} is outside {}..={}", range.0, range.1),
        });
    }
    Ok(Some(value))
}

fn parse_bool(lookup: Lookup, name: &'static str) -> Result<Option<bool>, ConfigError> {
    match get(lookup, name).map(|v| v.to_ascii_lowercase()).as_deref() {
        None => Ok(None),
        Some("1" | "true" | "yes" | "on") => Ok(Some(true)),
        Some("0" | "false" | "no" | "off") => Ok(Some(false)),
        Some(other) => Err(ConfigError::Invalid {
            name,
            problem: format!("expected true or false, got {other:?}"),
        }),
    }
}

fn parse_url(lookup: Lookup, name: &'static str, default: &str, schemes: &[&str]) -> Result<Secret, ConfigError> {
    Ok(parse_opt_url(lookup, name, schemes)?.unwrap_or_else(|| Secret(default.to_owned())))
}

/// A URL with one of `schemes`, or `None` when the variable is unset.
fn parse_opt_url(lookup: Lookup, name: &'static str, schemes: &[&str]) -> Result<Option<Secret>, ConfigError> {
    let Some(raw) = get(lookup, name) else {
        return Ok(None);
    };
    let parsed = url::Url::parse(&raw).map_err(|e| ConfigError::Invalid {
        name,
        problem: format!("not a URL ({e})"),
    })?;
    if !schemes.contains(&parsed.scheme()) {
        return Err(ConfigError::Invalid {
            name,
            problem: format!("scheme must be one of {}", schemes.join(", ")),
        });
    }
    Ok(Some(Secret(raw)))
}

const POSTGRES_SCHEMES: &[&str] = &["postgres", "postgresql"];
const REDIS_SCHEMES: &[&str] = &["redis", "rediss", "redis+unix"];

impl CchConfig {
    /// `CCH_DATABASE_URL` switches the source on; `CCH_POLL_INTERVAL` and `CCH_REDIS_URL` need it.
    fn from_lookup(lookup: Lookup) -> Result<Option<Self>, ConfigError> {
        let poll_interval = parse_opt_num(lookup, "CCH_POLL_INTERVAL", (1, 300))?;
        let redis_url = parse_opt_url(lookup, "CCH_REDIS_URL", REDIS_SCHEMES)?;
        let Some(database_url) = parse_opt_url(lookup, "CCH_DATABASE_URL", POSTGRES_SCHEMES)? else {
            let needless = if poll_interval.is_some() {
                Some("CCH_POLL_INTERVAL")
            } else if redis_url.is_some() {
                Some("CCH_REDIS_URL")
            } else {
                None
            };
            return match needless {
                Some(name) => Err(ConfigError::Invalid {
                    name,
                    problem: "has no effect without CCH_DATABASE_URL".into(),
                }),
                None => Ok(None),
            };
        };
        Ok(Some(CchConfig {
            database_url,
            poll_interval: Duration::from_secs(poll_interval.unwrap_or(2)),
            redis_url,
        }))
    }
}

impl DatabaseConfig {
    pub fn from_lookup(lookup: Lookup) -> Result<Self, ConfigError> {
        Ok(DatabaseConfig {
            url: parse_url(lookup, "DATABASE_URL", DEFAULT_DATABASE_URL, POSTGRES_SCHEMES)?,
            max_connections: parse_num(lookup, "DATABASE_MAX_CONNECTIONS", 10, (1, 1000))?,
            acquire_timeout: Self::ACQUIRE_TIMEOUT,
        })
    }
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(&|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: Lookup) -> Result<Self, ConfigError> {
        let app_env = match get(lookup, "APP_ENV").as_deref() {
            None | Some("development") => AppEnv::Development,
            Some("production") => AppEnv::Production,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    name: "APP_ENV",
                    problem: format!("expected \"production\" or \"development\", got {other:?}"),
                })
            }
        };
        let admin_token = get(lookup, "ADMIN_TOKEN").ok_or(ConfigError::Missing("ADMIN_TOKEN"))?;
        if admin_token.chars().count() < MIN_ADMIN_TOKEN_LEN {
            return Err(ConfigError::Invalid {
                name: "ADMIN_TOKEN",
                problem: format!("must be at least {MIN_ADMIN_TOKEN_LEN} characters"),
            });
        }
        let secrets_key = |name: &'static str| {
            get(lookup, name)
                .map(|raw| {
                    SecretsKey::parse(&raw).map_err(|e| ConfigError::Invalid {
                        name,
                        problem: e.to_string(),
                    })
                })
                .transpose()
        };
        let secrets = SecretsKeys {
            current: secrets_key("SECRETS_KEY")?.ok_or(ConfigError::Missing("SECRETS_KEY"))?,
            previous: secrets_key("SECRETS_KEY_PREVIOUS")?,
        };
        let timezone = match get(lookup, "APP_TIMEZONE") {
            None => chrono_tz::Asia::Shanghai,
            Some(raw) => raw.parse().map_err(|_| ConfigError::Invalid {
                name: "APP_TIMEZONE",
                problem: format!("{raw:?} is not an IANA time zone name (e.g. Asia/Shanghai)"),
            })?,
        };
        let site_addr = match get(lookup, "LEPTOS_SITE_ADDR") {
            None => SocketAddr::from(([127, 0, 0, 1], 3000)),
            Some(raw) => raw.parse().map_err(|_| ConfigError::Invalid {
                name: "LEPTOS_SITE_ADDR",
                problem: format!("expected host:port such as 127.0.0.1:3000, got {raw:?}"),
            })?,
        };
        let key_prefix = get(lookup, "REDIS_KEY_PREFIX").unwrap_or_else(|| "hub-notify:".to_owned());
        Ok(Config {
            database: DatabaseConfig::from_lookup(lookup)?,
            redis: RedisConfig {
                url: parse_url(lookup, "REDIS_URL", DEFAULT_REDIS_URL, REDIS_SCHEMES)?,
                key_prefix,
                pool_size: parse_num(lookup, "REDIS_POOL_SIZE", 4, (1, 256))?,
            },
            admin_token: Secret(admin_token),
            secrets,
            app_env,
            timezone,
            site_addr,
            cookie_secure: parse_bool(lookup, "COOKIE_SECURE")?.unwrap_or(app_env == AppEnv::Production),
            session_ttl: Duration::from_secs(3600 * parse_num(lookup, "SESSION_TTL_HOURS", 12u64, (1, 24 * 90))?),
            webhook_allowlist: get(lookup, "WEBHOOK_ALLOWLIST").unwrap_or_default(),
            webhook_timeout: parse_opt_num(lookup, "WEBHOOK_TIMEOUT_SECS", (1, 120))?.map(Duration::from_secs),
            webhook_ca_file: get(lookup, "WEBHOOK_CA_FILE").map(std::path::PathBuf::from),
            delivery_concurrency: parse_num(lookup, "DELIVERY_CONCURRENCY", 8, (1, 256))?,
            delivery_lock_ttl: Duration::from_secs(parse_num(lookup, "DELIVERY_LOCK_TTL_SECS", 30, (1, 3600))?),
            delivery_history_retention: Duration::from_secs(
                86_400 * parse_num(lookup, "DELIVERY_HISTORY_DAYS", 30u64, (1, 3650))?,
            ),
            metrics_token: get(lookup, "METRICS_TOKEN").map(Secret),
            ingest_token: match get(lookup, "INGEST_TOKEN") {
                Some(t) if t.chars().count() < MIN_ADMIN_TOKEN_LEN => {
                    return Err(ConfigError::Invalid {
                        name: "INGEST_TOKEN",
                        problem: format!("must be at least {MIN_ADMIN_TOKEN_LEN} characters"),
                    })
                }
                other => other.map(Secret),
            },
            breaker_alert_cooldown: parse_opt_num(lookup, "BREAKER_ALERT_COOLDOWN_SECS", (0, 86_400))?
                .map(Duration::from_secs),
            webhook_rate_limit: match get(lookup, "WEBHOOK_RATE_LIMIT") {
                None => SendBudget::PlatformDefault,
                Some(raw) => SendBudget::parse(&raw).map_err(|problem| ConfigError::Invalid {
                    name: "WEBHOOK_RATE_LIMIT",
                    problem,
                })?,
            },
            cch: CchConfig::from_lookup(lookup)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// 32 bytes of 0x01, base64.
    const KEY: &str = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";

    /// The configuration of `vars`, with a valid SECRETS_KEY unless `vars` set their own.
    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let mut map: HashMap<String, String> = HashMap::from([("SECRETS_KEY".to_owned(), KEY.to_owned())]);
        map.extend(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Config::from_lookup(&move |name| map.get(name).cloned())
    }

    const TOKEN: (&str, &str) = ("ADMIN_TOKEN", "0123456789abcdef");

    #[test]
    fn the_cch_source_is_on_with_its_database_and_its_poll_interval_needs_it() {
        assert!(config(&[TOKEN]).unwrap().cch.is_none());
        let c = config(&[TOKEN, ("CCH_DATABASE_URL", "postgres://reader@cch-db/cch")])
            .unwrap()
            .cch
            .unwrap();
        assert_eq!(c.database_url.expose(), "postgres://reader@cch-db/cch");
        assert_eq!(c.poll_interval, Duration::from_secs(2));
        let c = config(&[
            TOKEN,
            ("CCH_DATABASE_URL", "postgres://reader@cch-db/cch"),
            ("CCH_POLL_INTERVAL", "5"),
        ])
        .unwrap()
        .cch
        .unwrap();
        assert_eq!(c.poll_interval, Duration::from_secs(5));
        assert!(c.redis_url.is_none());
        let c = config(&[
            TOKEN,
            ("CCH_DATABASE_URL", "postgres://reader@cch-db/cch"),
            ("CCH_REDIS_URL", "redis://cch-redis:6379/0"),
        ])
        .unwrap()
        .cch
        .unwrap();
        assert_eq!(c.redis_url.unwrap().expose(), "redis://cch-redis:6379/0");
        for (vars, name) in [
            (vec![("CCH_POLL_INTERVAL", "5")], "CCH_POLL_INTERVAL"),
            (vec![("CCH_REDIS_URL", "redis://x:6379")], "CCH_REDIS_URL"),
            (
                vec![("CCH_DATABASE_URL", "postgres://x/y"), ("CCH_REDIS_URL", "http://x")],
                "CCH_REDIS_URL",
            ),
            (vec![("CCH_DATABASE_URL", "mysql://x/y")], "CCH_DATABASE_URL"),
            (
                vec![("CCH_DATABASE_URL", "postgres://x/y"), ("CCH_POLL_INTERVAL", "0")],
                "CCH_POLL_INTERVAL",
            ),
        ] {
            let mut all = vars.clone();
            all.push(TOKEN);
            match config(&all) {
                Err(ConfigError::Invalid { name: n, .. }) => assert_eq!(n, name, "{vars:?}"),
                other => panic!("{vars:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn defaults() {
        let c = config(&[TOKEN]).unwrap();
        assert_eq!(c.app_env, AppEnv::Development);
        assert_eq!(c.timezone, chrono_tz::Asia::Shanghai);
        assert_eq!(c.site_addr.to_string(), "127.0.0.1:3000");
        assert_eq!(c.database.url.expose(), DEFAULT_DATABASE_URL);
        assert_eq!(c.redis.url.expose(), DEFAULT_REDIS_URL);
        assert_eq!(c.redis.key_prefix, "hub-notify:");
        assert!(!c.cookie_secure);
        assert_eq!(c.session_ttl, Duration::from_secs(12 * 3600));
        assert!(c.webhook_allowlist.is_empty());
        assert_eq!(c.webhook_timeout, None);
        assert_eq!(c.delivery_concurrency, 8);
        assert_eq!(c.delivery_lock_ttl, Duration::from_secs(30));
        assert_eq!(c.delivery_history_retention, Duration::from_secs(30 * 86_400));
        assert!(c.metrics_token.is_none());
        assert!(c.ingest_token.is_none());
        assert_eq!(c.breaker_alert_cooldown, None);
        assert_eq!(c.webhook_rate_limit, SendBudget::PlatformDefault);
        assert_eq!(c.secrets.current.id(), SecretsKey::parse(KEY).unwrap().id());
        assert!(c.secrets.previous.is_none());
        assert!(!format!("{c:?}").contains(KEY), "Debug never shows the key");
        let other = SecretsKey::generate();
        let rotating = config(&[TOKEN, ("SECRETS_KEY_PREVIOUS", &other)]).unwrap();
        assert_eq!(
            rotating.secrets.previous.map(|k| k.id().to_owned()),
            Some(SecretsKey::parse(&other).unwrap().id().to_owned())
        );
        assert_eq!(
            config(&[TOKEN, ("WEBHOOK_RATE_LIMIT", "off")])
                .unwrap()
                .webhook_rate_limit,
            SendBudget::Unlimited
        );
        assert_eq!(
            config(&[TOKEN, ("WEBHOOK_RATE_LIMIT", "5/10"), ("WEBHOOK_TIMEOUT_SECS", "3")])
                .unwrap()
                .webhook_rate_limit,
            SendBudget::Limit(RateLimit {
                sends: 5,
                window: Duration::from_secs(10)
            })
        );
    }

    #[test]
    fn production_makes_cookies_secure_unless_overridden() {
        assert!(config(&[TOKEN, ("APP_ENV", "production")]).unwrap().cookie_secure);
        let c = config(&[TOKEN, ("APP_ENV", "production"), ("COOKIE_SECURE", "false")]).unwrap();
        assert!(!c.cookie_secure);
    }

    #[test]
    fn each_bad_value_names_its_variable() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[], "ADMIN_TOKEN is not set"),
            (&[("ADMIN_TOKEN", "short")], "ADMIN_TOKEN is invalid"),
            (&[TOKEN, ("APP_ENV", "prod")], "APP_ENV is invalid"),
            (&[TOKEN, ("APP_TIMEZONE", "Mars/Base")], "APP_TIMEZONE is invalid"),
            (
                &[TOKEN, ("LEPTOS_SITE_ADDR", "localhost")],
                "LEPTOS_SITE_ADDR is invalid",
            ),
            (&[TOKEN, ("DATABASE_URL", "mysql://x")], "DATABASE_URL is invalid"),
            (&[TOKEN, ("REDIS_URL", "not a url")], "REDIS_URL is invalid"),
            (
                &[TOKEN, ("DATABASE_MAX_CONNECTIONS", "0")],
                "DATABASE_MAX_CONNECTIONS is invalid",
            ),
            (&[TOKEN, ("COOKIE_SECURE", "maybe")], "COOKIE_SECURE is invalid"),
            (&[TOKEN, ("SESSION_TTL_HOURS", "x")], "SESSION_TTL_HOURS is invalid"),
            (
                &[TOKEN, ("DELIVERY_CONCURRENCY", "0")],
                "DELIVERY_CONCURRENCY is invalid",
            ),
            (
                &[TOKEN, ("DELIVERY_LOCK_TTL_SECS", "-1")],
                "DELIVERY_LOCK_TTL_SECS is invalid",
            ),
            (
                &[TOKEN, ("DELIVERY_HISTORY_DAYS", "0")],
                "DELIVERY_HISTORY_DAYS is invalid",
            ),
            (&[TOKEN, ("WEBHOOK_RATE_LIMIT", "20")], "WEBHOOK_RATE_LIMIT is invalid"),
            // Empty is unset.
            (&[TOKEN, ("SECRETS_KEY", "")], "SECRETS_KEY is not set"),
            (
                &[TOKEN, ("SECRETS_KEY", "c2hvcnQ=")],
                "SECRETS_KEY is invalid: must be 32 bytes",
            ),
            (
                &[TOKEN, ("SECRETS_KEY_PREVIOUS", "not base64!")],
                "SECRETS_KEY_PREVIOUS is invalid",
            ),
        ];
        for (vars, expected) in cases {
            let err = config(vars).unwrap_err().to_string();
            assert!(err.starts_with(expected), "{vars:?}: got {err:?}");
            assert!(!err.contains('\n'), "one line: {err:?}");
        }
    }

    #[test]
    fn limits_parse_or_say_what_is_wrong() {
        assert_eq!(
            SendBudget::parse("20/60"),
            Ok(SendBudget::Limit(RateLimit {
                sends: 20,
                window: Duration::from_secs(60)
            }))
        );
        assert_eq!(SendBudget::parse("OFF"), Ok(SendBudget::Unlimited));
        assert_eq!(
            SendBudget::parse(" 3 / 1 "),
            Ok(SendBudget::Limit(RateLimit {
                sends: 3,
                window: Duration::from_secs(1)
            }))
        );
        for bad in ["20", "0/60", "20/0", "x/60", "20/3601", "20/60/1"] {
            assert!(SendBudget::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn secrets_do_not_debug_print() {
        let c = config(&[("ADMIN_TOKEN", "super-secret-admin-token")]).unwrap();
        assert!(!format!("{c:?}").contains("super-secret-admin-token"));
    }
}
