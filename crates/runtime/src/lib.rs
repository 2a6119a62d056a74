//! What every Latch binary shares: configuration, the mapping of domain
//! errors to gRPC statuses, caller authentication, the server builder and
//! clients to sibling services.

pub mod activity_notes;
pub mod auth;
pub mod authz_cache;
pub mod binary;
pub mod cleanup;
pub mod clients;
pub mod config;
pub mod convert;
pub mod follow;
pub mod http;
pub mod infra;
pub mod limits;
pub mod metrics;
pub mod outbox;
pub mod outbox_purge;
pub mod paging;
pub mod secrets;
pub mod server;
pub mod settings;
pub mod siblings;
pub mod status;
pub mod telemetry;
pub mod ttl_cache;

pub use status::{IntoStatus, ResultExt};
