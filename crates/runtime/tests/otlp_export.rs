//! Spans reach an OpenTelemetry collector over OTLP/gRPC. The collector is
//! a real OTLP trace service (the opentelemetry-proto server) on loopback,
//! and the batch leaves on its timer as in production: the test fails if
//! the exporter drops spans for any reason (endpoint, protocol, runtime).
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::time::Duration;

use latch_runtime::telemetry::{self, TelemetryConfig};
use opentelemetry_proto::tonic::{
    collector::trace::v1::{
        ExportTraceServiceRequest, ExportTraceServiceResponse,
        trace_service_server::{TraceService, TraceServiceServer},
    },
    common::v1::any_value::Value,
};
use tokio::sync::mpsc;
use tonic::{Request, Response, Status};

struct Collector(mpsc::UnboundedSender<ExportTraceServiceRequest>);

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let _ = self.0.send(request.into_inner());
        Ok(Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_are_exported_with_the_service_name() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(Collector(tx)))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );

    let telemetry = telemetry::init(&TelemetryConfig {
        service_name: "latch-test".into(),
        log_json: false,
        otlp_endpoint: Some(format!("http://{addr}")),
        batch_delay: Duration::from_millis(100),
    })
    .unwrap();
    tracing::info_span!("grpc", otel.name = "/latch.token.v1.TokenService/GetJwks").in_scope(
        || {
            tracing::info!("inside the request");
        },
    );
    // No explicit flush: the batch goes out on its timer, from wherever the
    // processor runs it, as in production.

    let export = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("the collector heard from the exporter within 10 s")
        .expect("collector open");
    let resource = export.resource_spans[0]
        .resource
        .as_ref()
        .expect("resource");
    let service = resource
        .attributes
        .iter()
        .find(|kv| kv.key == "service.name")
        .and_then(|kv| kv.value.as_ref()?.value.clone());
    assert_eq!(service, Some(Value::StringValue("latch-test".into())));
    let names: Vec<String> = export
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .map(|s| s.name.clone())
        .collect();
    assert!(
        names
            .iter()
            .any(|n| n == "/latch.token.v1.TokenService/GetJwks"),
        "{names:?}"
    );
    telemetry.shutdown().await;
}
