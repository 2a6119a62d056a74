//! Telling other replicas and services that a user changed: `user:updated`
//! names the fields that changed, never their values.

use latch_domain::{
    UserId,
    events::{Event, EventPayload},
};

use crate::Identity;

impl Identity {
    /// Publishes `user:updated` naming `fields`. The change is stored
    /// already; a lost event only delays other replicas' caches, so a bus
    /// that is down is logged, not returned.
    pub(crate) async fn publish_user_updated(&self, user: UserId, fields: &[&str]) {
        let event = Event::new(
            self.deps.clock.now(),
            EventPayload::UserUpdated {
                user_id: user,
                changed_fields: fields.iter().map(|f| (*f).to_owned()).collect(),
            },
        );
        if let Err(error) = self.deps.bus.publish(&event).await {
            tracing::warn!(%user, %error, "user:updated not published");
        }
    }
}
