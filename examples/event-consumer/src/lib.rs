//! What a backend service does with Latch's event streams: one
//! [`StreamConsumer`] per channel, all in the service's consumer group,
//! each event decoded from its `latch.events.v1` message and handled once
//! per `event_id` (the stream hands an entry out again after a crash or a
//! failed handler: at least once). See the README next to this crate.

use std::{
    collections::{HashSet, VecDeque},
    sync::{Arc, Mutex, PoisonError},
};

use latch_client::events::{StreamConsumer, StreamEvent};
use latch_proto::latch::events::v1::{SessionRevoked, UserUpdated};

/// The channels this example follows.
pub const CHANNELS: [&str; 2] = ["user:updated", "session:revoked"];

/// A Latch event this service understands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    UserUpdated(UserUpdated),
    SessionRevoked(SessionRevoked),
}

impl std::fmt::Display for Decoded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::UserUpdated(e) => write!(
                f,
                "user:updated    user={} changed=[{}] event={}",
                e.user_id,
                e.changed_fields.join(","),
                e.event_id
            ),
            Self::SessionRevoked(e) => write!(
                f,
                "session:revoked session={} user={} reason={} event={}",
                e.session_id, e.user_id, e.reason, e.event_id
            ),
        }
    }
}

/// The entry's message by its `type`; `None` for a channel this service
/// does not follow (nothing to do, so it is acknowledged).
pub fn decode(event: &StreamEvent) -> Result<Option<Decoded>, prost::DecodeError> {
    Ok(match event.event_type.as_str() {
        "user:updated" => Some(Decoded::UserUpdated(event.decode()?)),
        "session:revoked" => Some(Decoded::SessionRevoked(event.decode()?)),
        _ => None,
    })
}

/// The last `capacity` event ids handled, to skip a redelivery. A real
/// service records the id in its own database, in the transaction of
/// what it does with the event; this in-memory window covers the common
/// case (an entry handed out again shortly after) and is lost on restart.
#[derive(Debug)]
pub struct Seen {
    ids: HashSet<String>,
    order: VecDeque<String>,
    capacity: usize,
}

impl Seen {
    pub fn new(capacity: usize) -> Self {
        Self {
            ids: HashSet::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// True the first time `event_id` is offered.
    pub fn first_time(&mut self, event_id: &str) -> bool {
        if !self.ids.insert(event_id.to_owned()) {
            return false;
        }
        self.order.push_back(event_id.to_owned());
        if self.order.len() > self.capacity
            && let Some(oldest) = self.order.pop_front()
        {
            self.ids.remove(&oldest);
        }
        true
    }
}

/// Follows every channel of [`CHANNELS`] as `consumer` of `group`, calling
/// `on_event` once per event id; runs until dropped.
pub async fn follow(
    redis_url: &str,
    key_prefix: &str,
    group: &str,
    consumer: &str,
    on_event: impl Fn(&StreamEvent, Decoded) + Send + Sync + 'static,
) -> Result<(), latch_client::events::EventsError> {
    let seen = Arc::new(Mutex::new(Seen::new(100_000)));
    let on_event = Arc::new(on_event);
    let mut tasks = tokio::task::JoinSet::new();
    for channel in CHANNELS {
        let stream = StreamConsumer::new(redis_url, key_prefix, channel, group, consumer)?;
        let seen = seen.clone();
        let on_event = on_event.clone();
        tasks.spawn(async move {
            stream
                .run(move |event| {
                    let seen = seen.clone();
                    let on_event = on_event.clone();
                    async move { handle(&event, &seen, on_event.as_ref()) }
                })
                .await;
        });
    }
    // The consumers run until the process ends.
    while tasks.join_next().await.is_some() {}
    Ok(())
}

fn handle(
    event: &StreamEvent,
    seen: &Mutex<Seen>,
    on_event: &(impl Fn(&StreamEvent, Decoded) + ?Sized),
) -> Result<(), String> {
    if !seen
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .first_time(&event.event_id)
    {
        return Ok(());
    }
    match decode(event) {
        Ok(Some(decoded)) => on_event(event, decoded),
        Ok(None) => {}
        // Latch wrote it, so it decodes; a message that does not is
        // acknowledged rather than retried forever.
        Err(error) => eprintln!("skipping {}: {error}", event.entry_id),
    }
    Ok(())
}
