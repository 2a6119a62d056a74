//! Who is calling, and what each RPC lets in. A service declares one
//! [`ServicePolicy`] beside its handlers; the [`AuthLayer`] checks it for
//! every request and leaves a [`Caller`] in the request extensions.
//! [`Caller::for_user`], [`Caller::for_service`] and [`request_as`] build
//! what the layer would leave, for harnesses and tests that call handlers
//! directly.

mod access_token;
mod caller;
mod layer;
mod policy;
mod remote;

pub use access_token::{AccessTokenAuthenticator, principal_if_live, verify_error};
pub use caller::{Caller, Principal, UserPrincipal, request_as};
pub use layer::{AuthLayer, AuthService, Authenticator};
pub use policy::{Access, PolicyTable, ServicePolicy};
pub use remote::{DEFAULT_AUDIENCE, DEFAULT_ISSUER, remote_verifier};

/// Metadata key of the service credential.
pub const SERVICE_TOKEN_HEADER: &str = "x-latch-service-token";
