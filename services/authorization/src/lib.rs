//! The authorization service: role-based access control.
//!
//! [`Roles`] is the use-case layer over the `RoleRepository` port: it answers
//! "which roles and permissions does this user hold" and assigns roles. It
//! implements [`latch_domain::ports::RoleDirectory`], so the other services
//! in latchd call it directly and the per-service binaries reach it over
//! gRPC. [`grpc`] holds the `AuthorizationService` handlers and the caller
//! policy of every RPC. [`ext_authz`] answers Envoy's external
//! authorization check for the HTTP requests it proxies.

mod admin;
pub mod ext_authz;
pub mod grpc;
mod roles;
pub mod standalone;

pub use admin::{Actor, Page};
pub use roles::{Decision, RoleCache, RoleWithPermissions, Roles};

#[cfg(test)]
mod testing;
