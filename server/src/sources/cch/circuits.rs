//! With `CCH_REDIS_URL`, Claude Code Hub's own circuit breakers are followed instead of computed
//! here: CCH keeps each provider's in its Redis (hash `circuit_breaker:state:{providerId}`, no
//! prefix, fields `circuitState` = `closed` / `open` / `half-open`, `failureCount`,
//! `circuitOpenUntil` in epoch ms; gone a day after its last change, which reads as closed). At
//! every poll each mirrored provider's hash is read and taken as its breaker here
//! ([`crate::usage::ingest::Ingestor::follow_circuit`]), so 供应商熔断告警 and its recovery fire
//! when CCH's breaker opens and closes — a manual reset in CCH included — and pages and the
//! circuit API show CCH's state.
use std::time::Duration;

use app::usage::CircuitState;
use chrono::{TimeZone, Utc};
use fred::prelude::*;

use crate::platform::redis::{builder, first_connection};
use crate::usage::breaker::Observed;

/// The fields read, in this order.
const FIELDS: [&str; 3] = ["circuitState", "failureCount", "circuitOpenUntil"];

/// CCH's key of a provider's breaker.
pub fn key(cch_id: &str) -> String {
    format!("circuit_breaker:state:{cch_id}")
}

/// A connection to CCH's Redis.
pub struct CchCircuits {
    client: Client,
}

impl CchCircuits {
    pub async fn connect(url: &str) -> Result<Self, fred::error::Error> {
        let client = builder(Config::from_url(url)?, Duration::from_secs(5)).build()?;
        first_connection(client.init()).await?;
        Ok(CchCircuits { client })
    }

    /// The breakers of the providers CCH knows by `cch_ids`, in that order, in one round trip.
    pub async fn read(&self, cch_ids: &[&str]) -> Result<Vec<Observed>, fred::error::Error> {
        if cch_ids.is_empty() {
            return Ok(Vec::new());
        }
        let pipeline = self.client.pipeline();
        for id in cch_ids {
            let () = pipeline.hmget(key(id), FIELDS.to_vec()).await?;
        }
        let replies: Vec<Value> = pipeline.all().await?;
        Ok(replies
            .into_iter()
            .map(|reply| {
                let fields: Vec<Option<String>> = reply.convert().unwrap_or_default();
                observed(&fields)
            })
            .collect())
    }

    pub async fn close(self) {
        let _ = self.client.quit().await;
    }
}

/// A hash's fields as a breaker; a hash that is missing or unreadable is a closed breaker.
pub fn observed(fields: &[Option<String>]) -> Observed {
    let field = |i: usize| fields.get(i).and_then(|f| f.as_deref()).map(str::trim);
    let state = match field(0) {
        Some("open") => CircuitState::Open,
        Some("half-open") => CircuitState::HalfOpen,
        _ => CircuitState::Closed,
    };
    let failures = field(1).and_then(|f| f.parse::<u32>().ok()).unwrap_or(0);
    let open_until = field(2)
        .and_then(|f| f.parse::<i64>().ok())
        .filter(|ms| *ms > 0)
        .and_then(|ms| Utc.timestamp_millis_opt(ms).single());
    Observed {
        state,
        failures,
        open_until: open_until.filter(|_| state == CircuitState::Open),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(state: Option<&str>, failures: Option<&str>, until: Option<&str>) -> Vec<Option<String>> {
        [state, failures, until].map(|f| f.map(str::to_owned)).to_vec()
    }

    #[test]
    fn cch_hashes_read_as_breakers() {
        let open = observed(&fields(Some("open"), Some("5"), Some("1767225600000")));
        assert_eq!(open.state, CircuitState::Open);
        assert_eq!(open.failures, 5);
        assert_eq!(open.open_until.unwrap().timestamp_millis(), 1_767_225_600_000);
        let half = observed(&fields(Some("half-open"), Some("0"), Some("1767225600000")));
        assert_eq!((half.state, half.open_until), (CircuitState::HalfOpen, None));
        // Gone (its day passed) or never written: closed.
        assert_eq!(observed(&fields(None, None, None)).state, CircuitState::Closed);
        let reset = observed(&fields(Some("closed"), Some("0"), Some("null")));
        assert_eq!(
            (reset.state, reset.failures, reset.open_until),
            (CircuitState::Closed, 0, None)
        );
    }
}
