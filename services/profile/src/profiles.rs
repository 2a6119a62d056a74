//! Creating, reading, updating and deleting profiles.

use std::sync::Arc;

use async_trait::async_trait;
use latch_domain::{
    Clock, Error, Result, UserId,
    events::{Event, EventPayload},
    model::Profile,
    ports::{EventBus, ProfileDirectory, ProfileRepository},
    validate,
};

use crate::update::{self, ProfileUpdate};

/// The profiles of all users; one per user, created at sign-up.
pub struct Profiles {
    repo: Arc<dyn ProfileRepository>,
    bus: Arc<dyn EventBus>,
    clock: Arc<dyn Clock>,
}

impl Profiles {
    pub fn new(
        repo: Arc<dyn ProfileRepository>,
        bus: Arc<dyn EventBus>,
        clock: Arc<dyn Clock>,
    ) -> Arc<Self> {
        Arc::new(Self { repo, bus, clock })
    }

    /// The user's profile, or `NOT_FOUND`.
    pub async fn get(&self, user: UserId) -> Result<Profile> {
        self.repo
            .get(user)
            .await?
            .ok_or_else(|| Error::not_found("profile"))
    }

    /// Sets the fields named in `mask` (paths of [`crate::UPDATABLE_PATHS`])
    /// from `changes`, leaving every other field as it was, and publishes
    /// `user:updated` with the fields that really changed.
    ///
    /// Errors: `INVALID_ARGUMENT` naming `update_mask` for an empty mask or
    /// an unknown path, or naming the field for a bad value (nothing is
    /// written then); `NOT_FOUND` when the user has no profile.
    pub async fn update(
        &self,
        user: UserId,
        changes: ProfileUpdate,
        mask: &[String],
    ) -> Result<Profile> {
        let paths = update::parse_mask(mask)?;
        let current = self.get(user).await?;
        let today = self.clock.now().date_naive();
        let mut next = update::apply(&current, &changes, &paths, today)?;
        let changed = update::changed_fields(&current, &next);
        if changed.is_empty() {
            return Ok(current);
        }
        let now = self.clock.now();
        next.updated_at = now;
        if !self.repo.update(&next).await? {
            return Err(Error::not_found("profile"));
        }
        let event = Event::new(
            now,
            EventPayload::UserUpdated {
                user_id: user,
                changed_fields: changed,
            },
        );
        // The update is stored; a lost event is tolerated by subscribers
        // (delivery is at most once), a failed request would not be.
        if let Err(error) = self.bus.publish(&event).await {
            tracing::warn!(%error, "user:updated not published");
        }
        Ok(next)
    }
}

#[async_trait]
impl ProfileDirectory for Profiles {
    /// Idempotent: an existing profile is left unchanged (false).
    async fn create(&self, user: UserId, first_name: &str, last_name: &str) -> Result<bool> {
        let first_name = validate::name("first_name", first_name)?;
        let last_name = validate::name("last_name", last_name)?;
        let now = self.clock.now();
        let profile = Profile {
            user_id: user,
            first_name,
            last_name,
            display_name: None,
            avatar_key: None,
            avatar_url: None,
            avatar_size: None,
            avatar_mime: None,
            address: None,
            phone: None,
            date_of_birth: None,
            metadata: serde_json::Value::Object(serde_json::Map::new()),
            created_at: now,
            updated_at: now,
        };
        self.repo.create_if_absent(&profile).await
    }

    /// Idempotent: false when there was no profile.
    async fn delete(&self, user: UserId) -> Result<bool> {
        self.repo.delete(user).await
    }
}

#[cfg(test)]
mod tests;
