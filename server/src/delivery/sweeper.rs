//! The outbox sweeper: enqueues rows that never reached Redis (raised during an outage) and rows
//! whose job Redis no longer has (a restarted Redis keeps nothing), retries jobs a database
//! outage failed before their webhook attempts were spent, and prunes old history.
//! Every instance runs one; enqueueing is idempotent by job id, so they may overlap.
use std::time::Duration;

use crate::delivery::engine::{job_id, Deliveries};
use crate::delivery::metrics::Metrics;
use crate::delivery::queue::JobState;
use crate::platform::shutdown::{pause, Shutdown};

/// How often rows that never reached Redis are looked for: the delay between Redis coming back
/// and the first delivery of what was raised meanwhile.
const SWEEP_EVERY: Duration = Duration::from_secs(1);
/// An unfinished row untouched this long is checked against the queue. Longer than any backoff
/// (4 s) and any send (WEBHOOK_TIMEOUT_SECS ≤ 120 s) plus margin, so live jobs are rarely checked.
pub const IDLE_AFTER: Duration = Duration::from_secs(150);
const BATCH: i64 = 500;
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

pub struct Sweeper {
    deliveries: Deliveries,
    retention: Duration,
    idle_after: Duration,
    metrics: Metrics,
}

/// What one pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sweep {
    pub enqueued: usize,
    pub requeued: usize,
    /// Jobs failed by a database outage, given their attempts again.
    pub retried: usize,
    pub failed: usize,
}

impl Sweeper {
    pub fn new(deliveries: Deliveries, retention: Duration, metrics: Metrics) -> Self {
        Sweeper {
            deliveries,
            retention,
            idle_after: IDLE_AFTER,
            metrics,
        }
    }

    /// For tests: how long a row must be idle before its job is checked.
    pub fn with_idle_after(mut self, idle_after: Duration) -> Self {
        self.idle_after = idle_after;
        self
    }

    pub async fn run(self, mut shutdown: Shutdown) {
        let mut last_prune: Option<tokio::time::Instant> = None;
        loop {
            match self.sweep().await {
                Ok(s) if s != Sweep::default() => tracing::info!(?s, "outbox swept"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "outbox sweep failed"),
            }
            if last_prune.is_none_or(|t| t.elapsed() >= PRUNE_EVERY) {
                last_prune = Some(tokio::time::Instant::now());
                match self.deliveries.outbox().prune(self.retention).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(rows = n, "old delivery history pruned"),
                    Err(e) => tracing::warn!(error = %e, "pruning delivery history failed"),
                }
            }
            if !pause(SWEEP_EVERY, &mut shutdown).await {
                return;
            }
        }
    }

    pub async fn sweep(&self) -> Result<Sweep, crate::delivery::outbox::OutboxError> {
        let outbox = self.deliveries.outbox();
        let mut done = Sweep::default();
        for id in outbox.unqueued(BATCH).await? {
            if !self.deliveries.enqueue(id).await {
                // Redis is still away: the rest would fail the same way.
                return Ok(done);
            }
            done.enqueued += 1;
        }
        let max_attempts = i32::try_from(self.deliveries.queue().config().max_attempts).unwrap_or(i32::MAX);
        for (id, attempts) in outbox.idle(self.idle_after, BATCH).await? {
            let job = match self.deliveries.queue().job(&job_id(id)).await {
                Ok(job) => job,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot check idle deliveries against the queue");
                    return Ok(done);
                }
            };
            match job {
                None => {
                    if !self.deliveries.enqueue(id).await {
                        return Ok(done);
                    }
                    done.requeued += 1;
                }
                // The handler could not record the last failure (the database was away).
                Some(job) if job.state == JobState::Failed && attempts >= max_attempts => {
                    let error = job.last_error.unwrap_or_else(|| "failed".into());
                    if let Some(kind) = outbox.mark_attempt_failed(id, &error, true).await? {
                        self.metrics.finished(kind.key(), false, Duration::ZERO);
                    }
                    done.failed += 1;
                }
                // Failed with webhook attempts to spare: the job's attempts went on a database
                // outage, not on the receiver.
                Some(job) if job.state == JobState::Failed => match self.deliveries.queue().retry(&job.id).await {
                    Ok(true) => done.retried += 1,
                    Ok(false) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot retry a delivery failed by an outage");
                        return Ok(done);
                    }
                },
                Some(_) => {}
            }
            outbox.touch(id).await?;
        }
        Ok(done)
    }
}
