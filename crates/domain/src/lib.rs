//! The heart of Latch: identifiers, value objects, the error type, events, and
//! the traits (ports) that services depend on. No I/O lives here: storage,
//! caches, buses and sibling services are reached only through the ports.

pub mod client_fields;
pub mod clock;
pub mod device;
pub mod error;
pub mod events;
pub mod ids;
pub mod model;
pub mod ports;
pub mod seal;
pub mod secret;
pub mod validate;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{Error, FieldViolation, Kind, Reason, Result};
pub use ids::{FamilyId, RoleId, SessionId, TokenId, UserId};
