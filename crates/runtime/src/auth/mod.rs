//! Who is calling, and what each RPC lets in. A service declares one
//! [`ServicePolicy`] beside its handlers; the [`AuthLayer`] checks it for
//! every request, limits every public RPC's callers by their address
//! ([`PublicRateLimits`]), and leaves a [`Caller`] in the request extensions.
//! [`Caller::for_user`], [`Caller::for_service`] and [`request_as`] build
//! what the layer would leave, for harnesses and tests that call handlers
//! directly.

mod access_token;
mod accounts;
mod caller;
mod layer;
mod machines;
mod policy;
mod rate_leases;
mod rate_limits;
mod remote;
mod request_field;
mod rule;

pub use access_token::{AccessTokenAuthenticator, principal_if_live, verify_error};
pub use accounts::{
    MIN_SECRET_CHARS, SERVICE_ACCOUNTS, ServiceAccount, ServiceAccounts, new_account,
};
pub use caller::{AccountPrincipal, Caller, Principal, UserPrincipal, request_as, request_through};
pub use layer::{AuthLayer, AuthService, Authenticator, bearer_token};
pub use machines::{MachineCallers, SERVICE_TOKEN_ACCEPT};
pub use policy::{Access, Entry, PolicyTable, Route, ServicePolicy};
pub use rate_limits::{GroupRates, PublicRateLimits, RateGroup, parse_rate};
pub use remote::{DEFAULT_AUDIENCE, DEFAULT_ISSUER, remote_verifier};
pub use request_field::field_number as request_field_number;
pub use rule::Rule;

/// Metadata key of Latch's own service credential (`LATCH_SERVICE_TOKEN`).
pub const SERVICE_TOKEN_HEADER: &str = "x-latch-service-token";
/// Metadata key of a service account's `<name>.<secret>`.
pub const SERVICE_ACCOUNT_HEADER: &str = "x-latch-service-account";
