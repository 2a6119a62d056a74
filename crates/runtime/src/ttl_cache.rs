//! A bounded map of answers read from elsewhere, private to this process and
//! kept coherent with other replicas by events: the part every such cache
//! shares.
//!
//! The rules: a value is served only while its owner is subscribed to the
//! events that invalidate it ([`TtlCache::set_active`], driven by
//! [`crate::follow`]), and for at most the TTL measured on the
//! [`Clock`](latch_domain::Clock), which bounds what a lost event can leave
//! stale. A read that raced an invalidation is not kept (a generation
//! counter).

use std::{
    future::Future,
    hash::Hash,
    sync::atomic::{AtomicBool, AtomicU64, Ordering},
};

use chrono::{DateTime, Duration, Utc};
use latch_domain::{Clock, Result};

#[derive(Debug, Clone)]
struct Entry<V> {
    value: V,
    stored_at: DateTime<Utc>,
}

/// Where a read through the cache started: pass it to [`TtlCache::keep`]
/// with what the read found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fill {
    generation: u64,
    started_at: DateTime<Utc>,
}

/// Values of type `V` by key, each served for at most the TTL and only while
/// active. `V` is cloned on every hit: wrap large values in an `Arc`.
pub struct TtlCache<K, V> {
    ttl: Duration,
    /// Set while the owner is subscribed to its invalidations.
    active: AtomicBool,
    /// Bumped by every invalidation, so a read that raced one is not kept.
    generation: AtomicU64,
    entries: quick_cache::sync::Cache<K, Entry<V>>,
}

impl<K, V> TtlCache<K, V>
where
    K: Eq + Hash + Clone,
    V: Clone,
{
    /// Up to about `capacity` values, each living `ttl`; a zero `ttl` keeps
    /// nothing. Inactive until [`Self::set_active`].
    pub fn new(ttl: std::time::Duration, capacity: usize) -> Self {
        Self {
            ttl: Duration::from_std(ttl).unwrap_or(Duration::zero()),
            active: AtomicBool::new(false),
            generation: AtomicU64::new(0),
            entries: quick_cache::sync::Cache::new(capacity.max(1)),
        }
    }

    /// Turns the cache on (subscribed) or off (invalidations may be missed
    /// from now on, so everything held is dropped).
    pub fn set_active(&self, active: bool) {
        self.active.store(active, Ordering::SeqCst);
        if !active {
            self.generation.fetch_add(1, Ordering::SeqCst);
            self.entries.clear();
        }
    }

    /// Whether values are served and kept.
    pub fn is_active(&self) -> bool {
        self.ttl > Duration::zero() && self.active.load(Ordering::SeqCst)
    }

    /// The value held for `key`, unless expired or inactive.
    pub fn get(&self, key: &K, now: DateTime<Utc>) -> Option<V> {
        if !self.is_active() {
            return None;
        }
        let entry = self.entries.get(key)?;
        (now < entry.stored_at + self.ttl).then_some(entry.value)
    }

    /// Marks the start of a read of the source.
    pub fn begin(&self, now: DateTime<Utc>) -> Fill {
        Fill {
            generation: self.generation.load(Ordering::SeqCst),
            started_at: now,
        }
    }

    /// Keeps `value`, read since `fill`, unless an invalidation came in
    /// between. It expires a TTL after the read started.
    pub fn keep(&self, key: K, value: V, fill: Fill) {
        if !self.is_active() || self.generation.load(Ordering::SeqCst) != fill.generation {
            return;
        }
        let entry = Entry {
            value,
            stored_at: fill.started_at,
        };
        self.entries.insert(key.clone(), entry);
        // An invalidation between the check above and the insert bumped the
        // generation before removing, and may have removed nothing yet:
        // take the value back out rather than serve it.
        if self.generation.load(Ordering::SeqCst) != fill.generation {
            self.entries.remove(&key);
        }
    }

    /// The value for `key` from the cache, else from `load` (kept when no
    /// invalidation raced it). Errors are returned, never kept.
    pub async fn get_or_load<F, Fut>(&self, key: K, clock: &dyn Clock, load: F) -> Result<V>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V>>,
    {
        let now = clock.now();
        if let Some(value) = self.get(&key, now) {
            return Ok(value);
        }
        let fill = self.begin(now);
        let value = load().await?;
        self.keep(key, value.clone(), fill);
        Ok(value)
    }

    /// Drops the value of `key`.
    pub fn invalidate(&self, key: &K) {
        // Before removing: voids the reads in flight.
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.entries.remove(key);
    }

    /// Drops every value for which `stale` holds.
    pub fn invalidate_where(&self, stale: impl Fn(&K, &V) -> bool) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.entries.retain(|key, entry| !stale(key, &entry.value));
    }

    /// Drops everything.
    pub fn clear(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_795_478_400 + seconds, 0).unwrap()
    }

    fn active(ttl: u64) -> TtlCache<u32, &'static str> {
        let cache = TtlCache::new(std::time::Duration::from_secs(ttl), 100);
        cache.set_active(true);
        cache
    }

    fn fill(cache: &TtlCache<u32, &'static str>, key: u32, value: &'static str, now: i64) {
        cache.keep(key, value, cache.begin(at(now)));
    }

    #[test]
    fn a_value_is_served_until_its_ttl() {
        let cache = active(30);
        fill(&cache, 1, "one", 0);
        assert_eq!(cache.get(&1, at(29)), Some("one"));
        assert_eq!(cache.get(&1, at(30)), None);
    }

    #[test]
    fn nothing_is_served_unless_active_or_with_a_zero_ttl() {
        let cache = TtlCache::new(std::time::Duration::from_secs(30), 100);
        fill(&cache, 1, "one", 0);
        assert_eq!(cache.get(&1, at(0)), None, "inactive keeps nothing");

        cache.set_active(true);
        fill(&cache, 1, "one", 0);
        cache.set_active(false);
        cache.set_active(true);
        assert_eq!(cache.get(&1, at(0)), None, "cleared when deactivated");

        let off = active(0);
        fill(&off, 1, "one", 0);
        assert_eq!(off.get(&1, at(0)), None);
    }

    #[test]
    fn invalidations_drop_values_and_reads_that_raced_them() {
        let cache = active(30);
        fill(&cache, 1, "one", 0);
        fill(&cache, 2, "two", 0);
        fill(&cache, 3, "three", 0);
        cache.invalidate(&1);
        assert_eq!(cache.get(&1, at(1)), None);
        cache.invalidate_where(|_, v| v.starts_with('t') && v.len() == 3);
        assert_eq!(cache.get(&2, at(1)), None);
        assert_eq!(cache.get(&3, at(1)), Some("three"));

        // A read started, something changed, then the read finished.
        let started = cache.begin(at(2));
        cache.invalidate(&4);
        cache.keep(3, "stale", started);
        assert_eq!(
            cache.get(&3, at(2)),
            Some("three"),
            "the raced read is not kept"
        );

        cache.clear();
        assert_eq!(cache.get(&3, at(3)), None);
    }

    #[tokio::test]
    async fn get_or_load_reads_the_source_once_and_not_on_error() -> Result<()> {
        let clock = latch_domain::ManualClock::starting_now();
        let cache = active(30);
        let reads = std::sync::atomic::AtomicUsize::new(0);
        let load = || async {
            reads.fetch_add(1, Ordering::SeqCst);
            Ok("loaded")
        };
        assert_eq!(cache.get_or_load(1, &clock, load).await?, "loaded");
        assert_eq!(cache.get_or_load(1, &clock, load).await?, "loaded");
        assert_eq!(reads.load(Ordering::SeqCst), 1);

        let failed = cache
            .get_or_load(2, &clock, || async {
                Err(latch_domain::Error::internal_msg("down"))
            })
            .await;
        assert!(failed.is_err());
        assert_eq!(cache.get_or_load(2, &clock, load).await?, "loaded");
        assert_eq!(reads.load(Ordering::SeqCst), 2);
        Ok(())
    }
}
