//! The process's stop signal, as every long-running loop sees it: a `watch` channel that turns
//! `true` when shutdown begins. A dropped sender counts as shutdown: nobody is left to ask for it.
use std::time::Duration;

use tokio::sync::watch;

/// What a loop holds to learn that shutdown began.
pub type Shutdown = watch::Receiver<bool>;

/// Whether shutdown has begun.
pub fn stopping(shutdown: &Shutdown) -> bool {
    *shutdown.borrow() || shutdown.has_changed().is_err()
}

/// Returns once shutdown begins.
pub async fn signalled(shutdown: &mut Shutdown) {
    // `wait_for` also returns (with an error) when the sender is gone.
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// Sleeps for `duration` or until shutdown begins; `false` when it did.
pub async fn pause(duration: Duration, shutdown: &mut Shutdown) -> bool {
    tokio::select! {
        () = tokio::time::sleep(duration) => !stopping(shutdown),
        () = signalled(shutdown) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn pause_ends_early_at_shutdown_and_a_dropped_sender_counts_as_shutdown() {
        let (tx, mut rx) = watch::channel(false);
        assert!(pause(Duration::from_millis(1), &mut rx).await, "no shutdown yet");
        let stopper = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            tx.send(true).unwrap();
            tx
        });
        let started = tokio::time::Instant::now();
        assert!(!pause(Duration::from_secs(60), &mut rx).await);
        assert!(started.elapsed() < Duration::from_secs(30));
        assert!(stopping(&rx));
        drop(stopper.await.unwrap());

        let (tx, mut rx) = watch::channel(false);
        assert!(!stopping(&rx));
        drop(tx);
        assert!(stopping(&rx));
        assert!(!pause(Duration::from_secs(60), &mut rx).await, "returns at once");
    }
}
