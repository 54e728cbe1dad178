//! Where usage comes from: `http` (a gateway posting Hub Notify's own events to
//! `POST /api/v1/usage`), `litellm` (LiteLLM's proxy, through its `generic_api` callback:
//! [`litellm`]) and `cch` (Claude Code Hub, read from its database: [`cch`]). Every source ends in the one ingest path ([`crate::usage::ingest`]); here a
//! source's payload becomes events, the users and providers it names by ids of its own get ids
//! of ours ([`identities`]), and what it delivered is counted ([`activity`]) for the API and
//! `/metrics` ([`metrics`]).
pub mod activity;
pub mod cch;
pub mod identities;
pub mod lease;
pub mod litellm;
pub mod metrics;

use std::sync::Arc;

use serde_json::Value;
use sqlx::PgPool;

use app::sources::{ingest_path, SourceStatus};

use crate::usage::ingest::{validate, IngestReport, Ingested, Ingestor};
use activity::Outcome;
use identities::Identities;
use lease::Lease;
use metrics::SourceMetrics;

pub use app::usage::Source;

/// Usage ingest by source: each source's events go through the one [`Ingestor`], and what each
/// delivered is counted.
#[derive(Clone)]
pub struct Sources {
    db: PgPool,
    ingestor: Ingestor,
    identities: Arc<Identities>,
    metrics: SourceMetrics,
    /// The Claude Code Hub tail's lease, when the source is on.
    cch_lease: Option<Lease>,
    /// Whether the sources that send are on (`INGEST_TOKEN` set).
    ingest_on: bool,
}

impl Sources {
    pub fn new(
        db: PgPool,
        ingestor: Ingestor,
        metrics: SourceMetrics,
        cch_lease: Option<Lease>,
        ingest_on: bool,
    ) -> Self {
        Sources {
            identities: Arc::new(Identities::new(db.clone())),
            db,
            ingestor,
            metrics,
            cch_lease,
            ingest_on,
        }
    }

    /// Every source: whether it is on, what it delivered lately, and for Claude Code Hub how its
    /// tail stands (the 数据来源 page and `GET /api/v1/sources`).
    pub async fn statuses(&self) -> Result<Vec<SourceStatus>, cch::CchError> {
        let activity = activity::read(&self.db, chrono::Utc::now()).await?;
        let tail = self.cch_status().await?;
        Ok(activity
            .into_iter()
            .map(|(name, activity)| SourceStatus {
                name,
                enabled: match name {
                    Source::Http | Source::Litellm => self.ingest_on,
                    Source::Cch => self.cch_lease.is_some(),
                },
                path: ingest_path(name).map(str::to_owned),
                tail: if name == Source::Cch { tail.clone() } else { None },
                activity,
            })
            .collect())
    }

    pub fn metrics(&self) -> &SourceMetrics {
        &self.metrics
    }

    /// The Claude Code Hub tail of `config`, to run alongside the server (one instance at a time).
    pub fn cch(&self, config: &crate::platform::config::CchConfig) -> Option<cch::Cch> {
        Some(cch::Cch::new(config.clone(), self.clone(), self.cch_lease.clone()?))
    }

    /// The Claude Code Hub tail's status, when the source is on.
    pub async fn cch_status(&self) -> Result<Option<cch::TailStatus>, cch::CchError> {
        match &self.cch_lease {
            Some(lease) => cch::status(&self.db, lease).await.map(Some),
            None => Ok(None),
        }
    }

    /// A batch of `POST /api/v1/usage` (already parsed as JSON values).
    pub async fn ingest_http(&self, batch: Vec<Value>) -> Result<IngestReport, sqlx::Error> {
        let (valid, rejected) = validate(batch);
        let ingested = self
            .ingestor
            .ingest_valid(valid.into_iter().map(|(_, e)| e).collect())
            .await?;
        let report = IngestReport {
            accepted: ingested.new.len(),
            duplicates: ingested.duplicates,
            rejected,
        };
        self.record(
            Source::Http,
            &ingested,
            &Outcome {
                accepted: report.accepted,
                duplicates: report.duplicates,
                rejected: &report.rejected,
                ..Outcome::default()
            },
        )
        .await;
        Ok(report)
    }

    /// Counts what a source delivered, and how far behind its newest event came. A failure to
    /// record is logged, not returned: the usage is stored either way.
    async fn record(&self, source: Source, ingested: &Ingested, outcome: &Outcome<'_>) {
        if let Some(newest) = ingested.events.iter().map(|e| e.created_at).max() {
            self.metrics.lag(source, (chrono::Utc::now() - newest).as_seconds_f64());
        }
        self.metrics.count(source, outcome);
        if let Err(e) = activity::record(&self.db, source, outcome).await {
            tracing::warn!(source = source.key(), error = %e, "recording the source's activity failed");
        }
    }
}
