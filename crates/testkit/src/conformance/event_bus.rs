//! [`EventBus`]: every event kind reaches the subscribers of its channel,
//! and only those.

use std::{sync::Arc, time::Duration};

use futures::StreamExt;
use latch_domain::{
    SessionId, UserId,
    events::{AuthzScope, Channel, Event, EventPayload},
    ports::{EventBus, EventStream},
};

use super::now;

/// Longer than any delivery on loopback takes.
const DELIVERY: Duration = Duration::from_secs(5);

/// One event of every kind.
pub fn every_kind() -> Vec<Event> {
    let user = UserId::new();
    let session = SessionId::generate().expect("a session id");
    vec![
        Event::new(
            now(),
            EventPayload::UserCreated {
                user_id: user,
                email: "ada@example.com".into(),
            },
        ),
        Event::new(
            now(),
            EventPayload::UserUpdated {
                user_id: user,
                changed_fields: vec!["status".into()],
            },
        ),
        Event::new(
            now(),
            EventPayload::SessionCreated {
                session_id: session.clone(),
                user_id: user,
            },
        ),
        Event::new(
            now(),
            EventPayload::SessionRevoked {
                session_id: session,
                user_id: user,
                reason: "logout".into(),
            },
        ),
        Event::new(now(), EventPayload::UserDeleted { user_id: user }),
        Event::new(
            now(),
            EventPayload::AuthzChanged {
                scope: AuthzScope::User(user),
            },
        ),
        Event::new(
            now(),
            EventPayload::AuthzChanged {
                scope: AuthzScope::Role("AUDITOR".into()),
            },
        ),
    ]
}

async fn next(stream: &mut EventStream, channel: Channel) -> Event {
    tokio::time::timeout(DELIVERY, stream.next())
        .await
        .unwrap_or_else(|_| panic!("no event on {} within {DELIVERY:?}", channel.name()))
        .unwrap_or_else(|| panic!("the stream of {} ended", channel.name()))
}

pub async fn run(bus: Arc<dyn EventBus>) {
    let mut streams = Vec::new();
    for channel in Channel::ALL {
        streams.push((channel, bus.subscribe(channel).await.expect("subscribe")));
    }
    // A second subscriber of one channel gets its own copy.
    let mut second = bus
        .subscribe(Channel::SessionRevoked)
        .await
        .expect("subscribe");

    let events = every_kind();
    for event in &events {
        bus.publish(event).await.expect("publish");
    }
    // Each stream's first event is its own kind: others did not leak in.
    for (channel, stream) in &mut streams {
        let expected = events
            .iter()
            .find(|e| e.channel() == *channel)
            .expect("an event per channel");
        assert_eq!(&next(stream, *channel).await, expected);
    }
    assert_eq!(
        next(&mut second, Channel::SessionRevoked).await,
        events[3].clone()
    );

    // Order within a channel is kept.
    let user = UserId::new();
    let burst: Vec<Event> = (0..5)
        .map(|i| {
            Event::new(
                now(),
                EventPayload::UserUpdated {
                    user_id: user,
                    changed_fields: vec![format!("field{i}")],
                },
            )
        })
        .collect();
    for event in &burst {
        bus.publish(event).await.expect("publish");
    }
    let (_, updates) = streams
        .iter_mut()
        .find(|(c, _)| *c == Channel::UserUpdated)
        .expect("subscribed");
    for event in &burst {
        assert_eq!(&next(updates, Channel::UserUpdated).await, event);
    }

    // Publishing with nobody listening is no error.
    drop(streams);
    drop(second);
    bus.publish(&every_kind()[0])
        .await
        .expect("publish to nobody");
}
