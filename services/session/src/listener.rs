//! The background task that keeps this process's in-memory cache coherent
//! with every replica: it subscribes to `session:revoked` and drops what it
//! holds for each revoked session.

use std::sync::Arc;

use latch_domain::{
    events::{Channel, Event, EventPayload},
    ports::EventBus,
};
use latch_runtime::follow::{self, Follower};
use tokio::task::JoinHandle;

use crate::Sessions;

impl Sessions {
    /// Subscribes to `session:revoked` and drops the local copy of every
    /// session it names. The local cache is used only while subscribed:
    /// when the stream ends, it is cleared and turned off until the task
    /// has subscribed again. The task ends when the `Sessions` is dropped
    /// (at the next event or retry) or when the handle is aborted.
    pub fn spawn_revocation_listener(self: &Arc<Self>) -> JoinHandle<()> {
        follow::spawn(self, Channel::SessionRevoked)
    }
}

impl Follower for Sessions {
    fn bus(&self) -> &dyn EventBus {
        self.deps.bus.as_ref()
    }

    fn subscribed(&self) {
        self.local.set_active(true);
    }

    fn event(&self, event: &Event) {
        if let EventPayload::SessionRevoked { session_id, .. } = &event.payload {
            self.local.mark_revoked(session_id, self.deps.clock.now());
        }
    }

    fn lost(&self) {
        // Revocations may be missed from here on.
        self.local.set_active(false);
    }
}

#[cfg(test)]
mod tests {
    use std::{sync::Mutex, time::Duration};

    use async_trait::async_trait;
    use futures::StreamExt;
    use latch_domain::{
        Result, UserId,
        events::{Event, EventPayload},
        ports::{EventBus, EventStream, SessionDirectory},
    };
    use tokio::sync::mpsc;

    use super::*;
    use crate::{
        SessionConfig, SessionDeps,
        local_cache::LocalHit,
        testing::{Harness, browser_client, eventually},
    };

    /// A bus whose subscriptions a test can end, like a dropped connection.
    #[derive(Default)]
    struct DroppingBus {
        subscribers: Mutex<Vec<mpsc::UnboundedSender<Event>>>,
        subscriptions: std::sync::atomic::AtomicUsize,
    }

    impl DroppingBus {
        fn drop_connections(&self) {
            self.subscribers.lock().unwrap().clear();
        }
        fn subscriptions(&self) -> usize {
            self.subscriptions.load(std::sync::atomic::Ordering::SeqCst)
        }
    }

    #[async_trait]
    impl EventBus for DroppingBus {
        async fn publish(&self, event: &Event) -> Result<()> {
            for subscriber in self.subscribers.lock().unwrap().iter() {
                let _ = subscriber.send(event.clone());
            }
            Ok(())
        }
        async fn subscribe(&self, _channel: Channel) -> Result<EventStream> {
            let (sender, mut receiver) = mpsc::unbounded_channel();
            self.subscribers.lock().unwrap().push(sender);
            self.subscriptions
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(futures::stream::poll_fn(move |cx| receiver.poll_recv(cx)).boxed())
        }
    }

    fn with_bus(h: &Harness, bus: Arc<DroppingBus>) -> Arc<Sessions> {
        Sessions::new(SessionDeps { bus, ..h.deps() }, SessionConfig::default())
    }

    #[tokio::test]
    async fn the_listener_subscribes_again_when_its_stream_ends() -> Result<()> {
        let h = Harness::new().await;
        let bus = Arc::new(DroppingBus::default());
        let sessions = with_bus(&h, bus.clone());
        let listener = sessions.spawn_revocation_listener();
        eventually(|| sessions.local.is_active()).await;
        let session = sessions.open(UserId::new(), &browser_client()).await?;
        assert!(sessions.validate(&session.id).await?.is_some());

        bus.drop_connections();
        eventually(|| !sessions.local.is_active()).await;
        assert_eq!(
            sessions.local.get(&session.id, h.clock_now()),
            None,
            "what was held while events could be missed is dropped"
        );
        eventually(|| sessions.local.is_active()).await;
        assert_eq!(bus.subscriptions(), 2);

        // Subscribed again: revocations from elsewhere reach the cache.
        assert!(sessions.validate(&session.id).await?.is_some());
        let event = Event::new(
            h.clock_now(),
            EventPayload::SessionRevoked {
                session_id: session.id.clone(),
                user_id: session.user_id,
                reason: "logout".into(),
            },
        );
        bus.publish(&event).await?;
        eventually(|| sessions.local.get(&session.id, h.clock_now()) == Some(LocalHit::Revoked))
            .await;
        listener.abort();
        Ok(())
    }

    #[tokio::test]
    async fn the_listener_ends_with_its_sessions() -> Result<()> {
        let h = Harness::new().await;
        let sessions = h.replica();
        let listener = sessions.spawn_revocation_listener();
        eventually(|| sessions.local.is_active()).await;
        let event = Event::new(
            h.clock_now(),
            EventPayload::SessionRevoked {
                session_id: latch_domain::SessionId::generate()?,
                user_id: UserId::new(),
                reason: "logout".into(),
            },
        );
        drop(sessions);
        h.bus.publish(&event).await?;
        let ended = tokio::time::timeout(Duration::from_secs(10), listener).await;
        assert!(matches!(ended, Ok(Ok(()))));
        Ok(())
    }
}
