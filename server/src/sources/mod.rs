//! Where usage comes from: `http` (a gateway posting Hub Notify's own events to
//! `POST /api/v1/usage`) and `litellm` (LiteLLM's proxy, through its `generic_api` callback:
//! [`litellm`]). Every source ends in the one ingest path ([`crate::usage::ingest`]); here a
//! source's payload becomes events, the users and providers it names by ids of its own get ids
//! of ours ([`identities`]), and what it delivered is counted ([`activity`]) for the API and
//! `/metrics` ([`metrics`]).
pub mod activity;
pub mod identities;
pub mod litellm;
pub mod metrics;

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::PgPool;
use utoipa::ToSchema;

use crate::usage::ingest::{validate, IngestReport, Ingested, Ingestor};
use activity::Outcome;
use identities::Identities;
use metrics::SourceMetrics;

/// A source of usage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// `POST /api/v1/usage`: a gateway reporting in Hub Notify's own shape.
    Http,
    /// LiteLLM's proxy, through its `generic_api` callback (`POST /api/v1/ingest/litellm`).
    Litellm,
}

impl Source {
    pub const ALL: [Source; 2] = [Source::Http, Source::Litellm];

    /// The name stored and shown (`source` columns, API, metrics labels).
    pub fn key(self) -> &'static str {
        match self {
            Source::Http => "http",
            Source::Litellm => "litellm",
        }
    }
}

/// Usage ingest by source: each source's events go through the one [`Ingestor`], and what each
/// delivered is counted.
#[derive(Clone)]
pub struct Sources {
    db: PgPool,
    ingestor: Ingestor,
    identities: Arc<Identities>,
    metrics: SourceMetrics,
}

impl Sources {
    pub fn new(db: PgPool, ingestor: Ingestor, metrics: SourceMetrics) -> Self {
        Sources {
            identities: Arc::new(Identities::new(db.clone())),
            db,
            ingestor,
            metrics,
        }
    }

    pub fn metrics(&self) -> &SourceMetrics {
        &self.metrics
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
                unpriced: &[],
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
