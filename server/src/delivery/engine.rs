//! Delivering notifications: write to the outbox, enqueue, and send from the queue's workers.
//!
//! `raise` is the one way in: the row is written first (so nothing is lost if Redis is away),
//! then the job is enqueued; a row Redis never saw is picked up by the sweeper (`sweeper.rs`).
//! The job's handler is idempotent through the row: a job that runs again (a stalled worker, a
//! sweep after Redis lost its data) finds the row finished and does nothing.
use std::time::Duration;

use async_trait::async_trait;

use crate::channels::error::SendError;
use crate::channels::message::Message;
use crate::channels::sender::{Sent, WebhookSender};
use crate::channels::targets::{PushTarget, PushTargets, TargetRef};
use crate::channels::Channel;
use crate::delivery::metrics::Metrics;
use crate::delivery::outbox::{Attempt, AttemptStart, Inserted, NewDelivery, Outbox, OutboxError};
use crate::delivery::queue::{Enqueued, Job, JobError, JobHandler, Queue};
use crate::delivery::rate_limit::{effective_budget, WebhookRateLimiter};
use crate::platform::config::SendBudget;
use crate::platform::retry::{retry, Backoff};
use app::notifications::NotificationKind;

/// The queue every instance of a deployment shares.
pub const QUEUE_NAME: &str = "deliveries";
/// How long `raise` waits for Redis before leaving the row to the sweeper: an outage must not
/// hold up whoever raised the notification.
const ENQUEUE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a job waits for an unreachable database before its attempt counts as failed: pauses
/// of 0.25, 0.5, 1, 2, 4, 5, 5 s (17.75 s) between 8 tries.
pub const OUTBOX_PATIENCE: Backoff = Backoff::doubling(8, Duration::from_millis(250)).at_most(Duration::from_secs(5));

/// How long a throttled target without a window of its own waits when the platform did not say.
const THROTTLED_WAIT: Duration = Duration::from_secs(60);

/// The idempotency key of a notification (`dedup_key`) at one target.
pub fn target_dedup_key(dedup_key: &str, target_id: i64) -> String {
    format!("{dedup_key}@t{target_id}")
}

/// The queue's job id of an outbox row.
pub fn job_id(row_id: i64) -> String {
    format!("d{row_id}")
}

#[derive(Debug, thiserror::Error)]
pub enum RaiseError {
    #[error(transparent)]
    Outbox(#[from] OutboxError),
}

/// Where a raised notification stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Raised {
    /// In the outbox and in the queue.
    Queued(i64),
    /// In the outbox; Redis did not take it now, the sweeper will.
    Deferred(i64),
    /// Its idempotency key was raised before: nothing new.
    Duplicate(i64),
}

#[derive(Clone)]
pub struct Deliveries {
    outbox: Outbox,
    queue: Queue,
}

impl Deliveries {
    pub fn new(outbox: Outbox, queue: Queue) -> Self {
        Deliveries { outbox, queue }
    }

    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    pub fn queue(&self) -> &Queue {
        &self.queue
    }

    /// Raises one notification to each of `targets`: a row, a job and an idempotency key of its
    /// own per target ([`target_dedup_key`]), so one target never holds back or repeats another.
    /// Stops at the first failure; raising all again is harmless.
    pub async fn raise_to_each(
        &self,
        kind: NotificationKind,
        message: &Message,
        dedup_key: &str,
        targets: &[TargetRef],
    ) -> Result<Vec<Raised>, RaiseError> {
        let mut raised = Vec::with_capacity(targets.len());
        for target in targets {
            raised.push(
                self.raise(&NewDelivery {
                    kind,
                    target: target.clone(),
                    message: message.clone(),
                    dedup_key: target_dedup_key(dedup_key, target.id),
                })
                .await?,
            );
        }
        Ok(raised)
    }

    pub async fn raise(&self, notification: &NewDelivery) -> Result<Raised, RaiseError> {
        let id = match self.outbox.insert(notification).await? {
            Inserted::New(id) => id,
            Inserted::Duplicate(id) => return Ok(Raised::Duplicate(id)),
        };
        Ok(if self.enqueue(id).await {
            Raised::Queued(id)
        } else {
            Raised::Deferred(id)
        })
    }

    /// Puts a row's job in the queue (a no-op if it is there); `false` leaves it to the sweeper.
    pub async fn enqueue(&self, id: i64) -> bool {
        match tokio::time::timeout(ENQUEUE_TIMEOUT, self.queue.enqueue(&job_id(id), &id.to_string())).await {
            Ok(Ok(Enqueued::Added | Enqueued::Duplicate)) => {}
            Ok(Err(e)) => {
                tracing::warn!(delivery = id, error = %e, "enqueueing failed; the sweeper retries");
                return false;
            }
            Err(_) => {
                tracing::warn!(delivery = id, "Redis did not answer; the sweeper enqueues later");
                return false;
            }
        }
        if let Err(e) = self.outbox.mark_enqueued(id).await {
            // Harmless: the sweeper enqueues it again, which the queue ignores.
            tracing::warn!(delivery = id, error = %e, "recording the enqueue failed");
        }
        true
    }
}

/// Sends one outbox row per job.
pub struct DeliveryHandler {
    outbox: Outbox,
    sender: WebhookSender,
    targets: PushTargets,
    metrics: Metrics,
    max_attempts: u32,
    rate_limiter: Option<(WebhookRateLimiter, SendBudget)>,
    outbox_patience: Backoff,
}

impl DeliveryHandler {
    pub fn new(
        outbox: Outbox,
        sender: WebhookSender,
        targets: PushTargets,
        metrics: Metrics,
        max_attempts: u32,
    ) -> Self {
        DeliveryHandler {
            outbox,
            sender,
            targets,
            metrics,
            max_attempts,
            rate_limiter: None,
            outbox_patience: OUTBOX_PATIENCE,
        }
    }

    /// The metrics its outcomes are counted in (the sweeper counts there too).
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Waits `patience` instead of [`OUTBOX_PATIENCE`] for an unreachable database before an
    /// attempt counts as failed.
    pub fn with_outbox_patience(mut self, patience: Backoff) -> Self {
        self.outbox_patience = patience;
        self
    }

    /// Keeps every webhook within its send budget (see [`crate::delivery::rate_limit`]): the
    /// configured one, or its channel's.
    pub fn with_rate_limiter(mut self, limiter: WebhookRateLimiter, budget: SendBudget) -> Self {
        self.rate_limiter = Some((limiter, budget));
        self
    }

    /// `Some(wait)` when the target's budget is spent, or the platform told it to rest: the
    /// attempt is given back and the job waits. A limiter that cannot be asked (Redis blinked)
    /// lets the send go: the receiver's own limit is the worst case, a lost alert is not.
    async fn over_budget(
        &self,
        job: &Job,
        attempt: &Attempt,
        budget_key: &str,
        target: &PushTarget,
        channel: &dyn Channel,
    ) -> Option<Duration> {
        let (limiter, configured) = self.rate_limiter.as_ref()?;
        let limit = effective_budget(target.destination.own_budget(), *configured, channel);
        let send_id = format!("{}:{}:{}", job.id, attempt.number, uuid::Uuid::new_v4().simple());
        let wait = match limiter.take(budget_key, &send_id, limit).await {
            Ok(wait) => wait?,
            Err(e) => {
                tracing::warn!(delivery = attempt.id, error = %e, "webhook rate limit unavailable; sending");
                return None;
            }
        };
        self.give_back(attempt.id).await;
        tracing::info!(delivery = attempt.id, target = target.id, endpoint = %target.endpoint_host, wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX), "target over its send budget; waiting");
        Some(wait)
    }

    /// Remembers that the platform asked the target to rest (shared by every instance).
    async fn rest(&self, budget_key: &str, rest: Duration, target: &PushTarget) {
        let Some((limiter, _)) = self.rate_limiter.as_ref() else {
            return;
        };
        tracing::info!(
            target = target.id,
            rest_ms = u64::try_from(rest.as_millis()).unwrap_or(u64::MAX),
            "the platform asked the target to rest"
        );
        if let Err(e) = limiter.rest(budget_key, rest).await {
            tracing::warn!(target = target.id, error = %e, "cannot record the target's rest");
        }
    }

    /// Uncounts an attempt that sent nothing the platform took (over budget, or throttled).
    async fn give_back(&self, id: i64) {
        if let Err(e) = self.outbox.give_back_attempt(id).await {
            tracing::warn!(delivery = id, error = %e, "giving back an attempt failed");
        }
    }

    /// The row holds the content: without the database there is nothing to send. A short outage
    /// is waited out here instead of spending the job's attempts, which are the receiver's; a
    /// longer one fails the attempt, and the sweeper gives the job its attempts back later.
    async fn start_attempt(&self, id: i64) -> Result<(AttemptStart, Option<Attempt>), String> {
        let max_attempts = i32::try_from(self.max_attempts).unwrap_or(i32::MAX);
        retry(
            "starting a delivery attempt",
            self.outbox_patience,
            |_| true,
            || self.outbox.start_attempt(id, max_attempts),
        )
        .await
        .map_err(|e| format!("outbox unavailable: {e}"))
    }
}

/// Why an attempt cannot be made.
enum Undeliverable {
    /// The target is gone or switched off: no retry will change that.
    ForGood(String),
    /// The target could not be read now.
    ForNow(String),
}

impl DeliveryHandler {
    /// The row's target, if it still takes deliveries.
    async fn target_of(&self, attempt: &Attempt) -> Result<(PushTarget, &'static dyn Channel), Undeliverable> {
        let deleted = || Undeliverable::ForGood("its push target was deleted".into());
        let id = attempt.target_id.ok_or_else(deleted)?;
        let target = match self.targets.get(id).await {
            Ok(Some(target)) => target,
            Ok(None) => return Err(deleted()),
            Err(e @ crate::channels::targets::TargetError::Db(_)) => return Err(Undeliverable::ForNow(e.to_string())),
            Err(e) => return Err(Undeliverable::ForGood(e.to_string())),
        };
        if !target.enabled {
            return Err(Undeliverable::ForGood(format!("push target {id} is disabled")));
        }
        let channel = crate::channels::platforms::channel_of(target.channel());
        Ok((target, channel))
    }
}

#[async_trait]
impl JobHandler for DeliveryHandler {
    async fn handle(&self, job: &Job) -> Result<(), JobError> {
        let id: i64 = job
            .payload
            .parse()
            .map_err(|_| format!("payload {:?} is not an outbox id", job.payload))?;
        let (start, attempt) = self.start_attempt(id).await?;
        let attempt = match (start, attempt) {
            (AttemptStart::Started, Some(attempt)) => attempt,
            (AttemptStart::Finished(status), _) => {
                tracing::debug!(
                    delivery = id,
                    status = status.as_str(),
                    "already finished; repeated job ignored"
                );
                return Ok(());
            }
            (AttemptStart::Exhausted(kind), _) => {
                self.metrics.finished(kind.key(), false, Duration::ZERO);
                tracing::warn!(
                    delivery = id,
                    kind = kind.key(),
                    "last attempt ended without an outcome; failed"
                );
                return Ok(());
            }
            _ => {
                tracing::warn!(delivery = id, "outbox row is gone; job dropped");
                return Ok(());
            }
        };
        let kind = attempt.kind.key();
        let (target, channel) = match self.target_of(&attempt).await {
            Ok(found) => found,
            Err(Undeliverable::ForGood(reason)) => {
                if let Err(db) = self.outbox.mark_attempt_failed(id, &reason, true).await {
                    tracing::warn!(delivery = id, error = %db, "recording an undeliverable row failed");
                }
                self.metrics.finished(kind, false, Duration::ZERO);
                tracing::warn!(delivery = id, kind, error = %reason, "undeliverable; failed");
                return Ok(());
            }
            Err(Undeliverable::ForNow(reason)) => return Err(JobError::Failed(reason)),
        };
        let budget_key = channel.budget_key(&target.destination);
        if let Some(wait) = self.over_budget(job, &attempt, &budget_key, &target, channel).await {
            return Err(JobError::Later(wait));
        }
        let result = self
            .sender
            .send(channel, &target.destination, &attempt.message, Some(&attempt.dedup_key))
            .await;
        if let Ok(Sent { rest: Some(rest) }) = &result {
            self.rest(&budget_key, *rest, &target).await;
        }
        if let Err(SendError::Throttled { retry_after }) = &result {
            // The platform's window, not the 1 s / 2 s / 4 s retries, decides when to try again.
            let wait = retry_after
                .or_else(|| channel.send_budget().map(|b| b.window))
                .unwrap_or(THROTTLED_WAIT);
            self.metrics.attempt(kind, false);
            self.give_back(id).await;
            tracing::warn!(
                delivery = id,
                kind,
                target = target.id,
                wait_s = wait.as_secs(),
                "throttled by the platform; waiting"
            );
            return Err(JobError::Later(wait));
        }
        match result {
            Ok(_) => {
                self.metrics.attempt(kind, true);
                // Err here means the receiver got it but the row says otherwise: the retry that
                // follows is the one duplicate at-least-once delivery allows.
                self.outbox
                    .mark_delivered(id)
                    .await
                    .map_err(|e| format!("delivered, but recording it failed: {e}"))?;
                let latency = (chrono::Utc::now() - attempt.created_at).to_std().unwrap_or_default();
                self.metrics.finished(kind, true, latency);
                tracing::info!(delivery = id, kind, target = target.id, endpoint = %target.endpoint_host, attempt = job.attempt, "delivered");
                Ok(())
            }
            Err(e) => {
                self.metrics.attempt(kind, false);
                let message = e.to_string();
                // The row counts attempts across jobs (a job re-enqueued after Redis lost it
                // starts again at 1), so either count reaching the limit ends the delivery.
                let last = job.attempt.max(u32::try_from(attempt.number).unwrap_or(0)) >= self.max_attempts;
                if let Err(db) = self.outbox.mark_attempt_failed(id, &message, last).await {
                    tracing::warn!(delivery = id, error = %db, "recording a failed attempt failed");
                }
                if last {
                    self.metrics.finished(kind, false, Duration::ZERO);
                }
                tracing::warn!(delivery = id, kind, attempt = job.attempt, last, error = %message, "delivery attempt failed");
                Err(JobError::Failed(message))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_outbox_patience_is_the_documented_17_75_seconds_of_pauses() {
        let pauses: Vec<u128> = OUTBOX_PATIENCE.pauses().map(|p| p.as_millis()).collect();
        assert_eq!(pauses, [250, 500, 1000, 2000, 4000, 5000, 5000]);
        assert_eq!(pauses.iter().sum::<u128>(), 17_750);
    }
}
