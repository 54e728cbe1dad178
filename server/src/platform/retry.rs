//! Retrying an operation that fails on a passing fault (a database or Redis blip), with the
//! spec's exponential backoff between tries.
use std::future::Future;
use std::time::Duration;

/// Runs `op` up to `tries` times, pausing `first_pause`, then twice as long each time, between
/// failures; returns the first success or the last error. `what` names it in the logs.
pub async fn with_backoff<T, E, F, Fut>(what: &str, tries: u32, first_pause: Duration, mut op: F) -> Result<T, E>
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut pause = first_pause;
    let mut tried = 1;
    loop {
        match op().await {
            Ok(value) => return Ok(value),
            Err(e) if tried < tries.max(1) => {
                tracing::warn!(error = %e, tried, retry_in = ?pause, "{what} failed; trying again");
                tokio::time::sleep(pause).await;
                pause *= 2;
                tried += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn retries_with_doubling_pauses_then_gives_the_last_error() {
        let started = tokio::time::Instant::now();
        let mut calls = 0;
        let result: Result<(), String> = with_backoff("op", 4, Duration::from_millis(20), || {
            calls += 1;
            let n = calls;
            async move { Err(format!("fail {n}")) }
        })
        .await;
        assert_eq!(result, Err("fail 4".into()));
        assert_eq!(calls, 4);
        // 20 + 40 + 80 ms of pauses; a fourth (160 ms) after the last try would make it 300.
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(140) && took < Duration::from_millis(300),
            "{took:?}"
        );
    }

    #[tokio::test]
    async fn stops_at_the_first_success() {
        let mut calls = 0;
        let result: Result<u32, String> = with_backoff("op", 4, Duration::from_millis(1), || {
            calls += 1;
            let n = calls;
            async move {
                if n < 2 {
                    Err("not yet".to_owned())
                } else {
                    Ok(n)
                }
            }
        })
        .await;
        assert_eq!(result, Ok(2));
        assert_eq!(calls, 2);
    }
}
