use async_trait::async_trait;
use futures::stream::BoxStream;

use crate::{
    Result,
    events::{Channel, Event},
};

pub type EventStream = BoxStream<'static, Event>;

/// Pub/sub: Redis channels in production, a broadcast in one process.
/// Delivery is at most once, but a gap is never silent: when an adapter can
/// no longer promise that a stream carries every event (a dropped Redis
/// connection, a subscriber fallen too far behind), the stream ends. A
/// subscriber that caches on the strength of events (the session service's
/// local cache) drops what it holds and subscribes again.
#[async_trait]
pub trait EventBus: Send + Sync + 'static {
    async fn publish(&self, event: &Event) -> Result<()>;

    /// Delivers an event the outbox held: published on its channel and,
    /// where the adapter keeps one, appended to the channel's durable
    /// stream, which consumer groups read without missing anything. Called
    /// again for an event already delivered (a worker that lost its lease)
    /// it adds nothing to the stream. Without a stream it is
    /// [`EventBus::publish`].
    async fn deliver(&self, event: &Event) -> Result<()> {
        self.publish(event).await
    }
    /// A stream of the channel's events from now on; `UNAVAILABLE` when
    /// the subscription cannot be made. The stream ends on a gap (see the
    /// trait) or when the bus is dropped.
    async fn subscribe(&self, channel: Channel) -> Result<EventStream>;
}
