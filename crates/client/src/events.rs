//! Reading Latch's event streams with a consumer group (cargo feature
//! `redis`): for a backend that must not miss an event, where pub/sub
//! (`Revocations::subscribe`) may.
//!
//! Latch appends every event, once it is committed, to a Redis Stream per
//! channel: `{prefix}events:user:updated`, `{prefix}events:session:revoked`,
//! … (the prefix is Latch's `LATCH_REDIS_PREFIX`, empty in production).
//! Each entry has the fields `event_id`, `aggregate` (`user:{id}`,
//! `session:{id}`, `role:{name}`), `type` (the channel name) and `data`,
//! the `latch.events.v1` protobuf message of that channel.
//!
//! A [`StreamConsumer`] is one consumer of one group on one stream. It
//! creates the group when missing, reads with `XREADGROUP`, hands each entry
//! to the caller's handler and acknowledges it (`XACK`) only after the
//! handler succeeded. Guarantees:
//!
//! - **At least once.** An entry is acknowledged after its handler returned
//!   `Ok`; a failure, a crash or a lost connection in between leaves it
//!   pending, and it is handed out again (to this consumer first, or to
//!   another of the group once it has been idle for
//!   [`ConsumerOptions::claim_min_idle`], via `XAUTOCLAIM`). Handlers must
//!   be idempotent: deduplicate on [`StreamEvent::event_id`].
//! - **Order.** Entries come in stream order, which is the order Latch
//!   created one aggregate's events in. A failed handler is retried (with
//!   backoff) before anything newer is handed out, so one consumer sees
//!   one aggregate's events in order; several consumers of one group share
//!   the entries and then only each sees its share in order.
//! - **Each group sees every entry.** Groups are independent: two services
//!   each read the whole stream with a group of their own.
//! - **Retention.** Streams are trimmed to about `LATCH_EVENT_STREAM_MAXLEN`
//!   entries (default 100,000): a group that falls further behind loses the
//!   oldest; an entry trimmed while pending is acknowledged and skipped.
//!   Entries live as long as Redis keeps its data (use persistence).
//! - **Redis restarts.** The connection is re-made with backoff; a group
//!   that vanished with its stream (a Redis that lost its data) is created
//!   again from the beginning of the stream, so nothing appended since is
//!   missed.

mod reply;

use std::{fmt, future::Future, time::Duration};

use deadpool_redis::redis::{self, AsyncConnectionConfig, aio::MultiplexedConnection};
use tokio::time::Instant;

pub use reply::StreamEvent;

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// `XAUTOCLAIM` calls per re-claim round, `count` entries each: bounded so
/// a huge backlog of a dead consumer does not stall this one's reading.
const CLAIM_ROUNDS: usize = 10;

/// Where a new group starts reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartFrom {
    /// Every entry the stream still holds (`0`): the default.
    #[default]
    Beginning,
    /// Only entries appended after the group was created (`$`).
    New,
}

/// How a [`StreamConsumer`] reads.
#[derive(Debug, Clone)]
pub struct ConsumerOptions {
    /// Where the group starts when this consumer creates it (default
    /// [`StartFrom::Beginning`]). A group created again after Redis lost
    /// it always starts at the beginning.
    pub start: StartFrom,
    /// How long one `XREADGROUP` waits for new entries (default 2 s).
    pub block: Duration,
    /// Entries read at most per call (default 100).
    pub count: usize,
    /// How long an entry must have been pending (handed out, not
    /// acknowledged) before this consumer takes it over from another
    /// (default 60 s): longer than a handler ever takes.
    pub claim_min_idle: Duration,
    /// How often this consumer looks for such entries (default 30 s).
    pub claim_every: Duration,
    /// How long connecting and each command other than the blocking read
    /// may take (default 2 s).
    pub call_timeout: Duration,
}

impl Default for ConsumerOptions {
    fn default() -> Self {
        Self {
            start: StartFrom::Beginning,
            block: Duration::from_secs(2),
            count: 100,
            claim_min_idle: Duration::from_secs(60),
            claim_every: Duration::from_secs(30),
            call_timeout: Duration::from_secs(2),
        }
    }
}

/// Why a consumer could not be made or its group created.
#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    #[error("malformed Redis URL")]
    InvalidUrl,
    #[error("Redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("Redis did not answer in time")]
    TimedOut,
}

/// One consumer of one group on one event stream; see the module docs.
pub struct StreamConsumer {
    client: redis::Client,
    stream: String,
    group: String,
    consumer: String,
    options: ConsumerOptions,
}

impl fmt::Debug for StreamConsumer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The client holds the URL, which may hold a password.
        f.debug_struct("StreamConsumer")
            .field("stream", &self.stream)
            .field("group", &self.group)
            .field("consumer", &self.consumer)
            .finish_non_exhaustive()
    }
}

impl StreamConsumer {
    /// A consumer named `consumer` (unique within its group, and the same
    /// across restarts of one instance, so it finds its own pending entries
    /// again) of `group` on the stream of `channel` (e.g. `user:updated`)
    /// on the Redis at `redis_url`, whose keys start with `key_prefix`.
    /// Connects only when run.
    pub fn new(
        redis_url: &str,
        key_prefix: &str,
        channel: &str,
        group: &str,
        consumer: &str,
    ) -> Result<Self, EventsError> {
        let client = redis::Client::open(redis_url).map_err(|_| EventsError::InvalidUrl)?;
        Ok(Self {
            client,
            stream: format!("{key_prefix}events:{channel}"),
            group: group.to_owned(),
            consumer: consumer.to_owned(),
            options: ConsumerOptions::default(),
        })
    }

    pub fn with_options(mut self, options: ConsumerOptions) -> Self {
        self.options = ConsumerOptions {
            count: options.count.max(1),
            ..options
        };
        self
    }

    /// The stream's key.
    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// Creates the group (and the stream) unless it exists. [`Self::run`]
    /// does this itself; call it first (e.g. at deploy) when the group
    /// must hold events appended before the consumer's first run with
    /// [`StartFrom::New`].
    pub async fn create_group(&self) -> Result<(), EventsError> {
        let mut conn = self.connect().await?;
        self.ensure_group(&mut conn, self.options.start).await
    }

    /// Hands every entry to `handler`, acknowledging it when the handler
    /// returns `Ok`; an `Err` is logged and the entry handed out again
    /// after a pause (doubling up to 5 s). Runs until the future is dropped
    /// (or its task aborted), reconnecting with backoff whenever Redis is
    /// unreachable; dropping it while a handler runs leaves that entry
    /// pending, to be handed out again.
    pub async fn run<F, Fut, E>(&self, mut handler: F)
    where
        F: FnMut(StreamEvent) -> Fut,
        Fut: Future<Output = Result<(), E>>,
        E: fmt::Display,
    {
        let mut backoff = FIRST_BACKOFF;
        loop {
            let error = self.session(&mut handler, &mut backoff).await;
            tracing::warn!(stream = %self.stream, group = %self.group, %error,
                "event stream connection lost; reconnecting");
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// One connection, until it fails.
    async fn session<F, Fut, E>(&self, handler: &mut F, backoff: &mut Duration) -> EventsError
    where
        F: FnMut(StreamEvent) -> Fut,
        Fut: Future<Output = Result<(), E>>,
        E: fmt::Display,
    {
        let mut conn = match self.connect().await {
            Ok(conn) => conn,
            Err(error) => return error,
        };
        if let Err(error) = self.ensure_group(&mut conn, self.options.start).await {
            return error;
        }
        *backoff = FIRST_BACKOFF;
        // Our own pending entries (left by a failed handler, a lost
        // connection or a previous run) come before anything new.
        let mut pending_first = true;
        let mut handler_pause = FIRST_BACKOFF;
        let mut last_claim: Option<Instant> = None;
        loop {
            if last_claim.is_none_or(|at| at.elapsed() >= self.options.claim_every) {
                match self.reclaim(&mut conn).await {
                    Ok(claimed) => pending_first |= claimed,
                    Err(error) if is_nogroup(&error) => {}
                    Err(error) => return error,
                }
                last_claim = Some(Instant::now());
            }
            let read = self
                .read(&mut conn, if pending_first { "0" } else { ">" })
                .await;
            let entries = match read {
                Ok(entries) => entries,
                Err(error) if is_nogroup(&error) => {
                    // The stream (and the group) vanished: Redis lost its
                    // data. From the beginning, so nothing appended since
                    // is missed.
                    tracing::warn!(stream = %self.stream, group = %self.group,
                        "consumer group missing; creating it again");
                    if let Err(error) = self.ensure_group(&mut conn, StartFrom::Beginning).await {
                        return error;
                    }
                    pending_first = true;
                    continue;
                }
                Err(error) => return error,
            };
            if pending_first && entries.is_empty() {
                pending_first = false;
                continue;
            }
            for entry in entries {
                let entry_id = entry.entry_id().to_owned();
                let handled = match entry.into_event() {
                    Ok(event) => handler(event).await.map_err(|e| e.to_string()),
                    Err(why) => {
                        // Trimmed away while pending, or not Latch's:
                        // nothing a retry could change.
                        tracing::warn!(stream = %self.stream, entry = %entry_id, why,
                            "skipping an unusable stream entry");
                        Ok(())
                    }
                };
                match handled {
                    Ok(()) => {
                        handler_pause = FIRST_BACKOFF;
                        if let Err(error) = self.ack(&mut conn, &entry_id).await {
                            return error;
                        }
                    }
                    Err(error) => {
                        tracing::warn!(stream = %self.stream, group = %self.group,
                            entry = %entry_id, %error, "event handler failed; retrying");
                        tokio::time::sleep(handler_pause).await;
                        handler_pause = (handler_pause * 2).min(MAX_BACKOFF);
                        // Retried before anything newer, so order holds.
                        pending_first = true;
                        break;
                    }
                }
            }
        }
    }

    async fn connect(&self) -> Result<MultiplexedConnection, EventsError> {
        // The blocking read waits `block`; the answer may take the call
        // timeout on top.
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.options.call_timeout))
            .set_response_timeout(Some(self.options.block + self.options.call_timeout));
        self.timed(
            self.client
                .get_multiplexed_async_connection_with_config(&config),
        )
        .await
    }

    async fn ensure_group(
        &self,
        conn: &mut MultiplexedConnection,
        start: StartFrom,
    ) -> Result<(), EventsError> {
        let id = match start {
            StartFrom::Beginning => "0",
            StartFrom::New => "$",
        };
        let mut cmd = redis::cmd("XGROUP");
        cmd.arg("CREATE")
            .arg(&self.stream)
            .arg(&self.group)
            .arg(id)
            .arg("MKSTREAM");
        match self.timed(cmd.query_async::<()>(conn)).await {
            Err(EventsError::Redis(error)) if error.code() == Some("BUSYGROUP") => Ok(()),
            other => other,
        }
    }

    /// `XREADGROUP` from `id`: `0` for this consumer's pending entries
    /// (answers at once), `>` for new ones (blocks).
    async fn read(
        &self,
        conn: &mut MultiplexedConnection,
        id: &str,
    ) -> Result<Vec<reply::Entry>, EventsError> {
        let mut cmd = redis::cmd("XREADGROUP");
        cmd.arg("GROUP")
            .arg(&self.group)
            .arg(&self.consumer)
            .arg("COUNT")
            .arg(self.options.count);
        if id == ">" {
            cmd.arg("BLOCK").arg(millis(self.options.block));
        }
        cmd.arg("STREAMS").arg(&self.stream).arg(id);
        let value: redis::Value = cmd.query_async(conn).await?;
        reply::entries(value).map_err(|why| {
            EventsError::Redis(redis::RedisError::from((
                redis::ErrorKind::UnexpectedReturnType,
                why,
            )))
        })
    }

    async fn ack(
        &self,
        conn: &mut MultiplexedConnection,
        entry_id: &str,
    ) -> Result<(), EventsError> {
        let mut cmd = redis::cmd("XACK");
        cmd.arg(&self.stream).arg(&self.group).arg(entry_id);
        self.timed(cmd.query_async::<i64>(conn)).await.map(drop)
    }

    /// Takes over entries other consumers left pending longer than the
    /// minimum idle time (their consumer died, or is stuck); true when any
    /// were taken. They join this consumer's pending entries, which are
    /// read next.
    async fn reclaim(&self, conn: &mut MultiplexedConnection) -> Result<bool, EventsError> {
        let mut cursor = "0-0".to_owned();
        let mut claimed = false;
        for _ in 0..CLAIM_ROUNDS {
            let mut cmd = redis::cmd("XAUTOCLAIM");
            cmd.arg(&self.stream)
                .arg(&self.group)
                .arg(&self.consumer)
                .arg(millis(self.options.claim_min_idle))
                .arg(&cursor)
                .arg("COUNT")
                .arg(self.options.count)
                .arg("JUSTID");
            let value: redis::Value = self.timed(cmd.query_async(conn)).await?;
            let (next, ids) = reply::autoclaim(value).map_err(|why| {
                EventsError::Redis(redis::RedisError::from((
                    redis::ErrorKind::UnexpectedReturnType,
                    why,
                )))
            })?;
            if !ids.is_empty() {
                tracing::info!(stream = %self.stream, group = %self.group, entries = ids.len(),
                    "took over entries another consumer left pending");
                claimed = true;
            }
            if next == "0-0" {
                break;
            }
            cursor = next;
        }
        Ok(claimed)
    }

    async fn timed<T>(
        &self,
        work: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, EventsError> {
        match tokio::time::timeout(self.options.call_timeout, work).await {
            Ok(result) => result.map_err(EventsError::Redis),
            Err(_) => Err(EventsError::TimedOut),
        }
    }
}

fn is_nogroup(error: &EventsError) -> bool {
    matches!(error, EventsError::Redis(e) if e.code() == Some("NOGROUP"))
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests;
