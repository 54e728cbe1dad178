//! The delivery metrics the `/metrics` endpoint serves, in Prometheus text format: deliveries by
//! kind and outcome, attempts, delivery latency (raised → delivered), and, read at scrape time,
//! queue depth and unfinished outbox rows.
//! Counters are per process, as Prometheus expects; sum them over instances in queries.
use std::sync::Arc;
use std::time::Duration;

use prometheus::{Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder};

use crate::delivery::outbox::Outbox;
use crate::delivery::queue::Queue;

/// Latency buckets (seconds): from a local receiver's milliseconds to the retries' 7 s and a
/// slow webhook's timeouts.
const LATENCY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];

#[derive(Clone)]
pub struct Metrics(Arc<Inner>);

struct Inner {
    registry: Registry,
    deliveries: IntCounterVec,
    attempts: IntCounterVec,
    latency: HistogramVec,
    queue_jobs: IntGaugeVec,
    outbox_unfinished: IntGaugeVec,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new_custom(Some("hub_notify".into()), None).expect("valid prefix");
        let deliveries = IntCounterVec::new(
            Opts::new(
                "deliveries_total",
                "Notifications finished, by kind and outcome (delivered, failed)",
            ),
            &["kind", "outcome"],
        )
        .expect("valid metric");
        let attempts = IntCounterVec::new(
            Opts::new(
                "delivery_attempts_total",
                "Webhook calls, by kind and result (success, error)",
            ),
            &["kind", "result"],
        )
        .expect("valid metric");
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "delivery_latency_seconds",
                "From raising a notification to its delivery, retries included",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["kind"],
        )
        .expect("valid metric");
        let queue_jobs = IntGaugeVec::new(
            Opts::new(
                "queue_jobs",
                "Jobs in the delivery queue, by state (wait, active, delayed)",
            ),
            &["state"],
        )
        .expect("valid metric");
        let outbox_unfinished = IntGaugeVec::new(
            Opts::new(
                "outbox_unfinished",
                "Outbox rows not yet delivered or failed, by status",
            ),
            &["status"],
        )
        .expect("valid metric");
        for collector in [
            Box::new(deliveries.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(attempts.clone()),
            Box::new(latency.clone()),
            Box::new(queue_jobs.clone()),
            Box::new(outbox_unfinished.clone()),
        ] {
            registry.register(collector).expect("each metric registered once");
        }
        // Every series exists from the start, so rates work from the first scrape.
        for kind in app::notifications::NotificationKind::ALL.map(|k| k.key()) {
            for outcome in ["delivered", "failed"] {
                deliveries.with_label_values(&[kind, outcome]);
            }
            for result in ["success", "error"] {
                attempts.with_label_values(&[kind, result]);
            }
            latency.with_label_values(&[kind]);
        }
        Metrics(Arc::new(Inner {
            registry,
            deliveries,
            attempts,
            latency,
            queue_jobs,
            outbox_unfinished,
        }))
    }

    pub fn attempt(&self, kind: &str, success: bool) {
        let result = if success { "success" } else { "error" };
        self.0.attempts.with_label_values(&[kind, result]).inc();
    }

    /// A delivery's end; the latency is observed for delivered ones only.
    pub fn finished(&self, kind: &str, delivered: bool, latency: Duration) {
        let outcome = if delivered { "delivered" } else { "failed" };
        self.0.deliveries.with_label_values(&[kind, outcome]).inc();
        if delivered {
            self.0.latency.with_label_values(&[kind]).observe(latency.as_secs_f64());
        }
    }

    /// Reads the gauges (queue and outbox) and renders everything. A gauge whose source is
    /// unavailable is left out rather than reported stale.
    pub async fn render(&self, queue: &Queue, outbox: &Outbox) -> String {
        let inner = &self.0;
        // Overwritten in place (the label sets are fixed), so a scrape running alongside never
        // sees a series missing; removed only when unknown.
        match queue.counts().await {
            Ok(c) => {
                for (state, n) in [("wait", c.wait), ("active", c.active), ("delayed", c.delayed)] {
                    inner
                        .queue_jobs
                        .with_label_values(&[state])
                        .set(i64::try_from(n).unwrap_or(i64::MAX));
                }
            }
            Err(e) => {
                inner.queue_jobs.reset();
                tracing::warn!(error = %e, "metrics: queue depth unavailable");
            }
        }
        match outbox.unfinished_counts().await {
            Ok(counts) => {
                for status in ["pending", "sending"] {
                    let n = counts.iter().find(|(s, _)| s.as_str() == status).map_or(0, |(_, n)| *n);
                    inner.outbox_unfinished.with_label_values(&[status]).set(n);
                }
            }
            Err(e) => {
                inner.outbox_unfinished.reset();
                tracing::warn!(error = %e, "metrics: outbox counts unavailable");
            }
        }
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&inner.registry.gather(), &mut out)
            .expect("text encoding into a Vec cannot fail");
        String::from_utf8(out).expect("Prometheus text is UTF-8")
    }
}
