//! Adapters of the domain's storage ports.
//!
//! - [`Database`]: one sea-orm pool on PostgreSQL or SQLite, chosen by URL,
//!   with the migration history of `latch-migrations`.
//! - [`sql`]: the repositories (`SqlUsers`, `SqlSessions`, …), one per
//!   aggregate, each implementing a port of `latch_domain::ports`.
//! - [`redis`]: session cache, event bus, rate limiter and flow state on
//!   Redis, for the per-service binaries.
//! - [`memory`]: the same four in process memory, for latchd and tests.
//! - [`events_codec`]: domain events to and from `latch.events.v1` protobuf.
//!
//! Driver errors never leave this crate: they become domain errors
//! (`ALREADY_EXISTS`, `NOT_FOUND`, `UNAVAILABLE`, `INTERNAL`) at the edge,
//! with the driver text kept as the error's source, for logs only.

mod database;
pub mod events_codec;
pub mod memory;
pub mod redis;
pub mod sql;

pub use database::{Database, create_owner_only_dir};
