//! A meter provider whose metrics a test reads back: OpenTelemetry's SDK
//! with its in-memory exporter, so what is asserted is what an exporter
//! would have sent.

use opentelemetry::metrics::{Meter, MeterProvider as _};
use opentelemetry_sdk::metrics::{
    InMemoryMetricExporter, PeriodicReader, SdkMeterProvider,
    data::{AggregatedMetrics, MetricData},
};

/// A private meter provider; nothing recorded on it reaches the global one.
pub struct MetricsSink {
    provider: SdkMeterProvider,
    exporter: InMemoryMetricExporter,
}

impl Default for MetricsSink {
    fn default() -> Self {
        Self::new()
    }
}

impl MetricsSink {
    pub fn new() -> Self {
        let exporter = InMemoryMetricExporter::default();
        let provider = SdkMeterProvider::builder()
            .with_reader(PeriodicReader::builder(exporter.clone()).build())
            .build();
        Self { provider, exporter }
    }

    /// The provider, for `opentelemetry::global::set_meter_provider`.
    pub fn provider(&self) -> SdkMeterProvider {
        self.provider.clone()
    }

    pub fn meter(&self) -> Meter {
        self.provider.meter("latch-test")
    }

    /// The cumulative value of the `u64` counter `name` for the series
    /// whose attribute `key` is `value`, as exported now; 0 when nothing
    /// was recorded there.
    pub fn counter(&self, name: &str, key: &str, value: &str) -> u64 {
        // The periodic reader exports from a thread of its own: a flush
        // blocks until that thread is done.
        self.provider.force_flush().expect("metrics flush");
        let exported = self.exporter.get_finished_metrics().expect("metrics");
        let Some(latest) = exported.last() else {
            return 0;
        };
        let mut total = 0;
        for scope in latest.scope_metrics() {
            for metric in scope.metrics().filter(|m| m.name() == name) {
                let AggregatedMetrics::U64(MetricData::Sum(sum)) = metric.data() else {
                    panic!("{name} is not a u64 counter: {:?}", metric.data());
                };
                total += sum
                    .data_points()
                    .filter(|point| {
                        point
                            .attributes()
                            .any(|kv| kv.key.as_str() == key && kv.value.as_str() == value)
                    })
                    .map(|point| point.value())
                    .sum::<u64>();
            }
        }
        total
    }
}
