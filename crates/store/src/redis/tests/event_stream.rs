//! `RedisEventBus::deliver` on the shared test Redis (under a prefix of its
//! own): one stream entry and one pub/sub message per event however often
//! it is delivered, the entry's fields as consumers read them, the stream
//! under the configured prefix, and `MAXLEN ~` trimming.

use std::{collections::HashMap, time::Duration};

use chrono::Utc;
use deadpool_redis::redis;
use futures::StreamExt;
use latch_domain::{
    UserId,
    events::{Channel, Event, EventPayload},
    ports::EventBus,
};
use latch_testkit::{REDIS_URL_VAR, backend_url};

use super::super::{Redis, RedisEventBus, stream_name};
use crate::events_codec;

/// The bus and its Redis under a fresh prefix, or `None` without
/// `LATCH_TEST_REDIS_URL`.
async fn bus() -> Option<(RedisEventBus, Redis)> {
    let url = backend_url(REDIS_URL_VAR)?;
    let prefix = format!("test:{}:", uuid::Uuid::new_v4().simple());
    let redis = Redis::connect(&url, &prefix).await.unwrap();
    Some((RedisEventBus::new(redis.clone(), &url).unwrap(), redis))
}

fn updated(user: UserId, field: &str) -> Event {
    Event::new(
        Utc::now(),
        EventPayload::UserUpdated {
            user_id: user,
            changed_fields: vec![field.to_owned()],
        },
    )
}

/// A stream entry id (`ms-seq`) as ordered numbers.
fn entry_id(id: &str) -> (u64, u64) {
    let (ms, seq) = id.split_once('-').unwrap();
    (ms.parse().unwrap(), seq.parse().unwrap())
}

type Entries = Vec<(String, HashMap<String, Vec<u8>>)>;

async fn entries(redis: &Redis, stream: &str) -> Entries {
    redis
        .query(redis::cmd("XRANGE").arg(stream).arg("-").arg("+"))
        .await
        .unwrap()
}

#[tokio::test]
async fn delivering_an_event_twice_appends_and_publishes_it_once() {
    let Some((bus, redis)) = bus().await else {
        return;
    };
    let mut published = bus.subscribe(Channel::UserUpdated).await.unwrap();
    let user = UserId::new();
    let event = updated(user, "email");
    bus.deliver(&event).await.unwrap();
    // A worker whose completion was lost delivers the row again.
    bus.deliver(&event).await.unwrap();

    let stream = format!("{}events:user:updated", redis.prefix());
    assert_eq!(redis.key(&stream_name(Channel::UserUpdated)), stream);
    let found = entries(&redis, &stream).await;
    assert_eq!(found.len(), 1, "{found:?}");
    let fields = &found[0].1;
    assert_eq!(fields["event_id"], event.id.to_string().into_bytes());
    assert_eq!(fields["aggregate"], format!("user:{user}").into_bytes());
    assert_eq!(fields["type"], b"user:updated".to_vec());
    assert_eq!(
        events_codec::decode(Channel::UserUpdated, &fields["data"]).unwrap(),
        event
    );
    let first = tokio::time::timeout(Duration::from_secs(2), published.next()).await;
    assert_eq!(first.unwrap(), Some(event));
    let second = tokio::time::timeout(Duration::from_millis(300), published.next()).await;
    assert!(second.is_err(), "published twice: {second:?}");

    // Another event of the same user is a new entry, after the first.
    let next = updated(user, "phone");
    bus.deliver(&next).await.unwrap();
    let found = entries(&redis, &stream).await;
    assert_eq!(found.len(), 2);
    assert_eq!(found[1].1["event_id"], next.id.to_string().into_bytes());
    assert!(entry_id(&found[0].0) < entry_id(&found[1].0));
}

#[tokio::test]
async fn streams_are_trimmed_to_about_their_max_length() {
    let Some((bus, redis)) = bus().await else {
        return;
    };
    let bus = bus.with_stream_max_len(10);
    let user = UserId::new();
    for _ in 0..1000 {
        bus.deliver(&updated(user, "display_name")).await.unwrap();
    }
    let stream = redis.key(&stream_name(Channel::UserUpdated));
    let len: u64 = redis.query(redis::cmd("XLEN").arg(&stream)).await.unwrap();
    // `MAXLEN ~` trims whole nodes (100 entries by default): at least the
    // bound is kept, and far fewer than were appended.
    assert!((10..=200).contains(&len), "{len} entries kept");
    // The newest survive.
    let last: Entries = redis
        .query(
            redis::cmd("XREVRANGE")
                .arg(&stream)
                .arg("+")
                .arg("-")
                .arg("COUNT")
                .arg(1),
        )
        .await
        .unwrap();
    assert_eq!(last.len(), 1);
}
