//! Following a pub/sub channel for as long as its owner lives: the pattern
//! behind every in-process cache that other replicas must be able to
//! invalidate.
//!
//! The owner is told when the subscription is up (its cache may serve), of
//! each event, and when the stream ended (events may be missed from then on,
//! so it must stop trusting what it holds). Subscribing again is retried
//! with a doubling pause. The task holds only a weak reference: it ends when
//! the owner is dropped (at the next event or retry) or when aborted.

use std::{
    sync::{Arc, Weak},
    time::Duration,
};

use futures::StreamExt;
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
    tokio::spawn(follow(Arc::downgrade(owner), channel))
}

async fn follow<F: Follower>(owner: Weak<F>, channel: Channel) {
    let mut retry = RETRY_MIN;
    loop {
        let Some(this) = owner.upgrade() else {
            return;
        };
        match this.bus().subscribe(channel).await {
            Ok(mut events) => {
                this.subscribed();
                drop(this);
                retry = RETRY_MIN;
                while let Some(event) = events.next().await {
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
                    channel = channel.name(),
                    "subscription ended; subscribing again"
                );
            }
            Err(error) => {
                drop(this);
                tracing::warn!(%error, channel = channel.name(), "cannot subscribe; retrying");
            }
        }
        // Reconnection pacing, not business time: the Clock has no say here.
        tokio::time::sleep(retry).await;
        retry = (retry * 2).min(RETRY_MAX);
    }
}
