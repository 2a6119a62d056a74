//! Logs and traces through `tracing`: logs to stderr (level from `RUST_LOG`,
//! default `info`; text or JSON), and, when `LATCH_OTLP_ENDPOINT` is set,
//! spans exported over OTLP/gRPC to an OpenTelemetry collector. Secrets
//! never reach a span or an event: domain types that hold them print as `***`.

use std::time::Duration;

use latch_domain::{Error, Result};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::{
    Resource, runtime,
    trace::{
        BatchConfigBuilder, SdkTracerProvider,
        span_processor_with_async_runtime::BatchSpanProcessor,
    },
};
use tracing_subscriber::{EnvFilter, fmt, prelude::*};

use crate::settings::CommonConfig;

pub const DEFAULT_BATCH_DELAY: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelemetryConfig {
    /// `service.name` of exported spans (`latchd`, `latch-token`, …).
    pub service_name: String,
    pub log_json: bool,
    /// `LATCH_OTLP_ENDPOINT`, e.g. `http://otel-collector:4317`.
    pub otlp_endpoint: Option<String>,
    /// How long spans wait to be sent in a batch.
    pub batch_delay: Duration,
}

impl TelemetryConfig {
    pub fn new(common: &CommonConfig, service_name: &str) -> Self {
        Self {
            service_name: service_name.to_owned(),
            log_json: common.log_json,
            otlp_endpoint: common.otlp_endpoint.clone(),
            batch_delay: DEFAULT_BATCH_DELAY,
        }
    }
}

/// Keeps the exporter alive; [`Telemetry::shutdown`] flushes what is queued.
#[must_use = "dropping it without shutdown loses queued spans"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

/// Installs the global subscriber. Must run inside the Tokio runtime (the
/// exporter's batches are sent from a task on it). A second call in one
/// process keeps the first subscriber and exports nothing of its own.
pub fn init(config: &TelemetryConfig) -> Result<Telemetry> {
    let provider = config
        .otlp_endpoint
        .as_deref()
        .map(|endpoint| exporter(endpoint, config))
        .transpose()?;
    let otel = provider
        .as_ref()
        .map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer("latch")));
    let (json, text) = if config.log_json {
        (Some(fmt::layer().json().with_current_span(true)), None)
    } else {
        (None, Some(fmt::layer().compact()))
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(json)
        .with(text)
        .with(otel)
        .try_init();
    if installed.is_err() {
        // Already installed (a second server in one test process).
        if let Some(provider) = provider {
            drop(provider.shutdown());
        }
        return Ok(Telemetry { provider: None });
    }
    if let Some(endpoint) = &config.otlp_endpoint {
        tracing::info!(%endpoint, service = %config.service_name, "exporting traces over OTLP");
    }
    Ok(Telemetry { provider })
}

fn exporter(endpoint: &str, config: &TelemetryConfig) -> Result<SdkTracerProvider> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .build()
        .map_err(|e| Error::internal_msg(format!("LATCH_OTLP_ENDPOINT {endpoint:?}: {e}")))?;
    let batches = BatchConfigBuilder::default()
        .with_scheduled_delay(config.batch_delay)
        .build();
    let processor = BatchSpanProcessor::builder(exporter, runtime::Tokio)
        .with_batch_config(batches)
        .build();
    Ok(SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_resource(
            Resource::builder()
                .with_service_name(config.service_name.clone())
                .build(),
        )
        .build())
}

impl Telemetry {
    /// Exports what is queued now (tests, and before a planned exit).
    pub async fn flush(&self) -> Result<()> {
        let Some(provider) = self.provider.clone() else {
            return Ok(());
        };
        tokio::task::spawn_blocking(move || provider.force_flush())
            .await
            .map_err(Error::internal)?
            .map_err(|e| Error::internal_msg(format!("flushing spans: {e}")))
    }

    /// Flushes and stops the exporter.
    pub async fn shutdown(self) {
        if let Some(provider) = self.provider {
            let stopped = tokio::task::spawn_blocking(move || provider.shutdown()).await;
            if let Ok(Err(err)) = stopped {
                eprintln!("stopping the trace exporter: {err}");
            }
        }
    }
}
