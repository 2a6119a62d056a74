//! Bounded load: every server answers within a deadline and runs at most a
//! fixed number of requests at once, whatever the connections, so a flood
//! or a hung dependency cannot pile up work without limit.
//!
//! - A request still running after `LATCH_REQUEST_TIMEOUT` is dropped and
//!   answered `CANCELLED` (tonic's server timeout, which also honours a
//!   shorter `grpc-timeout` sent by the client).
//! - Past `LATCH_MAX_CONCURRENT_REQUESTS` requests in flight on the whole
//!   server (not per connection: a per-connection bound multiplies with the
//!   connections), a new one is refused at once with `RESOURCE_EXHAUSTED`,
//!   reason `RATE_LIMITED` and a `RetryInfo`, instead of waiting in a queue
//!   of no bound. Health checks are never refused: a probe failing under
//!   load would have the pod restarted, which only adds load.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use http::{Request, Response};
use latch_domain::{Error, Result};
use tokio::sync::Semaphore;
use tonic::transport::Server;
use tower::{Layer, Service, layer::util::Stack};

use crate::{
    config::{ConfigSource, duration_in, parse_in},
    status::IntoStatus,
};

/// `LATCH_REQUEST_TIMEOUT` when unset.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// `LATCH_MAX_CONCURRENT_REQUESTS` when unset.
pub const DEFAULT_MAX_CONCURRENT_REQUESTS: usize = 1024;
/// What a refused request is told to wait before trying again: requests
/// end within the timeout, most far sooner.
pub const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Paths never refused for load (probes).
const HEALTH_PREFIX: &str = "/grpc.health.v1.Health/";

/// How much work one server takes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    /// `LATCH_REQUEST_TIMEOUT`, 100ms to 5m, default 10s.
    pub request_timeout: Duration,
    /// `LATCH_MAX_CONCURRENT_REQUESTS`, 1 to 65536, default 1024.
    pub max_concurrent_requests: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            max_concurrent_requests: DEFAULT_MAX_CONCURRENT_REQUESTS,
        }
    }
}

impl ServerLimits {
    /// Reads both keys; a malformed or out-of-range value stops the start.
    pub fn from_source(source: &dyn ConfigSource) -> Result<Self> {
        let d = Self::default();
        Ok(Self {
            request_timeout: duration_in(
                source,
                "LATCH_REQUEST_TIMEOUT",
                d.request_timeout,
                Duration::from_millis(100)..=Duration::from_secs(300),
            )?,
            max_concurrent_requests: parse_in(
                source,
                "LATCH_MAX_CONCURRENT_REQUESTS",
                d.max_concurrent_requests,
                1..=65_536,
            )?,
        })
    }
}

/// `server` with the timeout and the server-wide concurrency limit, the
/// limit outside every layer added after it (so a refused request costs no
/// authentication).
pub fn bounded<L>(server: Server<L>, limits: &ServerLimits) -> Server<Stack<LoadShedLayer, L>> {
    server
        .timeout(limits.request_timeout)
        .layer(LoadShedLayer::new(limits.max_concurrent_requests))
}

/// Refuses a request at once when `max` are in flight on every service it
/// was applied to (the permits are shared by all clones, so by every
/// connection).
#[derive(Debug, Clone)]
pub struct LoadShedLayer {
    permits: Arc<Semaphore>,
}

impl LoadShedLayer {
    pub fn new(max: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(max.clamp(1, Semaphore::MAX_PERMITS))),
        }
    }
}

impl<S> Layer<S> for LoadShedLayer {
    type Service = LoadShed<S>;

    fn layer(&self, inner: S) -> Self::Service {
        LoadShed {
            inner,
            permits: self.permits.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct LoadShed<S> {
    inner: S,
    permits: Arc<Semaphore>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for LoadShed<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send,
    ReqBody: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        // The service that was polled ready is the one to call.
        let ready = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, ready);
        if request.uri().path().starts_with(HEALTH_PREFIX) {
            return Box::pin(inner.call(request));
        }
        let Ok(permit) = self.permits.clone().try_acquire_owned() else {
            tracing::debug!(path = request.uri().path(), "server full: request refused");
            let refused = Error::rate_limited(RETRY_AFTER).into_status().into_http();
            return Box::pin(async move { Ok(refused) });
        };
        Box::pin(async move {
            // Held until the response is ready (a unary handler's whole
            // work), or dropped with the future when the timeout fires.
            let _permit = permit;
            inner.call(request).await
        })
    }
}

#[cfg(test)]
mod tests;
