//! Following a pub/sub channel for as long as its owner lives: the pattern
//! behind every in-process cache that other replicas must be able to
//! invalidate.
//!
//! The owner is told when the subscription is up (its cache may serve), of
//! each event, and when the stream ended (events may be missed from then on,
//! so it must stop trusting what it holds). Subscribing again is retried
//! with a doubling pause. Several channels are followed as one
//! subscription: up once every channel is, lost as soon as one ends. The
//! task holds only a weak reference: it ends when the owner is dropped (at
//! the next event or retry) or when aborted.

use std::{
    sync::{Arc, Weak},
    time::Duration,
};

use futures::{StreamExt, stream};
use latch_domain::{
    events::{Channel, Event},
    ports::EventBus,
};
use tokio::task::JoinHandle;

/// Waits between attempts to subscribe again, doubling up to the maximum.
const RETRY_MIN: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(5);

/// What a follower of one channel does with it.
pub trait Follower: Send + Sync + 'static {
    fn bus(&self) -> &dyn EventBus;
    /// The subscription is up: events from now on will be seen.
    fn subscribed(&self);
    fn event(&self, event: &Event);
    /// The stream ended: events may be missed until `subscribed` again.
    fn lost(&self);
}

/// Follows `channel` on behalf of `owner` in a background task.
pub fn spawn<F: Follower>(owner: &Arc<F>, channel: Channel) -> JoinHandle<()> {
    spawn_all(owner, &[channel])
}

/// Follows every one of `channels` on behalf of `owner`, as one
/// subscription, in a background task.
pub fn spawn_all<F: Follower>(owner: &Arc<F>, channels: &[Channel]) -> JoinHandle<()> {
    tokio::spawn(follow(Arc::downgrade(owner), channels.to_vec()))
}

/// One stream of the events of every channel, which yields `None` (and
/// then ends) as soon as any channel's own stream ends.
async fn subscribe_all(
    bus: &dyn EventBus,
    channels: &[Channel],
) -> latch_domain::Result<stream::BoxStream<'static, Option<Event>>> {
    let mut streams = Vec::with_capacity(channels.len());
    for channel in channels {
        let events = bus.subscribe(*channel).await?;
        streams.push(events.map(Some).chain(stream::iter([None])).boxed());
    }
    Ok(stream::select_all(streams).boxed())
}

async fn follow<F: Follower>(owner: Weak<F>, channels: Vec<Channel>) {
    let names: Vec<&str> = channels.iter().map(|c| c.name()).collect();
    let mut retry = RETRY_MIN;
    loop {
        let Some(this) = owner.upgrade() else {
            return;
        };
        match subscribe_all(this.bus(), &channels).await {
            Ok(mut events) => {
                this.subscribed();
                drop(this);
                retry = RETRY_MIN;
                while let Some(Some(event)) = events.next().await {
                    let Some(this) = owner.upgrade() else {
                        return;
                    };
                    this.event(&event);
                }
                let Some(this) = owner.upgrade() else {
                    return;
                };
                this.lost();
                tracing::warn!(
                    channels = ?names,
                    "subscription ended; subscribing again"
                );
            }
            Err(error) => {
                drop(this);
                tracing::warn!(%error, channels = ?names, "cannot subscribe; retrying");
            }
        }
        // Reconnection pacing, not business time: the Clock has no say here.
        tokio::time::sleep(retry).await;
        retry = (retry * 2).min(RETRY_MAX);
    }
}

#[cfg(test)]
mod tests {
    use std::{
        collections::HashMap,
        sync::{
            Mutex, PoisonError,
            atomic::{AtomicUsize, Ordering},
        },
    };

    use async_trait::async_trait;
    use latch_domain::{
        Result, UserId,
        events::{Event, EventPayload},
        ports::EventStream,
    };
    use tokio::sync::mpsc;

    use super::*;

    /// A bus whose streams a test ends one channel at a time.
    #[derive(Default)]
    struct Bus {
        senders: Mutex<HashMap<Channel, mpsc::UnboundedSender<Event>>>,
    }

    impl Bus {
        fn send(&self, channel: Channel, event: Event) -> bool {
            let senders = self.senders.lock().unwrap_or_else(PoisonError::into_inner);
            senders.get(&channel).is_some_and(|s| s.send(event).is_ok())
        }

        fn end(&self, channel: Channel) {
            let mut senders = self.senders.lock().unwrap_or_else(PoisonError::into_inner);
            senders.remove(&channel);
        }
    }

    #[async_trait]
    impl EventBus for Bus {
        async fn publish(&self, _event: &Event) -> Result<()> {
            Ok(())
        }

        async fn subscribe(&self, channel: Channel) -> Result<EventStream> {
            let (sender, mut receiver) = mpsc::unbounded_channel();
            self.senders
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(channel, sender);
            Ok(stream::poll_fn(move |cx| receiver.poll_recv(cx)).boxed())
        }
    }

    #[derive(Default)]
    struct Owner {
        bus: Bus,
        subscribed: AtomicUsize,
        events: AtomicUsize,
        lost: AtomicUsize,
    }

    impl Follower for Owner {
        fn bus(&self) -> &dyn EventBus {
            &self.bus
        }
        fn subscribed(&self) {
            self.subscribed.fetch_add(1, Ordering::SeqCst);
        }
        fn event(&self, _event: &Event) {
            self.events.fetch_add(1, Ordering::SeqCst);
        }
        fn lost(&self) {
            self.lost.fetch_add(1, Ordering::SeqCst);
        }
    }

    async fn until(what: &str, done: impl Fn() -> bool) {
        let waited = tokio::time::timeout(Duration::from_secs(5), async {
            while !done() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
        assert!(waited.is_ok(), "{what} never happened");
    }

    fn deleted() -> Event {
        Event::new(
            chrono::Utc::now(),
            EventPayload::UserDeleted {
                user_id: UserId::new(),
            },
        )
    }

    #[tokio::test]
    async fn both_channels_feed_one_follower_and_losing_either_is_lost() {
        let owner = Arc::new(Owner::default());
        let task = spawn_all(&owner, &[Channel::UserUpdated, Channel::UserDeleted]);
        until("subscribed", || {
            owner.subscribed.load(Ordering::SeqCst) == 1
        })
        .await;
        assert!(owner.bus.send(Channel::UserDeleted, deleted()));
        assert!(owner.bus.send(Channel::UserUpdated, deleted()));
        until("two events", || owner.events.load(Ordering::SeqCst) == 2).await;

        // One channel's stream ends: the follower may have missed events
        // there, so it is told, and subscribes to both again.
        owner.bus.end(Channel::UserDeleted);
        until("lost", || owner.lost.load(Ordering::SeqCst) == 1).await;
        until("subscribed again", || {
            owner.subscribed.load(Ordering::SeqCst) == 2
        })
        .await;
        assert!(owner.bus.send(Channel::UserDeleted, deleted()));
        until("a third event", || owner.events.load(Ordering::SeqCst) == 3).await;
        task.abort();
    }
}
