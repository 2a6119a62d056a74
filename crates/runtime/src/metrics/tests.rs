//! The cleanup counter moves on the provider it records to, by job.

use latch_testkit::MetricsSink;

use super::{CLEANUP_REMOVED, CleanupCounter, JOB};

#[test]
fn counts_removed_rows_per_job() {
    let sink = MetricsSink::new();
    let counter = CleanupCounter::on(sink.meter());
    counter.removed("outbox_done", 3);
    counter.removed("outbox_done", 4);
    counter.removed("login_history", 0);
    assert_eq!(sink.counter(CLEANUP_REMOVED, JOB, "outbox_done"), 7);
    assert_eq!(sink.counter(CLEANUP_REMOVED, JOB, "login_history"), 0);
    assert_eq!(sink.counter(CLEANUP_REMOVED, JOB, "recovery_codes"), 0);
}

/// What production does: no meter given, the global provider installed
/// after the counter was made still receives its records.
#[test]
fn the_global_counter_follows_the_provider_installed_later() {
    let counter = CleanupCounter::global();
    // Before any provider: recorded nowhere, and no panic.
    counter.removed("metrics_test_global", 5);
    let sink = MetricsSink::new();
    opentelemetry::global::set_meter_provider(sink.provider());
    counter.removed("metrics_test_global", 2);
    assert_eq!(sink.counter(CLEANUP_REMOVED, JOB, "metrics_test_global"), 2);
}
