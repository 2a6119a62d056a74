//! The event bus on Redis pub/sub: `latch.events.v1` protobuf on the
//! channels `{prefix}user:created`, … .

use async_trait::async_trait;
use deadpool_redis::redis::{self, aio::PubSub};
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
        })
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
