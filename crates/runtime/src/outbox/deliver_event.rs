//! The outbox handler that delivers events: every event is written as an
//! outbox row in the transaction of the change it reports
//! ([`Event::to_outbox`]); this handler, run by every binary's worker,
//! publishes it and appends it to its channel's stream.

use std::sync::Arc;

use async_trait::async_trait;
use latch_domain::{
    Result,
    events::{DELIVER_EVENT_KIND, Event},
    ports::{EventBus, OutboxHandler, OutboxMessage},
};

/// Handles [`DELIVER_EVENT_KIND`] rows through [`EventBus::deliver`]
/// (idempotent by event id, so a row run twice adds one stream entry).
pub struct DeliverEvent {
    bus: Arc<dyn EventBus>,
}

impl DeliverEvent {
    pub fn new(bus: Arc<dyn EventBus>) -> Arc<Self> {
        Arc::new(Self { bus })
    }
}

#[async_trait]
impl OutboxHandler for DeliverEvent {
    fn kind(&self) -> &'static str {
        DELIVER_EVENT_KIND
    }

    async fn handle(&self, message: &OutboxMessage) -> Result<()> {
        let event = Event::from_outbox(message)?;
        self.bus.deliver(&event).await
    }
}
