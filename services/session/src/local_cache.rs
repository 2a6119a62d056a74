//! A small in-memory cache in front of the shared session cache, private to
//! this process.
//!
//! It is used only while the revocation listener is subscribed to
//! `session:revoked`, because that subscription is what drops entries when
//! another replica revokes a session; entries also expire after a short
//! TTL measured on the [`Clock`](latch_domain::Clock), which bounds the
//! staleness a missed event can cause. A revocation leaves a marker rather
//! than a hole, so a validation that read "valid" just before cannot put it
//! back (the same reason the shared cache fills with SET NX).

use std::{
    collections::HashMap,
    sync::{
        Mutex, MutexGuard, PoisonError,
        atomic::{AtomicBool, Ordering},
    },
};

use chrono::{DateTime, Duration, Utc};
use latch_domain::{SessionId, model::Session};

/// Entries kept at most; past it, expired entries go first, then the oldest.
const CAPACITY: usize = 10_000;

/// What the local cache knows of a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LocalHit {
    Valid(Box<Session>),
    Revoked,
}

#[derive(Debug)]
enum Entry {
    Valid {
        session: Box<Session>,
        stored_at: DateTime<Utc>,
    },
    Revoked {
        stored_at: DateTime<Utc>,
    },
}

impl Entry {
    fn stored_at(&self) -> DateTime<Utc> {
        match self {
            Self::Valid { stored_at, .. } | Self::Revoked { stored_at } => *stored_at,
        }
    }
}

#[derive(Debug)]
pub(crate) struct LocalCache {
    ttl: Duration,
    capacity: usize,
    /// Set while the revocation listener is subscribed.
    active: AtomicBool,
    entries: Mutex<HashMap<SessionId, Entry>>,
}

impl LocalCache {
    /// A cache whose entries live `ttl`; a zero `ttl` keeps nothing.
    pub(crate) fn new(ttl: Duration) -> Self {
        Self::with_capacity(ttl, CAPACITY)
    }

    fn with_capacity(ttl: Duration, capacity: usize) -> Self {
        Self {
            ttl,
            capacity,
            active: AtomicBool::new(false),
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Turns the cache on (subscribed) or off (events may be missed from
    /// now on, so everything held is dropped).
    pub(crate) fn set_active(&self, active: bool) {
        self.active.store(active, Ordering::SeqCst);
        if !active {
            self.lock().clear();
        }
    }

    pub(crate) fn is_active(&self) -> bool {
        self.ttl > Duration::zero() && self.active.load(Ordering::SeqCst)
    }

    pub(crate) fn get(&self, id: &SessionId, now: DateTime<Utc>) -> Option<LocalHit> {
        if !self.is_active() {
            return None;
        }
        let mut entries = self.lock();
        let entry = entries.get(id)?;
        if self.expired(entry, now) {
            entries.remove(id);
            return None;
        }
        Some(match entry {
            Entry::Valid { session, .. } => LocalHit::Valid(session.clone()),
            Entry::Revoked { .. } => LocalHit::Revoked,
        })
    }

    /// Caches a valid session unless a live revocation marker is held.
    pub(crate) fn insert_valid(&self, session: &Session, now: DateTime<Utc>) {
        if !self.is_active() {
            return;
        }
        let mut entries = self.lock();
        if let Some(entry @ Entry::Revoked { .. }) = entries.get(&session.id)
            && !self.expired(entry, now)
        {
            return;
        }
        self.make_room(&mut entries, now);
        entries.insert(
            session.id.clone(),
            Entry::Valid {
                session: Box::new(session.clone()),
                stored_at: now,
            },
        );
    }

    /// Replaces whatever is held for `id` with a revocation marker. Works
    /// even while inactive, since activation may follow at once.
    pub(crate) fn mark_revoked(&self, id: &SessionId, now: DateTime<Utc>) {
        if self.ttl <= Duration::zero() {
            return;
        }
        let mut entries = self.lock();
        if !entries.contains_key(id) {
            self.make_room(&mut entries, now);
        }
        entries.insert(id.clone(), Entry::Revoked { stored_at: now });
    }

    /// Moves the cached last activity forward, so idle checks here see it.
    pub(crate) fn note_activity(&self, id: &SessionId, at: DateTime<Utc>) {
        if let Some(Entry::Valid { session, .. }) = self.lock().get_mut(id)
            && session.last_active_at < at
        {
            session.last_active_at = at;
        }
    }

    fn expired(&self, entry: &Entry, now: DateTime<Utc>) -> bool {
        now - entry.stored_at() >= self.ttl
    }

    fn make_room(&self, entries: &mut HashMap<SessionId, Entry>, now: DateTime<Utc>) {
        if entries.len() < self.capacity {
            return;
        }
        entries.retain(|_, entry| !self.expired(entry, now));
        if entries.len() < self.capacity {
            return;
        }
        // Markers matter more than valid entries: losing one reopens the
        // race they close. Evict the oldest valid entry, else the oldest.
        let victim = entries
            .iter()
            .filter(|(_, e)| matches!(e, Entry::Valid { .. }))
            .min_by_key(|(_, e)| e.stored_at())
            .or_else(|| entries.iter().min_by_key(|(_, e)| e.stored_at()))
            .map(|(id, _)| id.clone());
        if let Some(victim) = victim {
            entries.remove(&victim);
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<SessionId, Entry>> {
        // A panic elsewhere cannot leave a half-written map entry behind.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use latch_domain::{
        UserId,
        model::{ClientInfo, DeviceInfo},
    };

    use super::*;

    fn session(now: DateTime<Utc>) -> Session {
        Session {
            id: SessionId::generate().unwrap(),
            user_id: UserId::new(),
            client: ClientInfo::default(),
            device: DeviceInfo::default(),
            location: None,
            created_at: now,
            last_active_at: now,
            expires_at: now + Duration::days(30),
            revoked_at: None,
            revoked_reason: None,
        }
    }

    fn active_cache(ttl: Duration, capacity: usize) -> LocalCache {
        let cache = LocalCache::with_capacity(ttl, capacity);
        cache.set_active(true);
        cache
    }

    #[test]
    fn holds_nothing_until_the_listener_subscribes() {
        let now = Utc::now();
        let cache = LocalCache::new(Duration::seconds(30));
        let s = session(now);
        cache.insert_valid(&s, now);
        assert_eq!(cache.get(&s.id, now), None);
        cache.set_active(true);
        cache.insert_valid(&s, now);
        assert_eq!(
            cache.get(&s.id, now),
            Some(LocalHit::Valid(Box::new(s.clone())))
        );
        cache.set_active(false);
        cache.set_active(true);
        assert_eq!(cache.get(&s.id, now), None, "deactivation drops entries");
    }

    #[test]
    fn entries_expire_on_the_clock() {
        let now = Utc::now();
        let cache = active_cache(Duration::seconds(30), 10);
        let s = session(now);
        cache.insert_valid(&s, now);
        assert!(cache.get(&s.id, now + Duration::seconds(29)).is_some());
        assert_eq!(cache.get(&s.id, now + Duration::seconds(30)), None);
    }

    #[test]
    fn a_revocation_marker_refuses_a_late_valid_fill() {
        let now = Utc::now();
        let cache = active_cache(Duration::seconds(30), 10);
        let s = session(now);
        cache.insert_valid(&s, now);
        cache.mark_revoked(&s.id, now);
        cache.insert_valid(&s, now);
        assert_eq!(cache.get(&s.id, now), Some(LocalHit::Revoked));
        let later = now + Duration::seconds(31);
        cache.insert_valid(&s, later);
        assert_eq!(cache.get(&s.id, later), Some(LocalHit::Valid(Box::new(s))));
    }

    #[test]
    fn stays_within_capacity_and_keeps_markers_longest() {
        let now = Utc::now();
        let cache = active_cache(Duration::seconds(30), 2);
        let revoked = session(now);
        cache.mark_revoked(&revoked.id, now);
        let first = session(now);
        cache.insert_valid(&first, now + Duration::seconds(1));
        let second = session(now);
        cache.insert_valid(&second, now + Duration::seconds(2));
        let at = now + Duration::seconds(3);
        assert_eq!(cache.get(&revoked.id, at), Some(LocalHit::Revoked));
        assert_eq!(cache.get(&first.id, at), None);
        assert!(cache.get(&second.id, at).is_some());
    }

    #[test]
    fn activity_moves_the_cached_copy_forward() {
        let now = Utc::now();
        let cache = active_cache(Duration::seconds(30), 10);
        let s = session(now);
        cache.insert_valid(&s, now);
        let later = now + Duration::seconds(10);
        cache.note_activity(&s.id, later);
        match cache.get(&s.id, later) {
            Some(LocalHit::Valid(cached)) => assert_eq!(cached.last_active_at, later),
            other => panic!("expected a valid entry, got {other:?}"),
        }
    }
}
