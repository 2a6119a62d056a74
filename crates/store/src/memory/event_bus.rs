//! The event bus in one process: a tokio broadcast per channel.

use async_trait::async_trait;
use futures::StreamExt;
use latch_domain::{
    Result,
    events::{Channel, Event},
    ports::{EventBus, EventStream},
};
use tokio::sync::broadcast;

/// Events a slow subscriber may fall behind by before it misses some
/// (delivery is at most once, as on Redis).
const CAPACITY: usize = 1024;

/// Subscribers get the events published after they subscribed; the streams
/// end when the bus is dropped.
pub struct MemoryEventBus {
    /// One sender per channel, in the order of [`Channel::ALL`].
    senders: [broadcast::Sender<Event>; Channel::ALL.len()],
}

impl MemoryEventBus {
    pub fn new() -> Self {
        Self {
            senders: std::array::from_fn(|_| broadcast::channel(CAPACITY).0),
        }
    }

    fn sender(&self, channel: Channel) -> &broadcast::Sender<Event> {
        let index = match channel {
            Channel::UserCreated => 0,
            Channel::UserUpdated => 1,
            Channel::SessionCreated => 2,
            Channel::SessionRevoked => 3,
            Channel::UserDeleted => 4,
            Channel::AuthzChanged => 5,
        };
        &self.senders[index]
    }
}

impl Default for MemoryEventBus {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl EventBus for MemoryEventBus {
    async fn publish(&self, event: &Event) -> Result<()> {
        // An error only says nobody listens, which is no error for pub/sub.
        let _ = self.sender(event.channel()).send(event.clone());
        Ok(())
    }

    async fn subscribe(&self, channel: Channel) -> Result<EventStream> {
        let receiver = self.sender(channel).subscribe();
        let stream = futures::stream::unfold(receiver, |mut receiver| async move {
            match receiver.recv().await {
                Ok(event) => Some((event, receiver)),
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    // A gap must not be silent: end the stream (EventBus docs).
                    tracing::warn!(missed, "event subscriber fell behind; ending its stream");
                    None
                }
                Err(broadcast::error::RecvError::Closed) => None,
            }
        });
        Ok(stream.boxed())
    }
}
