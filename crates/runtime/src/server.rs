//! The server every Latch binary runs: the services it was given, behind
//! the auth layer, plus `grpc.health.v1.Health` (one status per service)
//! and server reflection (v1 and v1alpha, so grpcurl of any age works).

use std::{convert::Infallible, future::Future, sync::Arc, time::Duration};

use latch_domain::{Error, Result, ports::RoleDirectory};
use tokio::net::TcpListener;
use tonic::{
    body::Body,
    server::NamedService,
    service::{Routes, RoutesBuilder},
    transport::{Server, server::TcpIncoming},
};
use tonic_health::ServingStatus;
use tower::Service;

use crate::auth::{
    AuthLayer, Authenticator, MachineCallers, PolicyTable, PublicRateLimits, ServicePolicy,
};
// Bounded load (issue 7, item 5): see `limits`.
use crate::limits::{ServerLimits, bounded};

/// The gRPC services one binary serves, with their caller policies.
#[derive(Default)]
pub struct ServiceSet {
    routes: RoutesBuilder,
    policies: Vec<ServicePolicy>,
}

impl ServiceSet {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add<S>(&mut self, service: S, policy: ServicePolicy) -> &mut Self
    where
        S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
            + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
    {
        debug_assert_eq!(S::NAME, policy.service, "policy of another service");
        self.routes.add_service(service);
        self.policies.push(policy);
        self
    }

    pub fn service_names(&self) -> Vec<&'static str> {
        self.policies.iter().map(|p| p.service).collect()
    }
}

/// How requests are authenticated, and public RPCs rate limited.
pub struct Guard {
    pub authenticator: Arc<dyn Authenticator>,
    /// Latch's own services and the service accounts.
    pub machines: MachineCallers,
    /// The limiter and the groups' rates (`LATCH_RATE_LIMIT_*`), applied to
    /// every public RPC of every service served.
    pub rate_limits: PublicRateLimits,
    /// Where a user's permissions are read for the policies' rules (a
    /// per-process cache in front of the authorization service).
    pub roles: Arc<dyn RoleDirectory>,
}

/// Serves `services` on `listener` until `shutdown` resolves, under the
/// default [`ServerLimits`].
pub async fn serve(
    services: ServiceSet,
    listener: TcpListener,
    guard: Guard,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<()> {
    serve_with_limits(
        services,
        listener,
        guard,
        &ServerLimits::default(),
        shutdown,
    )
    .await
}

/// Serves `services` on `listener` until `shutdown` resolves, each request
/// under `limits` (`LATCH_REQUEST_TIMEOUT`, `LATCH_MAX_CONCURRENT_REQUESTS`).
pub async fn serve_with_limits(
    services: ServiceSet,
    listener: TcpListener,
    guard: Guard,
    limits: &ServerLimits,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<()> {
    let ServiceSet {
        mut routes,
        policies,
    } = services;
    let (reporter, health) = tonic_health::server::health_reporter();
    for policy in &policies {
        reporter
            .set_service_status(policy.service, ServingStatus::Serving)
            .await;
    }
    reporter
        .set_service_status("", ServingStatus::Serving)
        .await;
    routes.add_service(health);
    add_reflection(&mut routes)?;

    let table = PolicyTable::new(&policies)?;
    tracing::info!(
        rates = %guard.rate_limits.describe(),
        "public RPCs are rate limited per client address"
    );
    let auth = AuthLayer::new(
        table,
        guard.authenticator,
        guard.machines,
        guard.rate_limits,
        guard.roles,
    )?;
    let routes: Routes = routes.routes();
    // Bounded load: timeout and server-wide limit, outside the auth layer.
    bounded(Server::builder(), limits)
        // `otel.name` names the exported span after the RPC path.
        .trace_fn(|request| {
            tracing::info_span!("grpc", otel.name = %request.uri().path(), rpc.system = "grpc")
        })
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .layer(auth)
        .add_routes(routes)
        .serve_with_incoming_shutdown(incoming(listener), shutdown)
        .await
        .map_err(Error::internal)
}

/// Accepted connections with Nagle off. The builder's `tcp_nodelay` does
/// not reach a listener passed in: a response's trailers, written apart from
/// its body, then waited for the client's delayed ACK, ~40 ms per call.
fn incoming(listener: TcpListener) -> TcpIncoming {
    TcpIncoming::from(listener).with_nodelay(Some(true))
}

fn add_reflection(routes: &mut RoutesBuilder) -> Result<()> {
    let v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(latch_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(Error::internal)?;
    let v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(latch_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()
        .map_err(Error::internal)?;
    routes.add_service(v1).add_service(v1alpha);
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM (what Kubernetes sends).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::warn!(%err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::warn!(%err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}
