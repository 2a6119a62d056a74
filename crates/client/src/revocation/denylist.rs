//! The set of revoked session ids a verifier refuses, each until no token
//! of its session can verify any more.

use std::collections::HashMap;

/// Session ids with the Unix second from which their entry no longer
/// matters (every token of the session has expired by then).
#[derive(Debug, Default)]
pub(crate) struct Denylist {
    until: HashMap<Box<str>, i64>,
}

impl Denylist {
    /// Adds `session_id` until `until`; an entry already there keeps the
    /// later of the two ends (the same revocation seen twice, or by both
    /// the events and the list).
    pub(crate) fn insert(&mut self, session_id: &str, until: i64) {
        match self.until.get_mut(session_id) {
            Some(end) => *end = (*end).max(until),
            None => {
                self.until.insert(session_id.into(), until);
            }
        }
    }

    /// Whether `session_id` is revoked as of `now`.
    pub(crate) fn contains(&self, session_id: &str, now: i64) -> bool {
        self.until.get(session_id).is_some_and(|&end| now < end)
    }

    /// Drops the entries that ended by `now`; returns how many are left.
    pub(crate) fn prune(&mut self, now: i64) -> usize {
        self.until.retain(|_, end| now < *end);
        self.until.len()
    }

    pub(crate) fn len(&self) -> usize {
        self.until.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_counts_until_its_end_and_is_then_pruned() {
        let mut list = Denylist::default();
        list.insert("s1", 1_000);
        list.insert("s2", 2_000);
        assert!(list.contains("s1", 999));
        assert!(!list.contains("s1", 1_000), "ended: its tokens expired");
        assert!(!list.contains("unknown", 0));
        assert_eq!(list.prune(1_500), 1);
        assert!(!list.contains("s1", 0), "pruned");
        assert!(list.contains("s2", 1_999));
        assert_eq!(list.prune(2_000), 0);
    }

    #[test]
    fn the_later_end_wins_when_seen_twice() {
        let mut list = Denylist::default();
        list.insert("s", 2_000);
        list.insert("s", 1_000);
        assert!(list.contains("s", 1_500));
        list.insert("s", 3_000);
        assert!(list.contains("s", 2_500));
        assert_eq!(list.len(), 1);
    }
}
