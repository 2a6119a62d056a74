//! The event bus on Redis pub/sub: `latch.events.v1` protobuf on the
//! channels `{prefix}user:created`, … . Delivered events (the outbox's) are
//! also appended to one stream per channel, `{prefix}events:user:created`,
//! … , for consumers that must not miss any (consumer groups).

use std::sync::LazyLock;

use async_trait::async_trait;
use deadpool_redis::redis::{self, Script, aio::PubSub};
use futures::StreamExt;
use latch_domain::{
    Error, Result,
    events::{Channel, Event},
    ports::{EventBus, EventStream},
};
use tokio::sync::{mpsc, watch};

use super::{Redis, redis_err};
use crate::events_codec;

/// Events a subscriber may have waiting before the pump waits for it.
const BUFFER: usize = 256;

/// Entries a stream keeps at least (trimmed with `MAXLEN ~`, so Redis
/// trims whole nodes, cheaply) unless [`RedisEventBus::with_stream_max_len`]
/// says otherwise.
pub const DEFAULT_STREAM_MAX_LEN: u64 = 100_000;

/// How long a delivered event's id is remembered, so that delivering it
/// again (a worker whose completion was lost retries after its lease, a
/// minute) adds nothing. Bounded so the marks cost little memory: a
/// redelivery later than this is possible only after the database refused
/// the completion that long, and consumers dedupe on `event_id` anyway.
const DELIVERED_MARK_SECS: u64 = 15 * 60;

/// Marks the event delivered, appends it to its stream and publishes it,
/// all or nothing; an event marked already does none of it.
/// KEYS: the mark, the stream. ARGV: mark seconds, max length, event id,
/// aggregate, channel name, payload, pub/sub channel.
const DELIVER: &str = r"
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  return 0
end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*',
  'event_id', ARGV[3], 'aggregate', ARGV[4], 'type', ARGV[5], 'data', ARGV[6])
redis.call('PUBLISH', ARGV[7], ARGV[6])
return 1
";

static DELIVER_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(DELIVER));

/// The stream of `channel`'s delivered events, before the prefix.
pub fn stream_name(channel: Channel) -> String {
    format!("events:{}", channel.name())
}

/// Publishes through the pool; each subscription holds a dedicated
/// connection (a subscribed connection can do nothing else) and a task that
/// forwards its messages. When that connection drops, the subscription's
/// stream ends, so the gap is seen; subscriptions also end when the bus is
/// dropped.
pub struct RedisEventBus {
    redis: Redis,
    client: redis::Client,
    /// Never sent on; its drop tells subscription tasks to stop.
    alive: watch::Sender<()>,
    stream_max_len: u64,
}

impl RedisEventBus {
    /// `redis_url` opens the dedicated subscriber connections; it is the
    /// URL the pool of `redis` was built from.
    pub fn new(redis: Redis, redis_url: &str) -> Result<Self> {
        let client = redis::Client::open(redis_url)
            .map_err(|_| Error::invalid_field("redis_url", "is not a valid Redis URL"))?;
        Ok(Self {
            redis,
            client,
            alive: watch::channel(()).0,
            stream_max_len: DEFAULT_STREAM_MAX_LEN,
        })
    }

    /// Keeps at least `entries` per stream (at least 1).
    pub fn with_stream_max_len(mut self, entries: u64) -> Self {
        self.stream_max_len = entries.max(1);
        self
    }
}

async fn subscribed(client: &redis::Client, channel: &str) -> Result<PubSub> {
    let mut pubsub = client.get_async_pubsub().await.map_err(redis_err)?;
    pubsub.subscribe(channel).await.map_err(redis_err)?;
    Ok(pubsub)
}

/// Carries one subscription's messages to its stream until the bus or the
/// stream is dropped. A lost connection ends the stream rather than
/// reconnecting behind the subscriber's back: events published meanwhile
/// would be lost unseen, and a subscriber that caches on the strength of
/// events must learn of the gap (see [`EventBus`]).
async fn pump(
    mut pubsub: PubSub,
    name: String,
    channel: Channel,
    events: mpsc::Sender<Event>,
    mut alive: watch::Receiver<()>,
) {
    let mut messages = pubsub.on_message();
    loop {
        tokio::select! {
            message = messages.next() => match message {
                Some(message) => match events_codec::decode(channel, message.get_payload_bytes()) {
                    Ok(event) => {
                        if events.send(event).await.is_err() {
                            return;
                        }
                    }
                    Err(err) => {
                        tracing::warn!(channel = %name, error = %err, "skipping a malformed event");
                    }
                },
                None => {
                    tracing::warn!(channel = %name, "event subscription lost; ending its stream");
                    return;
                }
            },
            _ = alive.changed() => return,
            _ = events.closed() => return,
        }
    }
}

#[async_trait]
impl EventBus for RedisEventBus {
    async fn publish(&self, event: &Event) -> Result<()> {
        let channel = self.redis.key(event.channel().name());
        let payload = events_codec::encode(event);
        self.redis
            .query::<i64>(redis::cmd("PUBLISH").arg(channel).arg(payload))
            .await?;
        Ok(())
    }

    async fn deliver(&self, event: &Event) -> Result<()> {
        let channel = event.channel();
        let payload = events_codec::encode(event);
        let event_id = event.id.to_string();
        let mut invocation = DELIVER_SCRIPT.prepare_invoke();
        invocation
            .key(self.redis.key(&format!("events:delivered:{event_id}")))
            .key(self.redis.key(&stream_name(channel)))
            .arg(DELIVERED_MARK_SECS)
            .arg(self.stream_max_len)
            .arg(&event_id)
            .arg(event.aggregate())
            .arg(channel.name())
            .arg(payload)
            .arg(self.redis.key(channel.name()));
        self.redis.invoke::<i64>(&invocation).await?;
        Ok(())
    }

    /// Subscribed when this returns: events published after it arrive.
    /// `UNAVAILABLE` when the first connection fails; later failures are
    /// retried in the background.
    async fn subscribe(&self, channel: Channel) -> Result<EventStream> {
        let name = self.redis.key(channel.name());
        let first = self
            .redis
            .within_deadline(subscribed(&self.client, &name))
            .await?;
        let (sender, receiver) = mpsc::channel(BUFFER);
        tokio::spawn(pump(first, name, channel, sender, self.alive.subscribe()));
        let stream = futures::stream::unfold(receiver, |mut receiver| async move {
            receiver.recv().await.map(|event| (event, receiver))
        });
        Ok(stream.boxed())
    }
}
