//! The refresh tokens this process issued and has not seen back, with the
//! rows it wrote for them.
//!
//! Rotating a token needs its row first: the successor is derived from the
//! salt stored with it, which never leaves the server, so PostgreSQL cannot
//! find the token and insert its successor in one statement without being
//! handed the refresh key. The process that wrote the row knows it, though,
//! and most refreshes of a client come back to it (one process in latchd;
//! the replica behind the client's connection otherwise). For those the
//! lookup is skipped: the remembered row is what the lookup would return,
//! except whether the token was spent or its family revoked since, which
//! the rotation statement checks anyway. A miss (another replica issued it,
//! a restart, eviction) is the lookup as before.

use latch_domain::model::{RefreshFamily, RefreshToken};

/// Tokens remembered at most (a few hundred bytes each); past it the
/// coldest go first, and their refresh reads the database.
const CAPACITY: usize = 10_000;

/// Unspent tokens by hash, each taken on its first presentation.
pub(crate) struct IssuedTokens {
    rows: quick_cache::sync::Cache<[u8; 32], (RefreshToken, RefreshFamily)>,
}

impl Default for IssuedTokens {
    fn default() -> Self {
        Self {
            rows: quick_cache::sync::Cache::new(CAPACITY),
        }
    }
}

impl IssuedTokens {
    /// Remembers `token`, just written unspent in the live `family`.
    pub(super) fn remember(&self, token: &RefreshToken, family: &RefreshFamily) {
        self.rows
            .insert(token.token_hash, (token.clone(), family.clone()));
    }

    /// The row written for the token hashing to `hash`, forgotten at once:
    /// a token is presented for rotation once, and a second presentation
    /// (a duplicate, reuse) must read what the database says.
    pub(super) fn take(&self, hash: &[u8; 32]) -> Option<(RefreshToken, RefreshFamily)> {
        self.rows.remove(hash).map(|(_, row)| row)
    }
}
