//! The loop of every periodic cleanup: delete one bounded batch per
//! statement (no statement holds its locks for long), count it on
//! `latch.cleanup.removed`, let other work at the database, and go on until
//! a batch comes back short. Every replica may run it: the deletes are
//! idempotent, and what one replica removed is gone for all.

use std::future::Future;

use latch_domain::Result;

use crate::metrics::CleanupCounter;

/// Rows deleted per statement unless a job says otherwise: a few
/// milliseconds of row locks on either backend.
pub const DEFAULT_BATCH: u64 = 1_000;

/// Runs `delete(limit)` (which deletes at most `limit` rows and returns how
/// many) until it returns less than `batch`; returns the total. Each batch
/// is counted as it commits, so a failure half-way still counts what went.
/// Logs the total under `job` when anything went.
pub async fn in_batches<F, Fut>(
    job: &'static str,
    batch: u64,
    counter: &CleanupCounter,
    mut delete: F,
) -> Result<u64>
where
    F: FnMut(u64) -> Fut,
    Fut: Future<Output = Result<u64>>,
{
    // A zero limit would delete nothing, forever.
    let batch = batch.max(1);
    let mut removed = 0;
    let outcome = loop {
        let rows = match delete(batch).await {
            Ok(rows) => rows,
            Err(error) => break Err(error),
        };
        counter.removed(job, rows);
        removed += rows;
        if rows < batch {
            break Ok(removed);
        }
        // Let other work at the database between batches.
        tokio::task::yield_now().await;
    };
    if removed > 0 {
        tracing::info!(job, removed, "cleanup removed expired rows");
    }
    outcome
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use latch_domain::Error;
    use latch_testkit::MetricsSink;

    use super::*;
    use crate::metrics::{CLEANUP_REMOVED, JOB};

    /// The limits a fake table was asked for, one per call.
    type Asked = Arc<Mutex<Vec<u64>>>;

    /// `rows` to delete, `limit` at a time, failing once `fail_after`
    /// batches went; records the limits asked for.
    fn table(
        rows: u64,
        fail_after: Option<usize>,
    ) -> (Asked, impl FnMut(u64) -> std::future::Ready<Result<u64>>) {
        let asked = Arc::new(Mutex::new(Vec::new()));
        let mut left = rows;
        let seen = asked.clone();
        let delete = move |limit: u64| {
            let mut asked = seen.lock().unwrap_or_else(|e| e.into_inner());
            if fail_after.is_some_and(|n| asked.len() >= n) {
                return std::future::ready(Err(Error::internal_msg("database went away")));
            }
            asked.push(limit);
            let rows = left.min(limit);
            left -= rows;
            std::future::ready(Ok(rows))
        };
        (asked, delete)
    }

    #[tokio::test]
    async fn goes_on_until_a_batch_comes_back_short_and_counts_each() {
        let sink = MetricsSink::new();
        let counter = CleanupCounter::on(sink.meter());
        let (asked, delete) = table(7, None);
        assert_eq!(in_batches("t", 3, &counter, delete).await.ok(), Some(7));
        assert_eq!(*asked.lock().unwrap_or_else(|e| e.into_inner()), [3, 3, 3]);
        assert_eq!(sink.counter(CLEANUP_REMOVED, JOB, "t"), 7);

        // An exact multiple takes one more, empty, batch to know it is done.
        let (asked, delete) = table(6, None);
        assert_eq!(in_batches("u", 3, &counter, delete).await.ok(), Some(6));
        assert_eq!(asked.lock().unwrap_or_else(|e| e.into_inner()).len(), 3);
    }

    #[tokio::test]
    async fn a_failure_half_way_still_counts_what_went() {
        let sink = MetricsSink::new();
        let counter = CleanupCounter::on(sink.meter());
        let (_, delete) = table(10, Some(2));
        assert!(in_batches("t", 3, &counter, delete).await.is_err());
        assert_eq!(sink.counter(CLEANUP_REMOVED, JOB, "t"), 6);
    }

    #[tokio::test]
    async fn a_zero_batch_is_one_row() {
        let counter = CleanupCounter::on(MetricsSink::new().meter());
        let (asked, delete) = table(2, None);
        assert_eq!(in_batches("t", 0, &counter, delete).await.ok(), Some(2));
        assert_eq!(*asked.lock().unwrap_or_else(|e| e.into_inner()), [1, 1, 1]);
    }
}
