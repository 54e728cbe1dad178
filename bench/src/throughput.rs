//! Queue throughput: no-op jobs through `server::delivery::queue`, the same flow on a bare Redis list, and
//! through BullMQ 5 (`bench/bullmq`, a node child process; see `crate::bullmq`).
//!
//! All sides get the same resources: `producers` tasks enqueueing one job per call through one
//! shared pool of `pool_size` connections (BullMQ: one Queue, its faster setting), and `workers`
//! consumers, each with `concurrency` jobs in flight; the same policy on both queues (4 attempts, backoff from 1 s, 100 completed / 50
//! failed kept, 30 s locks). A run is timed from the first enqueue to the last completion, with
//! the consumers already connected and waiting.
//!
//! The raw side is what a hand-written list queue needs at the least: the producer's `HSET` of
//! the payload and `LPUSH` of the id in one pipeline (one round trip), the consumer's `BLMOVE`
//! wait → active, then `LREM` from active and a completion mark in one pipeline. No Lua, locks,
//! retries or history, so the ratio shows what the queue's guarantees cost.
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fred::prelude::*;
use fred::types::lists::LMoveDirection;
use server::delivery::queue::{Enqueued, Job, JobError, JobHandler, Queue, QueueConfig, Worker};
use server::platform::redis::Keys;
use tokio::sync::{watch, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use crate::args::QueueSetup;
use crate::bullmq::{Bullmq, BullmqError};
use crate::support::{delete_keys, per_second, thousands, CpuTimes, RedisTarget, BLOCK_TIMEOUT};

/// Consumers connect and block in `BLMOVE` before the clock starts.
const SETTLE: Duration = Duration::from_millis(500);
/// A run that takes longer than this is broken, not slow.
const RUN_DEADLINE: Duration = Duration::from_secs(300);

/// One timed run of one side.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Run {
    pub jobs_per_second: f64,
    /// CPU per job (µs) of the client process (this one: producers, consumers, fred; node for
    /// BullMQ) and of Redis: says which side of the connection a run was limited by.
    pub bench_cpu_us: f64,
    pub redis_cpu_us: f64,
}

impl Run {
    /// The rate and CPU per job, naming the client process (`bench`, or `node` for BullMQ).
    pub(crate) fn display_as(&self, client: &str) -> String {
        format!(
            "{:>6} jobs/s (CPU per job: {client} {:.0} µs, Redis {:.0} µs)",
            thousands(self.jobs_per_second),
            self.bench_cpu_us,
            self.redis_cpu_us
        )
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display_as("bench"))
    }
}

pub(crate) struct Report {
    /// Measured runs, in order.
    pub queue_runs: Vec<Run>,
    pub raw_runs: Vec<Run>,
    pub bullmq_runs: Vec<Run>,
    /// The BullMQ installation used, or why that side did not run.
    pub bullmq: Result<Bullmq, String>,
}

fn best(runs: &[Run]) -> Run {
    runs.iter()
        .copied()
        .max_by(|a, b| a.jobs_per_second.total_cmp(&b.jobs_per_second))
        .expect("at least one measured run")
}

impl Report {
    pub(crate) fn best_queue(&self) -> Run {
        best(&self.queue_runs)
    }
    pub(crate) fn best_raw(&self) -> Run {
        best(&self.raw_runs)
    }
    pub(crate) fn best_bullmq(&self) -> Option<Run> {
        (!self.bullmq_runs.is_empty()).then(|| best(&self.bullmq_runs))
    }
    /// Best against best, so neither side is judged by its unluckiest run on a shared machine.
    pub(crate) fn ratio(&self) -> f64 {
        self.best_queue().jobs_per_second / self.best_raw().jobs_per_second.max(f64::EPSILON)
    }
    /// queue / BullMQ, best against best.
    pub(crate) fn bullmq_ratio(&self) -> Option<f64> {
        self.best_bullmq()
            .map(|b| self.best_queue().jobs_per_second / b.jobs_per_second.max(f64::EPSILON))
    }
}

/// One warm-up run of each side (scripts loaded, connections and allocations warm), then
/// `runs` measured rounds, each running the sides back to back (raw, queue, BullMQ), so
/// background load on a shared machine hits them alike. Without node or the BullMQ packages
/// (or with `--no-bullmq`) that side is left out and the report says why.
pub(crate) async fn run(redis: &RedisTarget, prefix: &str, setup: &QueueSetup) -> Result<Report, String> {
    let pool = redis.pool(setup.pool_size).await?;
    let bullmq = if setup.bullmq {
        match Bullmq::find().await {
            Ok(bullmq) => {
                eprintln!("queue: BullMQ side: {}", bullmq.versions);
                Ok(bullmq)
            }
            Err(e) => {
                eprintln!("queue: BullMQ side left out: {e}");
                Err(e.to_string())
            }
        }
    } else {
        Err("left out (--no-bullmq)".to_owned())
    };
    let mut report = Report {
        queue_runs: Vec::new(),
        raw_runs: Vec::new(),
        bullmq_runs: Vec::new(),
        bullmq,
    };
    for round in 0..=setup.runs {
        let label = if round == 0 {
            "warm-up".to_owned()
        } else {
            format!("run {round}/{}", setup.runs)
        };
        let raw_prefix = format!("{prefix}raw{round}:");
        let raw = raw_run(redis, &pool, &raw_prefix, setup).await;
        delete_keys(&pool, &format!("{raw_prefix}*")).await?;
        let raw = raw?;
        let queue_prefix = format!("{prefix}queue{round}:");
        let queue = queue_run(redis, &pool, &queue_prefix, setup).await;
        delete_keys(&pool, &format!("{queue_prefix}*")).await?;
        let queue = queue?;
        eprintln!(
            "  {label:>9}: queue  {queue}\n  {:>9}  raw    {raw}  (queue/raw {:.1} %)",
            "",
            queue.jobs_per_second / raw.jobs_per_second * 100.0
        );
        if let Ok(bullmq) = &report.bullmq {
            let bullmq_prefix = format!("{prefix}bullmq{round}");
            let outcome = bullmq.run(&redis.url, &bullmq_prefix, setup).await;
            delete_keys(&pool, &format!("{bullmq_prefix}*")).await?;
            let b = outcome.map_err(|e: BullmqError| format!("BullMQ side: {e}"))?;
            eprintln!(
                "  {:>9}  BullMQ {}  (queue/BullMQ {:.2}×)",
                "",
                b.display_as("node"),
                queue.jobs_per_second / b.jobs_per_second
            );
            if round > 0 {
                report.bullmq_runs.push(b);
            }
        }
        if round > 0 {
            report.queue_runs.push(queue);
            report.raw_runs.push(raw);
        }
    }
    pool.quit().await.map_err(|e| format!("closing the Redis pool: {e}"))?;
    Ok(report)
}

/// Counts finished jobs and wakes the timer when the last one is in.
struct Finish {
    count: AtomicUsize,
    target: usize,
    all_done: Notify,
}

impl Finish {
    fn new(target: usize) -> Arc<Self> {
        Arc::new(Finish {
            count: AtomicUsize::new(0),
            target,
            all_done: Notify::new(),
        })
    }

    fn one(&self) {
        if self.count.fetch_add(1, Ordering::AcqRel) + 1 == self.target {
            // Stores a permit if nobody waits yet.
            self.all_done.notify_one();
        }
    }

    async fn wait(&self) -> Result<(), String> {
        tokio::time::timeout(RUN_DEADLINE, self.all_done.notified())
            .await
            .map_err(|_| {
                format!(
                    "only {} of {} jobs finished within {} s",
                    self.count.load(Ordering::Acquire),
                    self.target,
                    RUN_DEADLINE.as_secs()
                )
            })
    }
}

#[async_trait::async_trait]
impl JobHandler for Finish {
    async fn handle(&self, _job: &Job) -> Result<(), JobError> {
        self.one();
        Ok(())
    }
}

/// Runs `enqueue(i)` for every job index, spread over `producers` concurrent tasks.
async fn produce<F, Fut>(setup: &QueueSetup, enqueue: F) -> Result<(), String>
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let mut producers = JoinSet::new();
    for first in 0..setup.producers.min(setup.jobs) {
        let enqueue = enqueue.clone();
        let (jobs, step) = (setup.jobs, setup.producers);
        producers.spawn(async move {
            for i in (first..jobs).step_by(step) {
                enqueue(i).await?;
            }
            Ok::<_, String>(())
        });
    }
    while let Some(joined) = producers.join_next().await {
        joined.map_err(|e| format!("a producer task ended abnormally: {e}"))??;
    }
    Ok(())
}

async fn queue_run(redis: &RedisTarget, pool: &Pool, prefix: &str, setup: &QueueSetup) -> Result<Run, String> {
    // The production policy (retries, history of 100/50, 30 s locks): the real cost per job.
    let queue = Queue::new(pool.clone(), Keys::new(prefix), QueueConfig::new("bench"));
    let finish = Finish::new(setup.jobs);
    let (stop, shutdown) = watch::channel(false);
    let workers: Vec<_> = (0..setup.workers)
        .map(|_| {
            let worker = Worker::new(queue.clone(), redis.config.clone(), setup.concurrency, finish.clone());
            tokio::spawn(worker.run(shutdown.clone()))
        })
        .collect();
    tokio::time::sleep(SETTLE).await;

    let cpu_before = CpuTimes::now(pool).await?;
    let started = Instant::now();
    let producer_queue = queue.clone();
    let produced = produce(setup, move |i| {
        let queue = producer_queue.clone();
        async move {
            match queue.enqueue(&format!("j{i}"), &i.to_string()).await {
                Ok(Enqueued::Added) => Ok(()),
                Ok(Enqueued::Duplicate) => Err(format!("job j{i} was already enqueued")),
                Err(e) => Err(format!("enqueueing: {e}")),
            }
        }
    })
    .await;
    let finished = match produced {
        Ok(()) => finish.wait().await,
        Err(e) => Err(e),
    };
    // The handler returning is not the end of a job: its completion is recorded after.
    let drained = match finished {
        Ok(()) => wait_until_drained(&queue).await,
        Err(e) => Err(e),
    };
    let elapsed = started.elapsed();
    let cpu_after = CpuTimes::now(pool).await;

    let _ = stop.send(true);
    for worker in workers {
        worker.await.map_err(|e| format!("a worker ended abnormally: {e}"))?;
    }
    drained?;
    let counts = queue.counts().await.map_err(|e| format!("reading queue counts: {e}"))?;
    let kept = setup.jobs.min(queue.config().keep_completed) as u64;
    if counts.failed + counts.delayed > 0 || counts.completed != kept {
        return Err(format!("the queue ended in an unexpected state: {counts:?}"));
    }
    let (bench_cpu_us, redis_cpu_us) = cpu_after?.per_job_since(&cpu_before, setup.jobs);
    Ok(Run {
        jobs_per_second: per_second(setup.jobs, elapsed),
        bench_cpu_us,
        redis_cpu_us,
    })
}

/// Waits until nothing is waiting or active: every completion is recorded.
async fn wait_until_drained(queue: &Queue) -> Result<(), String> {
    let deadline = Instant::now() + RUN_DEADLINE;
    loop {
        let counts = queue.counts().await.map_err(|e| format!("reading queue counts: {e}"))?;
        if counts.wait + counts.active == 0 {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("the queue did not drain: {counts:?}"));
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

struct RawKeys {
    wait: String,
    active: String,
    job_prefix: String,
}

impl RawKeys {
    fn job(&self, id: &str) -> String {
        format!("{}{id}", self.job_prefix)
    }
}

async fn raw_run(redis: &RedisTarget, pool: &Pool, prefix: &str, setup: &QueueSetup) -> Result<Run, String> {
    let keys = Arc::new(RawKeys {
        wait: format!("{prefix}wait"),
        active: format!("{prefix}active"),
        job_prefix: format!("{prefix}job:"),
    });
    let finish = Finish::new(setup.jobs);
    let (stop, shutdown) = watch::channel(false);
    let mut consumers = Vec::with_capacity(setup.workers);
    for _ in 0..setup.workers {
        let client = redis.blocking_client().await?;
        consumers.push(tokio::spawn(consume(
            client,
            pool.clone(),
            keys.clone(),
            setup.concurrency,
            finish.clone(),
            shutdown.clone(),
        )));
    }
    tokio::time::sleep(SETTLE).await;

    let cpu_before = CpuTimes::now(pool).await?;
    let started = Instant::now();
    let (producer_pool, producer_keys) = (pool.clone(), keys.clone());
    let produced = produce(setup, move |i| {
        let (pool, keys) = (producer_pool.clone(), producer_keys.clone());
        async move {
            let id = format!("j{i}");
            let pipeline = pool.next().pipeline();
            let _: () = pipeline
                .hset(keys.job(&id), ("payload", i.to_string()))
                .await
                .map_err(|e| e.to_string())?;
            let _: () = pipeline.lpush(&keys.wait, id).await.map_err(|e| e.to_string())?;
            let _: Vec<i64> = pipeline.all().await.map_err(|e| format!("raw enqueue: {e}"))?;
            Ok(())
        }
    })
    .await;
    let finished = match produced {
        Ok(()) => finish.wait().await,
        Err(e) => Err(e),
    };
    let elapsed = started.elapsed();
    let cpu_after = CpuTimes::now(pool).await;

    let _ = stop.send(true);
    for consumer in consumers {
        consumer
            .await
            .map_err(|e| format!("a raw consumer ended abnormally: {e}"))??;
    }
    finished?;
    let (bench_cpu_us, redis_cpu_us) = cpu_after?.per_job_since(&cpu_before, setup.jobs);
    Ok(Run {
        jobs_per_second: per_second(setup.jobs, elapsed),
        bench_cpu_us,
        redis_cpu_us,
    })
}

/// The raw counterpart of a queue worker: the same loop shape (a permit, a `BLMOVE`, a task per
/// job), none of its bookkeeping.
async fn consume(
    client: Client,
    pool: Pool,
    keys: Arc<RawKeys>,
    concurrency: usize,
    finish: Arc<Finish>,
    shutdown: watch::Receiver<bool>,
) -> Result<(), String> {
    let permits = Arc::new(Semaphore::new(concurrency));
    let mut running = JoinSet::new();
    let mut outcome = Ok(());
    while !*shutdown.borrow() {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        while running.try_join_next().is_some() {}
        let moved: Option<String> = match client
            .blmove(
                keys.wait.as_str(),
                keys.active.as_str(),
                LMoveDirection::Right,
                LMoveDirection::Left,
                BLOCK_TIMEOUT.as_secs_f64(),
            )
            .await
        {
            Ok(moved) => moved,
            // fred reports BLMOVE's nil (nothing within the block time) as a timeout, as the
            // queue's worker knows: an idle list, not an error.
            Err(e) if *e.kind() == fred::error::ErrorKind::Timeout => None,
            Err(e) => {
                outcome = Err(format!("raw BLMOVE: {e}"));
                break;
            }
        };
        if let Some(id) = moved {
            running.spawn(complete_raw(pool.clone(), keys.clone(), id, finish.clone(), permit));
        }
    }
    while let Some(joined) = running.join_next().await {
        let done = joined.map_err(|e| format!("a raw job task ended abnormally: {e}"))?;
        if outcome.is_ok() {
            outcome = done;
        }
    }
    let _ = client.quit().await;
    outcome
}

async fn complete_raw(
    pool: Pool,
    keys: Arc<RawKeys>,
    id: String,
    finish: Arc<Finish>,
    _permit: OwnedSemaphorePermit,
) -> Result<(), String> {
    // The no-op job itself takes no time; then the bookkeeping.
    let pipeline = pool.next().pipeline();
    let _: () = pipeline
        .lrem(&keys.active, 1, id.as_str())
        .await
        .map_err(|e| e.to_string())?;
    let _: () = pipeline
        .hset(keys.job(&id), ("state", "completed"))
        .await
        .map_err(|e| e.to_string())?;
    let _: Vec<i64> = pipeline.all().await.map_err(|e| format!("raw complete: {e}"))?;
    finish.one();
    Ok(())
}
