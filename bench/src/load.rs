//! The load loop: `concurrency` workers each sending one request after the
//! other for a fixed time, every latency recorded.
//!
//! Worker `w` always passes `w` to the call, so a scenario can keep state per
//! worker (a refresh-token family, a user). Requests started during the
//! warm-up are not counted; every request is bounded by [`CALL_TIMEOUT`].

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use futures::future::BoxFuture;
use tokio::time::Instant;

use crate::error::{Result, fail};

/// One request of a scenario, made by worker `w`.
pub(crate) type Call = Arc<dyn Fn(usize) -> BoxFuture<'static, Result<()>> + Send + Sync>;

/// Wraps a closure returning a future as a [`Call`].
pub(crate) fn call<F, Fut>(f: F) -> Call
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<()>> + Send + 'static,
{
    Arc::new(move |worker| Box::pin(f(worker)))
}

/// Longest a single request may take before it counts as an error.
pub(crate) const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// How long and how hard to drive a scenario.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Load {
    pub(crate) concurrency: usize,
    pub(crate) warmup: Duration,
    pub(crate) duration: Duration,
}

/// What a scenario measured.
#[derive(Debug, Clone, Default)]
pub(crate) struct Stats {
    pub(crate) requests: u64,
    pub(crate) errors: u64,
    pub(crate) first_error: Option<String>,
    /// Measured wall time, seconds.
    pub(crate) seconds: f64,
    pub(crate) rate: f64,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) max_ms: f64,
}

/// What one worker saw.
#[derive(Default)]
struct WorkerLog {
    /// Latencies of successful measured requests, microseconds.
    latencies: Vec<u32>,
    errors: u64,
    first_error: Option<String>,
}

/// Drives `call` with `load.concurrency` workers; `done` counts measured
/// requests as they finish (for progress lines).
pub(crate) async fn drive(call: Call, load: Load, done: Arc<AtomicU64>) -> Result<Stats> {
    let start = Instant::now();
    let measure_from = start + load.warmup;
    let end = measure_from + load.duration;
    let mut workers = Vec::with_capacity(load.concurrency);
    for worker in 0..load.concurrency {
        let call = call.clone();
        let done = done.clone();
        workers.push(tokio::spawn(async move {
            let mut log = WorkerLog::default();
            loop {
                let sent = Instant::now();
                if sent >= end {
                    break;
                }
                let outcome = tokio::time::timeout(CALL_TIMEOUT, call(worker)).await;
                if sent < measure_from {
                    continue;
                }
                done.fetch_add(1, Ordering::Relaxed);
                match outcome {
                    Ok(Ok(())) => {
                        let micros = sent.elapsed().as_micros();
                        log.latencies
                            .push(u32::try_from(micros).unwrap_or(u32::MAX));
                    }
                    Ok(Err(err)) => log.error(err.to_string()),
                    Err(_) => log.error(format!("no answer within {CALL_TIMEOUT:?}")),
                }
            }
            log
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    let mut first_error = None;
    for worker in workers {
        let log = worker
            .await
            .map_err(|e| fail(format!("a load worker panicked: {e}")))?;
        latencies.extend(log.latencies);
        errors += log.errors;
        first_error = first_error.or(log.first_error);
    }
    // Requests in flight at `end` finish after it and are counted: the
    // window runs to the last of them.
    let seconds = Instant::now()
        .saturating_duration_since(measure_from)
        .as_secs_f64()
        .max(f64::EPSILON);
    Ok(summarize(latencies, errors, first_error, seconds))
}

impl WorkerLog {
    fn error(&mut self, message: String) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(message);
        }
    }
}

/// Rate and percentiles of the successful requests.
fn summarize(
    mut latencies: Vec<u32>,
    errors: u64,
    first_error: Option<String>,
    seconds: f64,
) -> Stats {
    latencies.sort_unstable();
    let requests = latencies.len() as u64;
    Stats {
        requests,
        errors,
        first_error,
        seconds,
        rate: requests as f64 / seconds,
        p50_ms: percentile(&latencies, 0.50),
        p99_ms: percentile(&latencies, 0.99),
        max_ms: latencies.last().map_or(0.0, |&m| f64::from(m) / 1000.0),
    }
}

/// The `q` quantile of sorted microsecond latencies, in milliseconds
/// (nearest rank).
fn percentile(sorted: &[u32], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    let index = rank.clamp(1, sorted.len()) - 1;
    f64::from(sorted[index]) / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let latencies: Vec<u32> = (1..=100).map(|ms| ms * 1000).collect();
        assert_eq!(percentile(&latencies, 0.50), 50.0);
        assert_eq!(percentile(&latencies, 0.99), 99.0);
        assert_eq!(percentile(&[7000], 0.99), 7.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }

    #[test]
    fn summary_counts_only_successes_in_the_rate() {
        let stats = summarize(vec![3000, 1000, 2000], 2, Some("boom".into()), 2.0);
        assert_eq!(stats.requests, 3);
        assert_eq!(stats.errors, 2);
        assert_eq!(stats.rate, 1.5);
        assert_eq!(stats.p50_ms, 2.0);
        assert_eq!(stats.max_ms, 3.0);
    }

    #[tokio::test]
    async fn each_worker_keeps_its_index_and_errors_are_counted() {
        let seen = Arc::new(std::sync::Mutex::new(std::collections::BTreeSet::new()));
        let log = seen.clone();
        let load = Load {
            concurrency: 3,
            warmup: Duration::ZERO,
            duration: Duration::from_millis(50),
        };
        let stats = drive(
            call(move |worker| {
                let log = log.clone();
                async move {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    log.lock().map_err(|e| fail(e.to_string()))?.insert(worker);
                    if worker == 2 {
                        return Err(fail("worker 2 always fails"));
                    }
                    Ok(())
                }
            }),
            load,
            Arc::new(AtomicU64::new(0)),
        )
        .await
        .map_err(|e| e.to_string());
        let stats = stats.unwrap_or_else(|e| panic!("drive: {e}"));
        let seen: Vec<usize> = seen
            .lock()
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default();
        assert_eq!(seen, vec![0, 1, 2]);
        assert!(stats.requests > 0 && stats.errors > 0);
        assert_eq!(stats.first_error.as_deref(), Some("worker 2 always fails"));
    }
}
