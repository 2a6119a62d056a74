//! When this process last recorded activity on each session. Recording
//! activity (moving a session's idle expiry) is a session-service call and,
//! within the touch interval, a write it would skip anyway; every place that
//! records it (the auth layer for authenticated calls, a token refresh)
//! asks this note first, so a busy session costs one touch per interval.

use std::time::Duration;

use chrono::{DateTime, Utc};
use latch_domain::SessionId;

/// Sessions remembered at most (a few MB); one forgotten costs one early
/// touch, nothing else.
const REMEMBERED_SESSIONS: usize = 50_000;

pub struct ActivityNotes {
    interval: chrono::Duration,
    noted: quick_cache::sync::Cache<SessionId, DateTime<Utc>>,
}

impl ActivityNotes {
    pub fn new(interval: Duration) -> Self {
        Self {
            interval: chrono::Duration::from_std(interval).unwrap_or(chrono::Duration::MAX),
            noted: quick_cache::sync::Cache::new(REMEMBERED_SESSIONS),
        }
    }

    /// Whether a touch of `session` is due at `now`: neither this process's
    /// note nor `known` (the session's own `last_active_at`, when the
    /// caller holds a copy) is within the interval.
    pub fn due(
        &self,
        session: &SessionId,
        known: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> bool {
        let last = match (self.noted.get(session), known) {
            (Some(noted), Some(known)) => Some(noted.max(known)),
            (noted, known) => noted.or(known),
        };
        last.is_none_or(|at| now - at >= self.interval)
    }

    /// Notes that activity on `session` was recorded (or asked for) `at`.
    pub fn note(&self, session: &SessionId, at: DateTime<Utc>) {
        self.noted.insert(session.clone(), at);
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;

    #[test]
    fn a_note_spares_the_interval_whatever_a_stale_copy_says() {
        let notes = ActivityNotes::new(Duration::from_secs(60));
        let session = SessionId::generate().unwrap();
        let start = Utc::now();
        assert!(notes.due(&session, None, start));
        // A cached copy filled at sign-in keeps saying "active at start".
        let later = start + TimeDelta::minutes(5);
        assert!(notes.due(&session, Some(start), later));
        assert!(!notes.due(&session, Some(start), start + TimeDelta::seconds(30)));

        notes.note(&session, later);
        assert!(!notes.due(&session, Some(start), later + TimeDelta::seconds(59)));
        assert!(notes.due(&session, Some(start), later + TimeDelta::seconds(60)));
        // Another session is not spared by this one's note.
        assert!(notes.due(&SessionId::generate().unwrap(), Some(start), later));
    }
}
