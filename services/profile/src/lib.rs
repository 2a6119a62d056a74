//! The profile service: names, display name, address, phone, date of birth
//! and free-form metadata of each user (avatars later).
//!
//! [`Profiles`] is the use-case layer over the `ProfileRepository` port. It
//! implements [`latch_domain::ports::ProfileDirectory`], which identity's
//! sign-up saga calls to create (and, on failure, delete) a profile, and
//! applies partial updates named by a field mask ([`ProfileUpdate`]).
//! [`grpc`] holds the `ProfileService` handlers and the caller policy.

pub mod avatar;
mod cache;
pub mod grpc;
mod listener;
mod profiles;
pub mod standalone;
mod update;

pub use profiles::Profiles;
pub use update::{METADATA_MAX_BYTES, ProfileUpdate, UPDATABLE_PATHS};

#[cfg(test)]
mod testing;
