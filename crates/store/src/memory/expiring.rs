//! A map whose entries expire on the injected clock.

use std::{
    borrow::Borrow,
    collections::HashMap,
    hash::Hash,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use chrono::{DateTime, Utc};
use latch_domain::Clock;

/// Expired entries are swept on every this many inserts, so the map stays
/// bounded by what is live rather than by what was ever written.
const SWEEP_EVERY: u64 = 1024;

pub(crate) struct ExpiringMap<K, V> {
    clock: Arc<dyn Clock>,
    inner: Mutex<Inner<K, V>>,
}

struct Inner<K, V> {
    entries: HashMap<K, (V, DateTime<Utc>)>,
    inserts: u64,
}

/// `ttl` as a chrono duration; absurdly long ones are capped at 100 years.
pub(crate) fn chrono_ttl(ttl: Duration) -> chrono::Duration {
    chrono::Duration::from_std(ttl).unwrap_or_else(|_| chrono::Duration::days(36_500))
}

impl<K: Eq + Hash, V> ExpiringMap<K, V> {
    pub(crate) fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            inner: Mutex::new(Inner {
                entries: HashMap::new(),
                inserts: 0,
            }),
        }
    }

    /// Runs `f` on the live entry of `key` (expired ones are dropped first)
    /// and the map, under one lock, so read-modify-write steps are atomic.
    pub(crate) fn with<Q, R>(&self, key: &Q, f: impl FnOnce(Entry<'_, K, V>) -> R) -> R
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let now = self.clock.now();
        let mut inner = self.lock();
        if inner
            .entries
            .get(key)
            .is_some_and(|(_, expires_at)| *expires_at <= now)
        {
            inner.entries.remove(key);
        }
        f(Entry { inner, now })
    }

    fn lock(&self) -> MutexGuard<'_, Inner<K, V>> {
        // A panic while holding the lock leaves a consistent map behind.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The map seen from inside [`ExpiringMap::with`], expired key removed.
pub(crate) struct Entry<'a, K, V> {
    inner: MutexGuard<'a, Inner<K, V>>,
    now: DateTime<Utc>,
}

impl<K: Eq + Hash, V> Entry<'_, K, V> {
    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.now
    }

    pub(crate) fn get<Q>(&self, key: &Q) -> Option<&(V, DateTime<Utc>)>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.inner.entries.get(key)
    }

    pub(crate) fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut (V, DateTime<Utc>)>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.inner.entries.get_mut(key)
    }

    pub(crate) fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.inner.entries.remove(key).map(|(value, _)| value)
    }

    pub(crate) fn insert(&mut self, key: K, value: V, ttl: Duration) {
        let expires_at = self.now + chrono_ttl(ttl);
        let inner = &mut *self.inner;
        inner.inserts += 1;
        if inner.inserts.is_multiple_of(SWEEP_EVERY) {
            let now = self.now;
            inner.entries.retain(|_, (_, expires_at)| *expires_at > now);
        }
        inner.entries.insert(key, (value, expires_at));
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.inner.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use latch_domain::ManualClock;

    #[test]
    fn entries_expire_on_the_clock_and_are_swept() {
        let clock = ManualClock::starting_now();
        let map = ExpiringMap::<String, u32>::new(Arc::new(clock.clone()));
        map.with("a", |mut e| {
            e.insert("a".into(), 1, Duration::from_secs(10))
        });
        clock.advance(chrono::Duration::seconds(9));
        assert_eq!(map.with("a", |e| e.get("a").map(|v| v.0)), Some(1));
        clock.advance(chrono::Duration::seconds(1));
        assert_eq!(map.with("a", |e| e.get("a").map(|v| v.0)), None);

        for i in 0..SWEEP_EVERY {
            map.with("", |mut e| {
                e.insert(i.to_string(), 0, Duration::from_secs(1))
            });
        }
        clock.advance(chrono::Duration::seconds(2));
        for i in 0..SWEEP_EVERY {
            map.with("", |mut e| {
                e.insert(format!("b{i}"), 0, Duration::from_secs(1))
            });
        }
        assert!(map.with("", |e| e.len()) <= SWEEP_EVERY as usize);
    }
}
