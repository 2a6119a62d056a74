//! Profiles recently read, private to this process.
//!
//! GetProfile is the hottest read of the service, and a profile changes
//! rarely. A copy is served only while the listener is subscribed to
//! `user:updated` (which drops the copy when any replica changes that user)
//! and for at most the TTL, which bounds what a lost event can leave stale.
//! This replica's own writes drop their copy at once. The rules are those
//! of every such cache: [`TtlCache`].

use latch_domain::{UserId, model::Profile};
use latch_runtime::ttl_cache::TtlCache;

/// Profiles kept at most (a profile is well under 1 KB without metadata).
pub(crate) const CAPACITY: usize = 10_000;

pub(crate) type ProfileCache = TtlCache<UserId, Profile>;
