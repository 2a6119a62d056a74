//! gRPC adapters of the cross-service ports, for the per-service binaries.
//! Each connects lazily (a sibling may start later) and sends the service
//! credential; a refused call comes back as the domain error it was sent as.

mod authorization;
mod identity;
mod profile;
mod session;
mod token;

use std::str::FromStr;

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

use crate::{auth::SERVICE_TOKEN_HEADER, status::reason_of};

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

/// A lazily connected channel to `url` (e.g. `http://session:50051`).
pub fn service_channel(url: &str, token: &Secret<String>) -> Result<ServiceChannel> {
    let endpoint = Endpoint::from_str(url)
        .map_err(|e| Error::internal_msg(format!("bad sibling url {url:?}: {e}")))?
        .connect_timeout(std::time::Duration::from_secs(5))
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
        None if status.code() == tonic::Code::Unavailable => Error::unavailable(status),
        None => Error::internal(status),
    }
}
