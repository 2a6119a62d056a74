//! The session service: one session per signed-in device, validated on
//! every request through two caches (this process's memory, then the shared
//! `session:valid:{id}` cache), revoked with a reason together with its
//! refresh-token families (through the outbox, [`follow_up`]), deleted a
//! retention after it ended.
//!
//! [`Sessions`] holds the flows and implements
//! [`SessionDirectory`](latch_domain::ports::SessionDirectory) for
//! in-process callers; [`grpc`] serves `latch.session.v1.SessionService`.
//! Cache coherence follows ARCHITECTURE.md: a revocation writes the
//! database first, then tombstones the caches, fills never overwrite
//! (SET NX), and every replica drops its copy on `session:revoked`.

mod cleanup;
mod config;
mod create;
mod device;
mod erase;
pub mod follow_up;
pub mod geo;
pub mod grpc;
mod listener;
mod local_cache;
mod revocation_list;
mod revoke;
mod sessions;
pub mod standalone;
mod touch;
mod validate;

#[cfg(test)]
mod testing;

pub use config::SessionConfig;
pub use erase::ACCOUNT_DELETED;
pub use revocation_list::{ListPosition, REVOCATION_HORIZON, RevokedPage, SETTLE};
pub use sessions::{SessionDeps, Sessions};
pub use validate::Validation;
