//! The list from Latch's `session:revoked` events on Redis pub/sub
//! (`latch.events.v1.SessionRevoked`). The subscription is pinged every
//! interval, so a connection that died silently is noticed; when it drops,
//! the list is stale at once and the task subscribes again, with backoff.

use std::{sync::Arc, time::Duration};

use deadpool_redis::redis::{self, aio::PubSubSink};
use futures::StreamExt;
use latch_proto::latch::events::v1::SessionRevoked;
use prost::Message;
use tokio::time::{Instant, MissedTickBehavior};

use super::{DenylistRpc, PRUNE_EVERY, Shared, unix_now};

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Subscribes, and subscribes again whenever the subscription is lost,
/// until the task is aborted.
pub(crate) async fn run(
    client: redis::Client,
    channel: String,
    backfill: Option<DenylistRpc>,
    shared: Arc<Shared>,
) {
    let mut backoff = FIRST_BACKOFF;
    loop {
        if follow(&client, &channel, backfill.as_ref(), &shared).await {
            backoff = FIRST_BACKOFF;
        }
        shared.lose();
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// One subscription, until it is lost; true when it was in place (the list
/// was current) at some point.
async fn follow(
    client: &redis::Client,
    channel: &str,
    backfill: Option<&DenylistRpc>,
    shared: &Shared,
) -> bool {
    let options = shared.options;
    let subscribed = tokio::time::timeout(options.call_timeout, async {
        let (mut sink, stream) = client.get_async_pubsub().await?.split();
        sink.subscribe(channel).await?;
        Ok::<_, redis::RedisError>((sink, stream))
    })
    .await;
    let (mut sink, mut stream) = match subscribed {
        Ok(Ok(pair)) => pair,
        Ok(Err(error)) => {
            tracing::warn!(%error, "subscribing to session:revoked failed");
            return false;
        }
        Err(_) => {
            tracing::warn!("subscribing to session:revoked timed out");
            return false;
        }
    };
    // Subscribed before reading the list: a revocation made meanwhile is in
    // one or the other (or both), never in neither.
    let started = Instant::now();
    if let Some(rpc) = backfill
        && !rpc.read_all(shared, options.call_timeout).await
    {
        return false;
    }
    shared.confirm(started);

    let mut pings = tokio::time::interval(options.interval);
    pings.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last_prune = Instant::now();
    loop {
        tokio::select! {
            message = stream.next() => match message {
                Some(message) => record(shared, message.get_payload_bytes()),
                None => {
                    tracing::warn!("session:revoked subscription lost");
                    return true;
                }
            },
            _ = pings.tick() => {
                let sent = Instant::now();
                if !ping(&mut sink, options.call_timeout).await {
                    tracing::warn!("session:revoked subscription unresponsive");
                    return true;
                }
                shared.confirm(sent);
                if last_prune.elapsed() >= PRUNE_EVERY {
                    shared.prune(unix_now());
                    last_prune = Instant::now();
                }
            }
        }
    }
}

/// Adds the event's session until every token signed before the
/// revocation has expired.
fn record(shared: &Shared, payload: &[u8]) {
    let Ok(event) = SessionRevoked::decode(payload) else {
        tracing::warn!("skipping a malformed session:revoked event");
        return;
    };
    let revoked_at = event.time.map_or_else(unix_now, |t| t.seconds);
    let lifetime = i64::try_from(shared.options.max_token_lifetime.as_secs()).unwrap_or(i64::MAX);
    shared.insert(&event.session_id, revoked_at.saturating_add(lifetime));
}

async fn ping(sink: &mut PubSubSink, timeout: Duration) -> bool {
    matches!(
        tokio::time::timeout(timeout, sink.ping::<redis::Value>()).await,
        Ok(Ok(_))
    )
}
