//! The background task that keeps this process's profile cache coherent with
//! every replica: it subscribes to `user:updated` and `user:deleted` and
//! drops the copy of each user they name.

use std::sync::Arc;

use latch_domain::{
    events::{Channel, Event, EventPayload},
    ports::EventBus,
};
use latch_runtime::follow::{self, Follower};
use tokio::task::JoinHandle;

use crate::Profiles;

impl Profiles {
    /// Subscribes to `user:updated` and `user:deleted` and drops the cached
    /// profile of every user they name. The cache is used only while
    /// subscribed to both: when either stream ends, it is cleared and
    /// turned off until the task has subscribed again.
    pub fn spawn_update_listener(self: &Arc<Self>) -> JoinHandle<()> {
        follow::spawn_all(self, &[Channel::UserUpdated, Channel::UserDeleted])
    }
}

impl Follower for Profiles {
    fn bus(&self) -> &dyn EventBus {
        self.bus.as_ref()
    }

    fn subscribed(&self) {
        self.cache.set_active(true);
    }

    fn event(&self, event: &Event) {
        match &event.payload {
            EventPayload::UserUpdated { user_id, .. } | EventPayload::UserDeleted { user_id } => {
                self.cache.invalidate(user_id);
            }
            _ => {}
        }
    }

    fn lost(&self) {
        // Updates may be missed from here on.
        self.cache.set_active(false);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration as StdDuration;

    use chrono::Duration;
    use latch_domain::{
        Result, UserId,
        ports::{ProfileDirectory as _, ProfileRepository as _},
    };
    use latch_store::sql::SqlProfiles;

    use crate::{ProfileUpdate, testing::Harness};

    fn first_name(name: &str) -> ProfileUpdate {
        ProfileUpdate {
            first_name: name.to_owned(),
            ..ProfileUpdate::default()
        }
    }

    #[tokio::test]
    async fn a_replica_serves_its_copy_until_any_replica_changes_the_profile() -> Result<()> {
        let h = Harness::new().await;
        let user = UserId::new();
        h.profiles.create(user, "Ada", "Lovelace").await?;
        let replica = h.listening_replica().await;
        assert_eq!(replica.get(user).await?.first_name, "Ada");

        // Written behind every replica's back (no event): the copy stands.
        let repo = SqlProfiles::new(h.db().clone());
        let mut sneaky = replica.get(user).await?;
        sneaky.first_name = "Sneaky".to_owned();
        assert!(repo.update(&sneaky).await?);
        assert_eq!(replica.get(user).await?.first_name, "Ada");

        // Changed through another replica: user:updated drops the copy.
        h.profiles
            .update(user, first_name("Grace"), &["first_name".to_owned()], None)
            .await?;
        // The event reaches the replica through the outbox worker.
        assert_eq!(h.drain_outbox().await.len(), 1);
        let seen = tokio::time::timeout(StdDuration::from_secs(5), async {
            loop {
                let name = replica.get(user).await?.first_name;
                if name == "Grace" {
                    return Ok::<_, latch_domain::Error>(name);
                }
                tokio::task::yield_now().await;
            }
        })
        .await;
        assert!(matches!(seen, Ok(Ok(_))), "the update never showed");
        Ok(())
    }

    /// A user deleted through identity (its profile removed behind this
    /// replica's back by the saga): `user:deleted` drops the copy at once.
    #[tokio::test]
    async fn a_deleted_users_copy_is_dropped_on_user_deleted() -> Result<()> {
        use latch_domain::{
            Clock as _,
            events::{Event, EventPayload},
            ports::EventBus as _,
        };

        let h = Harness::new().await;
        let user = UserId::new();
        h.profiles.create(user, "Ada", "Lovelace").await?;
        let replica = h.listening_replica().await;
        replica.get(user).await?;
        assert!(SqlProfiles::new(h.db().clone()).delete(user).await?);
        assert!(replica.get(user).await.is_ok(), "the copy stands");

        h.bus
            .publish(&Event::new(
                h.clock.now(),
                EventPayload::UserDeleted { user_id: user },
            ))
            .await?;
        let gone = tokio::time::timeout(StdDuration::from_secs(5), async {
            while replica.get(user).await.is_ok() {
                tokio::task::yield_now().await;
            }
        })
        .await;
        assert!(gone.is_ok(), "the deleted user's profile was still served");
        Ok(())
    }

    #[tokio::test]
    async fn a_copy_lives_at_most_the_ttl_and_own_writes_show_at_once() -> Result<()> {
        let h = Harness::new().await;
        let user = UserId::new();
        h.profiles.create(user, "Ada", "Lovelace").await?;
        let replica = h.listening_replica().await;
        replica.get(user).await?;

        let repo = SqlProfiles::new(h.db().clone());
        let mut changed = replica.get(user).await?;
        changed.first_name = "Grace".to_owned();
        assert!(repo.update(&changed).await?);
        h.clock.advance(Duration::seconds(30));
        assert_eq!(replica.get(user).await?.first_name, "Grace");

        replica
            .update(user, first_name("Mary"), &["first_name".to_owned()], None)
            .await?;
        assert_eq!(replica.get(user).await?.first_name, "Mary");
        Ok(())
    }
}
