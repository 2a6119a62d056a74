//! Latch's metrics, through OpenTelemetry's metrics API. Nothing exports
//! them yet: until a binary installs a meter provider (a later issue, OTLP
//! or Prometheus), every record goes to the global no-op provider.
//!
//! - `latch.cleanup.removed` (counter, rows): what each periodic cleanup
//!   deleted, by `job` (`login_history`, `password_reset_tokens`,
//!   `recovery_codes`, `deleted_users`, `outbox_done`, `outbox_dead`).

use opentelemetry::{
    KeyValue, global,
    metrics::{Counter, Meter},
};

/// The instrumentation scope of Latch's own metrics.
pub const SCOPE: &str = "latch";
/// The counter of rows the cleanup jobs removed.
pub const CLEANUP_REMOVED: &str = "latch.cleanup.removed";
/// Its attribute naming the job.
pub const JOB: &str = "job";

/// Where a cleanup job counts what it removed: the global meter provider
/// by default, a given meter in tests.
#[derive(Clone, Default)]
pub struct CleanupCounter {
    meter: Option<Meter>,
}

impl std::fmt::Debug for CleanupCounter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let target = if self.meter.is_some() {
            "meter"
        } else {
            "global"
        };
        f.debug_tuple("CleanupCounter").field(&target).finish()
    }
}

impl CleanupCounter {
    /// Counts on the global meter provider as it is at each record.
    pub fn global() -> Self {
        Self::default()
    }

    /// Counts on `meter` (tests: a provider with an in-memory exporter).
    pub fn on(meter: Meter) -> Self {
        Self { meter: Some(meter) }
    }

    /// Adds `rows` to `latch.cleanup.removed{job}`. Zero is recorded too,
    /// so a job that ran and found nothing still shows as a series.
    pub fn removed(&self, job: &'static str, rows: u64) {
        // Resolved at each record, not once: a meter taken from the global
        // provider before a binary installs its own would stay a no-op
        // forever. Cleanups record a few times an hour; the SDK hands back
        // the same instrument for the same name.
        let meter = self.meter.clone().unwrap_or_else(|| global::meter(SCOPE));
        counter(&meter).add(rows, &[KeyValue::new(JOB, job)]);
    }
}

fn counter(meter: &Meter) -> Counter<u64> {
    meter
        .u64_counter(CLEANUP_REMOVED)
        .with_description("Rows the periodic cleanup jobs deleted")
        .with_unit("{row}")
        .build()
}

#[cfg(test)]
pub(crate) mod tests;
