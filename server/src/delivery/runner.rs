//! The delivery duties one process runs in the background: the queue's worker (with its own
//! Redis connection) and the sweeper, started and stopped together.
use std::sync::Arc;
use std::time::Duration;

use crate::delivery::engine::{Deliveries, DeliveryHandler};

/// Worker settings (from the configuration).
#[derive(Clone, Debug)]
pub struct EngineConfig {
    pub concurrency: usize,
    pub history_retention: Duration,
}

/// The running workers and sweeper of one process.
pub struct Engine {
    shutdown: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Engine {
    /// Starts the queue worker (its own Redis connection) and the sweeper.
    pub fn start(
        deliveries: Deliveries,
        handler: Arc<DeliveryHandler>,
        redis_config: fred::types::config::Config,
        config: &EngineConfig,
    ) -> Engine {
        let (shutdown, watch) = tokio::sync::watch::channel(false);
        let metrics = handler.metrics().clone();
        let worker =
            crate::delivery::queue::Worker::new(deliveries.queue().clone(), redis_config, config.concurrency, handler);
        let worker_task = tokio::spawn(worker.run(watch.clone()));
        let sweeper = crate::delivery::sweeper::Sweeper::new(deliveries, config.history_retention, metrics);
        let sweeper_task = tokio::spawn(sweeper.run(watch));
        Engine {
            shutdown,
            tasks: vec![worker_task, sweeper_task],
        }
    }

    /// Runs another background duty of the process until the engine stops.
    pub fn run_alongside<F, Fut>(&mut self, task: F)
    where
        F: FnOnce(tokio::sync::watch::Receiver<bool>) -> Fut,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        self.tasks.push(tokio::spawn(task(self.shutdown.subscribe())));
    }

    /// Stops taking jobs, lets running ones finish, and stops the sweeper.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            if let Err(e) = task.await {
                tracing::error!(error = %e, "a delivery task ended abnormally");
            }
        }
    }
}
