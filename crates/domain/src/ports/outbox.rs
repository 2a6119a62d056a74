//! The outbox: work that must follow a state change and must not be lost
//! when a sibling, Redis or a mail server is down at that moment (revoking
//! the refresh families of a revoked session, a mail, an event).
//!
//! The change and a row describing the follow-up are written in one
//! transaction (a repository method taking a [`FollowUp`], or
//! [`OutboxRepository::enqueue`] for work that follows no row of this
//! database). A worker on every replica claims due rows of the kinds it has
//! an [`OutboxHandler`] for, runs the handler, and marks the row done, due
//! again later (backoff), or dead after too many attempts, with the last
//! error. Rows stay once done or dead, for incidents, until the purge
//! deletes them after their retention (`latch_runtime::outbox_purge`).

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Serialize, de::DeserializeOwned};
use uuid::Uuid;

use crate::{Error, Result};

/// Longest kind (`<service>.<verb>`), key and kept error, in characters.
pub const KIND_MAX_LEN: usize = 64;
pub const KEY_MAX_LEN: usize = 128;
pub const ERROR_MAX_CHARS: usize = 512;

/// One row of the outbox: a UUID v7, so rows sort by creation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OutboxId(pub Uuid);

impl OutboxId {
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }
}

impl Default for OutboxId {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Display for OutboxId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Work to do, as written beside the change it follows.
#[derive(Debug, Clone, PartialEq)]
pub struct NewOutboxMessage {
    pub id: OutboxId,
    /// What to do, namespaced by the service whose worker does it
    /// (`session.revoke_families`, `token.revoke_session`).
    pub kind: String,
    /// The aggregate the work is about (a session id, a user id), for
    /// lookups in an incident. Not an ordering guarantee: handlers must not
    /// depend on the order in which rows run.
    pub key: String,
    /// The handler's input, as JSON (readable in an incident). Never a
    /// secret in clear: the table is not encrypted.
    pub payload: serde_json::Value,
    pub created_at: DateTime<Utc>,
    /// Not claimed before this (`created_at` for "at once").
    pub available_at: DateTime<Utc>,
}

impl NewOutboxMessage {
    /// Work due at once. `INVALID_ARGUMENT` when the kind or key is empty
    /// or too long (a bug of the caller, caught before anything is written).
    pub fn new(kind: &str, key: &str, payload: &impl Serialize, at: DateTime<Utc>) -> Result<Self> {
        if kind.is_empty() || kind.len() > KIND_MAX_LEN {
            return Err(Error::invalid_field("kind", "must be 1 to 64 bytes"));
        }
        if key.len() > KEY_MAX_LEN {
            return Err(Error::invalid_field("key", "must be at most 128 bytes"));
        }
        Ok(Self {
            id: OutboxId::new(),
            kind: kind.to_owned(),
            key: key.to_owned(),
            payload: serde_json::to_value(payload).map_err(Error::internal)?,
            created_at: at,
            available_at: at,
        })
    }

    /// The same work, not claimed before `at`.
    pub fn available_at(mut self, at: DateTime<Utc>) -> Self {
        self.available_at = at;
        self
    }
}

/// Where a row is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutboxStatus {
    /// To do: due at `available_at` (which a claim moves to its lease end).
    Pending,
    /// The handler succeeded.
    Done,
    /// Given up: an error that cannot pass, or too many attempts.
    Dead,
}

impl OutboxStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxStatus::Pending => "pending",
            OutboxStatus::Done => "done",
            OutboxStatus::Dead => "dead",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "pending" => Some(OutboxStatus::Pending),
            "done" => Some(OutboxStatus::Done),
            "dead" => Some(OutboxStatus::Dead),
            _ => None,
        }
    }
}

/// A stored row, as a claim or a lookup returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxMessage {
    pub id: OutboxId,
    pub kind: String,
    pub key: String,
    pub payload: serde_json::Value,
    pub status: OutboxStatus,
    /// Claims so far, this one included.
    pub attempts: u32,
    pub created_at: DateTime<Utc>,
    pub available_at: DateTime<Utc>,
    /// Set by a claim: only its holder may settle the row.
    pub lease: Option<Uuid>,
    pub last_error: Option<String>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl OutboxMessage {
    /// The payload as the handler's input type; `INVALID_ARGUMENT` when it
    /// does not fit, which the worker treats as permanent.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T> {
        T::deserialize(&self.payload).map_err(|e| {
            Error::invalid_field("payload", format!("does not fit {}: {e}", self.kind))
        })
    }
}

/// Builds the follow-up rows of a change from each record the change
/// actually made (each session a revocation revoked); a record the change
/// did not touch gets none.
pub type FollowUp<'a, T> = &'a (dyn Fn(&T) -> Result<Vec<NewOutboxMessage>> + Send + Sync);

/// No follow-up.
pub fn no_follow_up<T>(_: &T) -> Result<Vec<NewOutboxMessage>> {
    Ok(Vec::new())
}

/// `outbox`, one table shared by every service; each worker claims only
/// the kinds it handles.
#[async_trait]
pub trait OutboxRepository: Send + Sync + 'static {
    /// Writes rows on their own, for work that follows no change of this
    /// database. Work that follows a change is written by the change's
    /// repository method, in its transaction.
    async fn enqueue(&self, messages: &[NewOutboxMessage]) -> Result<()>;

    /// Claims up to `limit` pending rows of `kinds` due at `now`, oldest due
    /// first: each gets a new lease, one more attempt, and is not due again
    /// before `now + lease` (so a worker that dies holding it delays it by
    /// the lease only). Two concurrent claims never return the same row.
    async fn claim(
        &self,
        kinds: &[&str],
        now: DateTime<Utc>,
        lease: TimeDelta,
        limit: u32,
    ) -> Result<Vec<OutboxMessage>>;

    /// The claimed row succeeded. False, changing nothing, when the lease
    /// is no longer this claim's (it ran out and another worker took it).
    async fn complete(&self, claimed: &OutboxMessage, at: DateTime<Utc>) -> Result<bool>;

    /// The claimed row failed: due again at `retry_at`, with `error` kept.
    /// False as [`OutboxRepository::complete`].
    async fn retry(
        &self,
        claimed: &OutboxMessage,
        retry_at: DateTime<Utc>,
        error: &str,
    ) -> Result<bool>;

    /// The claimed row is given up, with `error` kept. False as
    /// [`OutboxRepository::complete`].
    async fn bury(&self, claimed: &OutboxMessage, at: DateTime<Utc>, error: &str) -> Result<bool>;

    /// Returns when rows were committed through this process since the
    /// last call (at once if so), or after `max`: the worker's pause
    /// between polls, cut short by new work.
    async fn wait_for_new(&self, max: std::time::Duration);

    /// Every row about `key`, oldest first (incidents, tests).
    async fn find_by_key(&self, key: &str) -> Result<Vec<OutboxMessage>>;

    /// Deletes at most `limit` rows in `status` that finished before
    /// `before`; returns how many. Only done or dead rows: pending rows
    /// (`status` = pending) are never deleted, and the call returns 0.
    /// Call again until it returns less than `limit`.
    async fn purge_finished(
        &self,
        status: OutboxStatus,
        before: DateTime<Utc>,
        limit: u64,
    ) -> Result<u64>;
}

/// Runs one kind of row. Handlers are idempotent: a row may run again
/// after a success whose completion was lost, or beside a worker whose
/// lease ran out.
#[async_trait]
pub trait OutboxHandler: Send + Sync + 'static {
    /// The kind handled, `<service>.<verb>`.
    fn kind(&self) -> &'static str;

    /// Does the work. An `INVALID_ARGUMENT` error is permanent (the row
    /// is buried at once); any other is retried with backoff.
    async fn handle(&self, message: &OutboxMessage) -> Result<()>;
}
