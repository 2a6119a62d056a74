//! The limits on a real tonic server over TCP, built by [`bounded`] as
//! `server::serve` builds it, around a stand-in unary service (the OTLP
//! trace service: one RPC, no Latch policy involved) whose handler waits
//! for the test to open a gate.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{net::SocketAddr, sync::Arc, time::Instant};

use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
    trace_service_client::TraceServiceClient,
    trace_service_server::{TraceService, TraceServiceServer},
};
use tokio::{net::TcpListener, sync::mpsc};
use tonic::{Code, Status, transport::Channel};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
use tonic_types::StatusExt;

use super::*;
use crate::status::reason_of;

/// A handler that says it started, then waits until the gate opens.
struct Gated {
    entered: mpsc::UnboundedSender<()>,
    gate: Arc<Semaphore>,
}

#[tonic::async_trait]
impl TraceService for Gated {
    async fn export(
        &self,
        _request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, Status> {
        let _ = self.entered.send(());
        let _pass = self.gate.acquire().await;
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

struct Harness {
    addr: SocketAddr,
    entered: mpsc::UnboundedReceiver<()>,
    gate: Arc<Semaphore>,
}

impl Harness {
    async fn start(limits: ServerLimits) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (entered_tx, entered) = mpsc::unbounded_channel();
        let gate = Arc::new(Semaphore::new(0));
        let (_reporter, health) = tonic_health::server::health_reporter();
        let router = bounded(Server::builder(), &limits)
            .add_service(TraceServiceServer::new(Gated {
                entered: entered_tx,
                gate: gate.clone(),
            }))
            .add_service(health);
        tokio::spawn(
            router.serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
        );
        Self {
            addr,
            entered,
            gate,
        }
    }

    /// A client on a connection of its own.
    async fn client(&self) -> TraceServiceClient<Channel> {
        TraceServiceClient::connect(format!("http://{}", self.addr))
            .await
            .unwrap()
    }

    fn open_gate(&self) {
        self.gate.add_permits(1_000);
    }
}

async fn export(
    mut client: TraceServiceClient<Channel>,
) -> Result<ExportTraceServiceResponse, Status> {
    client
        .export(ExportTraceServiceRequest {
            resource_spans: vec![],
        })
        .await
        .map(tonic::Response::into_inner)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_server_refuses_at_once_across_connections_but_not_health() {
    let mut harness = Harness::start(ServerLimits {
        request_timeout: Duration::from_secs(30),
        max_concurrent_requests: 1,
    })
    .await;
    let first = tokio::spawn(export(harness.client().await));
    harness.entered.recv().await.unwrap();

    // Another connection: the bound is the server's, not the connection's.
    let started = Instant::now();
    // Without the limit the call would wait at the gate: bound the test.
    let refused = tokio::time::timeout(Duration::from_secs(10), export(harness.client().await))
        .await
        .expect("refused at once, not queued")
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "refused, not queued"
    );
    assert_eq!(refused.code(), Code::ResourceExhausted);
    assert_eq!(reason_of(&refused).as_deref(), Some("RATE_LIMITED"));
    let retry = refused.get_details_retry_info().and_then(|r| r.retry_delay);
    assert_eq!(retry, Some(RETRY_AFTER));

    let channel = Channel::from_shared(format!("http://{}", harness.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = HealthClient::new(channel);
    let probe = health
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await;
    assert!(probe.is_ok(), "health is answered when full: {probe:?}");

    harness.open_gate();
    assert!(first.await.unwrap().is_ok());
    // The permit came back: the server takes work again.
    assert!(export(harness.client().await).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_past_the_timeout_is_cancelled_and_frees_its_place() {
    let mut harness = Harness::start(ServerLimits {
        request_timeout: Duration::from_millis(200),
        max_concurrent_requests: 1,
    })
    .await;
    let client = harness.client().await;
    let started = Instant::now();
    let status = tokio::time::timeout(Duration::from_secs(10), export(client.clone()))
        .await
        .expect("the server's timeout fires first")
        .unwrap_err();
    let took = started.elapsed();
    harness.entered.recv().await.unwrap();
    assert_eq!(status.code(), Code::Cancelled, "{status:?}");
    assert!(
        took >= Duration::from_millis(200) && took < Duration::from_secs(5),
        "{took:?}"
    );

    // Limit 1: the timed-out request no longer holds the only place.
    harness.open_gate();
    assert!(export(client).await.is_ok());
}

#[test]
fn limits_are_read_and_bounded() -> Result<()> {
    use crate::config::MapSource;

    assert_eq!(
        ServerLimits::from_source(&MapSource::new())?,
        ServerLimits::default()
    );
    let source = MapSource::new()
        .with("LATCH_REQUEST_TIMEOUT", "30s")
        .with("LATCH_MAX_CONCURRENT_REQUESTS", "64");
    assert_eq!(
        ServerLimits::from_source(&source)?,
        ServerLimits {
            request_timeout: Duration::from_secs(30),
            max_concurrent_requests: 64,
        }
    );
    for (key, value) in [
        ("LATCH_REQUEST_TIMEOUT", "0"),
        ("LATCH_REQUEST_TIMEOUT", "1h"),
        ("LATCH_REQUEST_TIMEOUT", "999999999999d"),
        ("LATCH_MAX_CONCURRENT_REQUESTS", "0"),
        ("LATCH_MAX_CONCURRENT_REQUESTS", "1000000"),
        ("LATCH_MAX_CONCURRENT_REQUESTS", "-1"),
    ] {
        let err = ServerLimits::from_source(&MapSource::new().with(key, value)).unwrap_err();
        assert!(format!("{err}").contains(key), "{key}={value}: {err}");
    }
    Ok(())
}
