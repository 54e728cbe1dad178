//! The sources' metrics on `/metrics`: events by source and outcome, and how far behind each
//! source's newest event arrived. Counters are per process, as Prometheus expects.
use std::sync::Arc;

use prometheus::{Encoder, GaugeVec, IntCounterVec, Opts, Registry, TextEncoder};

use super::activity::Outcome;
use super::Source;

#[derive(Clone)]
pub struct SourceMetrics(Arc<Inner>);

struct Inner {
    registry: Registry,
    events: IntCounterVec,
    lag: GaugeVec,
}

impl Default for SourceMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl SourceMetrics {
    pub fn new() -> Self {
        let registry = Registry::new_custom(Some("hub_notify".into()), None).expect("valid prefix");
        let events = IntCounterVec::new(
            Opts::new(
                "source_events_total",
                "Usage events by source and outcome (accepted, duplicate, revised, rejected, unpriced: accepted without a price)",
            ),
            &["source", "outcome"],
        )
        .expect("valid metric");
        let lag = GaugeVec::new(
            Opts::new(
                "source_lag_seconds",
                "How long before its arrival the newest event of a source's latest batch happened",
            ),
            &["source"],
        )
        .expect("valid metric");
        registry.register(Box::new(events.clone())).expect("registered once");
        registry.register(Box::new(lag.clone())).expect("registered once");
        SourceMetrics(Arc::new(Inner { registry, events, lag }))
    }

    pub(super) fn count(&self, source: Source, outcome: &Outcome<'_>) {
        for (label, n) in [
            ("accepted", outcome.accepted),
            ("duplicate", outcome.duplicates),
            ("revised", outcome.revised),
            ("rejected", outcome.rejected.len()),
            ("unpriced", outcome.unpriced.len()),
        ] {
            self.0
                .events
                .with_label_values(&[source.key(), label])
                .inc_by(u64::try_from(n).unwrap_or(u64::MAX));
        }
    }

    pub(super) fn lag(&self, source: Source, seconds: f64) {
        self.0.lag.with_label_values(&[source.key()]).set(seconds.max(0.0));
    }

    /// The metrics in Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.0.registry.gather(), &mut out)
            .expect("text encoding of gathered metrics");
        String::from_utf8(out).expect("Prometheus text is UTF-8")
    }
}
