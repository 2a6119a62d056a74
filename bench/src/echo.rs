//! The RPC floor: a tonic echo service on the server settings Latch uses
//! (`latch_runtime::server::serve`: TCP_NODELAY, 30 s HTTP/2 keep-alive, a
//! span per request), run as `latch-bench echo-server` in its own process
//! like latchd.

use std::time::Duration;

use std::io::Write as _;

use tokio::net::TcpListener;
use tonic::{
    Request, Response, Status,
    transport::{Server, server::TcpIncoming},
};

use crate::error::{Context as _, Result};

#[allow(unreachable_pub, clippy::all)]
pub(crate) mod pb {
    tonic::include_proto!("latch.bench.v1");
}

pub(crate) use pb::{EchoRequest, echo_service_client::EchoServiceClient};

/// The line the echo server prints first, followed by its address.
pub(crate) const LISTENING: &str = "listening ";

struct Echo;

#[tonic::async_trait]
impl pb::echo_service_server::EchoService for Echo {
    async fn echo(
        &self,
        request: Request<EchoRequest>,
    ) -> Result<Response<pb::EchoResponse>, Status> {
        Ok(Response::new(pb::EchoResponse {
            payload: request.into_inner().payload,
        }))
    }
}

/// Serves the echo service on a free loopback port, announced on stdout as
/// `listening <addr>`, until the process is killed.
pub(crate) async fn serve() -> Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .context("echo bind")?;
    let addr = listener.local_addr().context("echo address")?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{LISTENING}{addr}").context("announce address")?;
    stdout.flush().context("announce address")?;
    drop(stdout);
    Server::builder()
        // The same span latchd opens; with no subscriber installed here it
        // is disabled, so the floor carries no logging cost.
        .trace_fn(|request| tracing::info_span!("grpc", path = %request.uri().path()))
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .add_service(pb::echo_service_server::EchoServiceServer::new(Echo))
        // As latchd's `latch_runtime::server::incoming` (not linked here).
        .serve_with_incoming(TcpIncoming::from(listener).with_nodelay(Some(true)))
        .await
        .context("echo server")
}
