//! The authorization service: role-based access control.
//!
//! [`Roles`] is the use-case layer over the `RoleRepository` port: it answers
//! "which roles and permissions does this user hold" and assigns roles. It
//! implements [`latch_domain::ports::RoleDirectory`], so the other services
//! in latchd call it directly and the per-service binaries reach it over
//! gRPC. [`grpc`] holds the `AuthorizationService` handlers and the caller
//! policy of every RPC.

pub mod grpc;
mod roles;
pub mod standalone;

pub use roles::{Decision, RoleWithPermissions, Roles};

#[cfg(test)]
mod testing;
