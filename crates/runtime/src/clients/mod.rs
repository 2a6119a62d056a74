//! gRPC adapters of the cross-service ports, for the per-service binaries.
//! Each connects lazily (a sibling may start later) and sends the service
//! credential; a refused call comes back as the domain error it was sent as.
//! Every call has a deadline (`LATCH_SIBLING_TIMEOUT`): a hung sibling
//! fails the call `UNAVAILABLE` instead of piling up work behind it.

mod authorization;
mod identity;
mod profile;
mod session;
mod token;

use std::{str::FromStr, time::Duration};

use latch_domain::{Error, Reason, Result, secret::Secret};
use tonic::{
    Status,
    metadata::AsciiMetadataValue,
    service::{Interceptor, interceptor::InterceptedService},
    transport::{Channel, Endpoint},
};

pub use authorization::AuthorizationClient;
pub use identity::IdentityClient;
pub use profile::ProfileClient;
pub use session::SessionClient;
pub use token::TokenClient;

use crate::{
    auth::SERVICE_TOKEN_HEADER,
    config::{ConfigSource, duration_in},
    status::reason_of,
};

/// `LATCH_SIBLING_TIMEOUT` when unset: below the default request timeout
/// (10s), so the caller still answers with the sibling's failure.
pub const DEFAULT_SIBLING_TIMEOUT: Duration = Duration::from_secs(5);
/// A TCP connection to a sibling takes at most this, capped by the call's
/// deadline.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A channel to a sibling that carries the service credential.
pub type ServiceChannel = InterceptedService<Channel, ServiceCredential>;

/// Adds `x-latch-service-token` to every call.
#[derive(Clone)]
pub struct ServiceCredential(AsciiMetadataValue);

impl Interceptor for ServiceCredential {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        request
            .metadata_mut()
            .insert(SERVICE_TOKEN_HEADER, self.0.clone());
        Ok(request)
    }
}

/// `LATCH_SIBLING_TIMEOUT`, 100ms to 60s, default 5s: the most one call to
/// a sibling may take, connecting included.
pub fn sibling_timeout(source: &dyn ConfigSource) -> Result<Duration> {
    duration_in(
        source,
        "LATCH_SIBLING_TIMEOUT",
        DEFAULT_SIBLING_TIMEOUT,
        Duration::from_millis(100)..=Duration::from_secs(60),
    )
}

/// A lazily connected channel to `url` (e.g. `http://session:50051`), its
/// deadline read from `source` (`LATCH_SIBLING_TIMEOUT`).
pub fn sibling_channel(
    source: &dyn ConfigSource,
    url: &str,
    token: &Secret<String>,
) -> Result<ServiceChannel> {
    service_channel_with_timeout(url, token, sibling_timeout(source)?)
}

/// A lazily connected channel to `url` (e.g. `http://session:50051`),
/// every call under [`DEFAULT_SIBLING_TIMEOUT`].
pub fn service_channel(url: &str, token: &Secret<String>) -> Result<ServiceChannel> {
    service_channel_with_timeout(url, token, DEFAULT_SIBLING_TIMEOUT)
}

/// A lazily connected channel to `url` whose every call ends within
/// `timeout` (`CANCELLED` from tonic, [`error_from_status`] makes it
/// `UNAVAILABLE`). HTTP/2 keep-alive pings find a connection to a hung or
/// vanished sibling and drop it, so the next call reconnects.
pub fn service_channel_with_timeout(
    url: &str,
    token: &Secret<String>,
    timeout: Duration,
) -> Result<ServiceChannel> {
    let endpoint = Endpoint::from_str(url)
        .map_err(|e| Error::internal_msg(format!("bad sibling url {url:?}: {e}")))?
        .connect_timeout(CONNECT_TIMEOUT.min(timeout))
        .timeout(timeout)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_timeout(Duration::from_secs(10))
        .tcp_nodelay(true);
    let value = AsciiMetadataValue::try_from(token.expose().as_str())
        .map_err(|_| Error::internal_msg("LATCH_SERVICE_TOKEN must be printable ASCII"))?;
    Ok(InterceptedService::new(
        endpoint.connect_lazy(),
        ServiceCredential(value),
    ))
}

/// A status from a sibling, back into the domain error it was made from.
pub fn error_from_status(status: Status) -> Error {
    let reason = reason_of(&status)
        .and_then(|code| Reason::ALL.iter().copied().find(|r| r.as_str() == code));
    match reason {
        Some(reason) => Error::new(reason, status.message().to_owned()),
        // Down, or past the deadline (ours, or the sibling's own timeout):
        // either way the dependency did not answer in time.
        None if matches!(
            status.code(),
            tonic::Code::Unavailable | tonic::Code::DeadlineExceeded | tonic::Code::Cancelled
        ) =>
        {
            Error::unavailable(status)
        }
        None => Error::internal(status),
    }
}

#[cfg(test)]
mod tests;
