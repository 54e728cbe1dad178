//! The BullMQ side of `bench queue`: `bench/bullmq/run.mjs` (BullMQ 5, the queue Bull-based
//! deliveries would use) run by `node` from PATH as a child process, once per run, on the same
//! Redis and with the same flow and policy as the other two sides; its producers share one
//! Queue (one connection), the way BullMQ is used and its faster setting here. The child times
//! its own run and prints one JSON line: its rate and the CPU per job of node and of Redis.
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

use crate::args::QueueSetup;
use crate::throughput::Run;

/// Longer than the child's own deadline (300 s) plus its start and cleanup.
const CHILD_DEADLINE: Duration = Duration::from_secs(360);

#[derive(Debug, thiserror::Error)]
pub(crate) enum BullmqError {
    #[error("node is not on PATH ({0}): install Node.js ≥ 18 (scripts/bench installs it)")]
    NoNode(std::io::Error),
    #[error("`node --version` failed: {0}")]
    NodeBroken(String),
    #[error("BullMQ is not installed in {0}: run `npm ci` there (scripts/bench does)")]
    NotInstalled(String),
    #[error("starting node: {0}")]
    Spawn(std::io::Error),
    #[error("the BullMQ run did not finish within {} s", CHILD_DEADLINE.as_secs())]
    Timeout,
    #[error("the BullMQ run failed ({status}):\n{stderr}")]
    Failed {
        status: std::process::ExitStatus,
        stderr: String,
    },
    #[error("the BullMQ run printed no result line ({detail}); its stdout was: {stdout:?}")]
    BadOutput { detail: String, stdout: String },
}

/// A checked installation: node answers and the packages are there.
#[derive(Clone, Debug)]
pub(crate) struct Bullmq {
    dir: PathBuf,
    /// `bullmq 5.81.5, node v20.20.2`, for the report.
    pub versions: String,
}

/// The child's result line.
#[derive(serde::Deserialize)]
struct Outcome {
    jobs_per_second: f64,
    node_cpu_us_per_job: f64,
    redis_cpu_us_per_job: f64,
}

impl Bullmq {
    /// `BENCH_BULLMQ_DIR`, else `bench/bullmq` of this checkout.
    pub(crate) async fn find() -> Result<Bullmq, BullmqError> {
        let dir = std::env::var_os("BENCH_BULLMQ_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("bullmq"));
        let output = Command::new("node")
            .arg("--version")
            .stdin(Stdio::null())
            .output()
            .await
            .map_err(BullmqError::NoNode)?;
        if !output.status.success() {
            return Err(BullmqError::NodeBroken(
                String::from_utf8_lossy(&output.stderr).trim().to_owned(),
            ));
        }
        let node = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        let installed = std::fs::read_to_string(dir.join("node_modules/bullmq/package.json"))
            .ok()
            .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
            .and_then(|package| package["version"].as_str().map(str::to_owned));
        let Some(version) = installed.filter(|_| dir.join("run.mjs").is_file()) else {
            return Err(BullmqError::NotInstalled(dir.display().to_string()));
        };
        Ok(Bullmq {
            dir,
            versions: format!("bullmq {version}, node {node}"),
        })
    }

    /// One timed run under `prefix` (the child removes its keys; the bench's own cleanup of its
    /// prefix catches what a killed child leaves).
    pub(crate) async fn run(&self, redis_url: &str, prefix: &str, setup: &QueueSetup) -> Result<Run, BullmqError> {
        let mut command = Command::new("node");
        command
            .arg(self.dir.join("run.mjs"))
            .args(["--prefix", prefix])
            .args(["--jobs", &setup.jobs.to_string()])
            .args(["--producers", &setup.producers.to_string()])
            .args(["--workers", &setup.workers.to_string()])
            .args(["--concurrency", &setup.concurrency.to_string()])
            // In the environment, not the arguments: a password in the URL stays out of `ps`.
            .env("REDIS_URL", redis_url)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Ctrl-C or a timeout drops the future: the child must not outlive it.
            .kill_on_drop(true);
        let child = command.spawn().map_err(BullmqError::Spawn)?;
        let output = tokio::time::timeout(CHILD_DEADLINE, child.wait_with_output())
            .await
            .map_err(|_| BullmqError::Timeout)?
            .map_err(BullmqError::Spawn)?;
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        if !output.status.success() {
            return Err(BullmqError::Failed {
                status: output.status,
                stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
            });
        }
        let line = stdout.lines().rev().find(|line| line.starts_with('{'));
        let parsed = line.map(serde_json::from_str::<Outcome>);
        match parsed {
            Some(Ok(outcome)) => Ok(Run {
                jobs_per_second: outcome.jobs_per_second,
                bench_cpu_us: outcome.node_cpu_us_per_job,
                redis_cpu_us: outcome.redis_cpu_us_per_job,
            }),
            Some(Err(e)) => Err(BullmqError::BadOutput {
                detail: e.to_string(),
                stdout,
            }),
            None => Err(BullmqError::BadOutput {
                detail: "no JSON line".to_owned(),
                stdout,
            }),
        }
    }
}
