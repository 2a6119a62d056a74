//! Profiles recently read, private to this process.
//!
//! GetProfile is the hottest read of the service, and a profile changes
//! rarely. A copy is served only while the listener is subscribed to
//! `user:updated` (which drops the copy when any replica changes that user)
//! and for at most the TTL, which bounds what a lost event can leave stale.
//! This replica's own writes drop their copy at once.

use std::sync::{
    Arc,
    atomic::{AtomicBool, AtomicU64, Ordering},
};

use chrono::{DateTime, Duration, Utc};
use latch_domain::{UserId, model::Profile};

/// Profiles kept at most (a profile is well under 1 KB without metadata).
const CAPACITY: usize = 10_000;

#[derive(Debug)]
struct Entry {
    profile: Profile,
    stored_at: DateTime<Utc>,
}

#[derive(Debug)]
pub(crate) struct ProfileCache {
    ttl: Duration,
    /// Set while the `user:updated` listener is subscribed.
    active: AtomicBool,
    /// Bumped by every invalidation, so a read that raced one is not kept.
    generation: AtomicU64,
    entries: quick_cache::sync::Cache<UserId, Arc<Entry>>,
}

impl ProfileCache {
    /// A cache whose copies live `ttl`; a zero `ttl` keeps nothing.
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            active: AtomicBool::new(false),
            generation: AtomicU64::new(0),
            entries: quick_cache::sync::Cache::new(CAPACITY),
        }
    }

    /// Turns the cache on (subscribed) or off (updates may be missed from
    /// now on, so everything held is dropped).
    pub(crate) fn set_active(&self, active: bool) {
        self.active.store(active, Ordering::SeqCst);
        if !active {
            self.generation.fetch_add(1, Ordering::SeqCst);
            self.entries.clear();
        }
    }

    #[cfg(test)]
    pub(crate) fn is_active(&self) -> bool {
        self.active.load(Ordering::SeqCst)
    }

    fn serving(&self) -> bool {
        self.ttl > Duration::zero() && self.active.load(Ordering::SeqCst)
    }

    pub(crate) fn get(&self, user: UserId, now: DateTime<Utc>) -> Option<Profile> {
        if !self.serving() {
            return None;
        }
        let entry = self.entries.get(&user)?;
        (now < entry.stored_at + self.ttl).then(|| entry.profile.clone())
    }

    /// Where a read starts: pass it to [`ProfileCache::keep`] with what the
    /// read found.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Keeps `profile`, read since `generation`, unless an invalidation
    /// came in between.
    pub(crate) fn keep(&self, profile: &Profile, generation: u64, now: DateTime<Utc>) {
        if !self.serving() || self.generation() != generation {
            return;
        }
        let user = profile.user_id;
        let entry = Entry {
            profile: profile.clone(),
            stored_at: now,
        };
        self.entries.insert(user, Arc::new(entry));
        // An invalidation between the check above and the insert bumped the
        // generation before removing, and may have removed nothing yet:
        // take the copy back out rather than serve it.
        if self.generation() != generation {
            self.entries.remove(&user);
        }
    }

    /// Drops the copy of `user` (their profile changed or is gone).
    pub(crate) fn invalidate(&self, user: UserId) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.entries.remove(&user);
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_795_478_400 + seconds, 0).unwrap()
    }

    fn profile(first_name: &str) -> Profile {
        Profile::named(
            UserId::new(),
            first_name.to_owned(),
            "Lovelace".to_owned(),
            at(0),
        )
    }

    fn active(ttl: i64) -> ProfileCache {
        let cache = ProfileCache::new(Duration::seconds(ttl));
        cache.set_active(true);
        cache
    }

    #[test]
    fn a_kept_copy_is_served_until_its_ttl() {
        let cache = active(30);
        let ada = profile("Ada");
        cache.keep(&ada, cache.generation(), at(0));
        assert_eq!(cache.get(ada.user_id, at(29)), Some(ada.clone()));
        assert_eq!(cache.get(ada.user_id, at(30)), None);
    }

    #[test]
    fn nothing_is_served_unless_subscribed_or_with_a_zero_ttl() {
        let cache = ProfileCache::new(Duration::seconds(30));
        let ada = profile("Ada");
        cache.keep(&ada, cache.generation(), at(0));
        assert_eq!(cache.get(ada.user_id, at(0)), None);

        cache.set_active(true);
        cache.keep(&ada, cache.generation(), at(0));
        cache.set_active(false);
        cache.set_active(true);
        assert_eq!(
            cache.get(ada.user_id, at(0)),
            None,
            "cleared on unsubscribe"
        );

        let off = active(0);
        off.keep(&ada, off.generation(), at(0));
        assert_eq!(off.get(ada.user_id, at(0)), None);
    }

    #[test]
    fn an_invalidation_drops_the_copy_and_a_read_that_raced_it() {
        let cache = active(30);
        let ada = profile("Ada");
        cache.keep(&ada, cache.generation(), at(0));
        cache.invalidate(ada.user_id);
        assert_eq!(cache.get(ada.user_id, at(1)), None);

        // A read started, the profile changed, then the read finished.
        let started = cache.generation();
        cache.invalidate(ada.user_id);
        cache.keep(&ada, started, at(2));
        assert_eq!(cache.get(ada.user_id, at(2)), None);
    }
}
