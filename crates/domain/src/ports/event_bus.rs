use async_trait::async_trait;
use futures::stream::BoxStream;

use crate::{
    Result,
    events::{Channel, Event},
};

pub type EventStream = BoxStream<'static, Event>;

/// Pub/sub: Redis channels in production, a broadcast in one process.
/// Delivery is at most once; subscribers must tolerate gaps (the database
/// stays the source of truth).
#[async_trait]
pub trait EventBus: Send + Sync + 'static {
    async fn publish(&self, event: &Event) -> Result<()>;
    /// A stream of the channel's events from now on. The Redis adapter
    /// reconnects by itself; the stream ends only when the bus is dropped.
    async fn subscribe(&self, channel: Channel) -> Result<EventStream>;
}
