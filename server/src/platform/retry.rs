//! Retrying an operation that fails on a passing fault (a database or Redis blip), with
//! exponential backoff between tries. The one retry loop of the server; the queue's own retries
//! of a job (1 s → 2 s → 4 s) are the queue's, as they outlive the process.
use std::future::Future;
use std::time::Duration;

/// How an operation is retried: `tries` in all, pausing `first_pause` after the first failure,
/// then twice as long each time, never longer than `max_pause`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    pub tries: u32,
    pub first_pause: Duration,
    pub max_pause: Duration,
}

impl Backoff {
    /// `tries` in all, the pause doubling from `first_pause`.
    pub const fn doubling(tries: u32, first_pause: Duration) -> Backoff {
        Backoff {
            tries,
            first_pause,
            max_pause: Duration::MAX,
        }
    }

    /// The same pauses, none longer than `max_pause`.
    pub const fn at_most(self, max_pause: Duration) -> Backoff {
        Backoff { max_pause, ..self }
    }

    /// The pauses between the tries, in order: one fewer than the tries.
    pub fn pauses(self) -> impl Iterator<Item = Duration> {
        let mut next = self.first_pause.min(self.max_pause);
        (1..self.tries.max(1)).map(move |_| {
            let pause = next;
            next = next.saturating_mul(2).min(self.max_pause);
            pause
        })
    }
}

/// Runs `op` until it succeeds, fails with an error `transient` says is not worth retrying, or
/// has been tried `policy.tries` times; returns the first success or the last error. `what`
/// names the operation in the logs.
pub async fn retry<T, E, F, Fut>(what: &str, policy: Backoff, transient: impl Fn(&E) -> bool, mut op: F) -> Result<T, E>
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut pauses = policy.pauses();
    let mut tried = 1;
    loop {
        let e = match op().await {
            Ok(value) => return Ok(value),
            Err(e) if transient(&e) => e,
            Err(e) => return Err(e),
        };
        let Some(pause) = pauses.next() else { return Err(e) };
        tracing::warn!(error = %e, tried, retry_in = ?pause, "{what} failed; trying again");
        tokio::time::sleep(pause).await;
        tried += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn retries_with_doubling_pauses_then_gives_the_last_error() {
        let started = tokio::time::Instant::now();
        let mut calls = 0;
        let result: Result<(), String> = retry(
            "op",
            Backoff::doubling(4, Duration::from_millis(20)),
            |_| true,
            || {
                calls += 1;
                let n = calls;
                async move { Err(format!("fail {n}")) }
            },
        )
        .await;
        assert_eq!(result, Err("fail 4".into()));
        assert_eq!(calls, 4);
        // The pauses were slept: 20 + 40 + 80 ms at least (a slow machine only adds).
        assert!(
            started.elapsed() >= Duration::from_millis(140),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn a_policys_pauses_double_up_to_the_cap_one_fewer_than_its_tries() {
        let ms = |policy: Backoff| policy.pauses().map(|p| p.as_millis()).collect::<Vec<_>>();
        assert_eq!(ms(Backoff::doubling(4, Duration::from_millis(20))), [20, 40, 80]);
        let capped = Backoff::doubling(4, Duration::from_millis(20)).at_most(Duration::from_millis(30));
        assert_eq!(ms(capped), [20, 30, 30]);
        assert_eq!(ms(Backoff::doubling(1, Duration::from_millis(20))), [0_u128; 0]);
        assert_eq!(ms(Backoff::doubling(0, Duration::from_millis(20))), [0_u128; 0]);
    }

    #[tokio::test]
    async fn stops_at_the_first_success() {
        let mut calls = 0;
        let result: Result<u32, String> = retry(
            "op",
            Backoff::doubling(4, Duration::from_millis(1)),
            |_| true,
            || {
                calls += 1;
                let n = calls;
                async move {
                    if n < 2 {
                        Err("not yet".to_owned())
                    } else {
                        Ok(n)
                    }
                }
            },
        )
        .await;
        assert_eq!(result, Ok(2));
        assert_eq!(calls, 2);
    }

    #[tokio::test]
    async fn pauses_stop_growing_at_the_cap_and_permanent_errors_are_not_retried() {
        let started = tokio::time::Instant::now();
        let mut calls = 0;
        let policy = Backoff::doubling(4, Duration::from_millis(20)).at_most(Duration::from_millis(30));
        let result: Result<(), String> = retry(
            "op",
            policy,
            |_| true,
            || {
                calls += 1;
                async { Err("down".to_owned()) }
            },
        )
        .await;
        assert_eq!(result, Err("down".into()));
        assert_eq!(calls, 4);
        // 20 + 30 + 30 ms at least.
        assert!(
            started.elapsed() >= Duration::from_millis(80),
            "{:?}",
            started.elapsed()
        );

        let mut calls = 0;
        let result: Result<(), String> = retry(
            "op",
            policy,
            |e: &String| e != "permanent",
            || {
                calls += 1;
                async { Err("permanent".to_owned()) }
            },
        )
        .await;
        assert_eq!(result, Err("permanent".into()));
        assert_eq!(calls, 1);
    }
}
