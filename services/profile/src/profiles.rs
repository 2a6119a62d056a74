//! Creating, reading, updating and deleting profiles.

use std::sync::Arc;

use async_trait::async_trait;
use latch_domain::{
    Clock, Error, Result, UserId,
    events::{Event, EventPayload},
    model::Profile,
    ports::{EventBus, ProfileDirectory, ProfileRepository, UserDataEraser},
    validate,
};

use crate::{
    cache::{CAPACITY, ProfileCache},
    update::{self, ProfileUpdate},
};

/// The profiles of all users; one per user, created at sign-up.
pub struct Profiles {
    repo: Arc<dyn ProfileRepository>,
    pub(crate) bus: Arc<dyn EventBus>,
    clock: Arc<dyn Clock>,
    pub(crate) cache: ProfileCache,
}

impl Profiles {
    /// How long a read profile may be served from memory by default
    /// (`LATCH_PROFILE_CACHE_TTL`).
    pub const DEFAULT_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(30);

    /// Profiles whose reads are cached for `cache_ttl` (zero: not at all)
    /// once [`Profiles::spawn_update_listener`] has subscribed.
    pub fn new(
        repo: Arc<dyn ProfileRepository>,
        bus: Arc<dyn EventBus>,
        clock: Arc<dyn Clock>,
        cache_ttl: std::time::Duration,
    ) -> Arc<Self> {
        Arc::new(Self {
            repo,
            bus,
            clock,
            cache: ProfileCache::new(cache_ttl, CAPACITY),
        })
    }

    /// The user's profile, or `NOT_FOUND`; from memory when a copy read at
    /// most the cache TTL ago is held.
    pub async fn get(&self, user: UserId) -> Result<Profile> {
        self.cache
            .get_or_load(user, self.clock.as_ref(), || self.load(user))
            .await
    }

    /// The stored profile, never a cached copy.
    async fn load(&self, user: UserId) -> Result<Profile> {
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
        // Changes apply to the stored profile, never to a cached copy.
        let current = self.load(user).await?;
        let today = self.clock.now().date_naive();
        let mut next = update::apply(&current, &changes, &paths, today)?;
        let changed = update::changed_fields(&current, &next);
        if changed.is_empty() {
            return Ok(current);
        }
        let now = self.clock.now();
        next.updated_at = now;
        let stored = self.repo.update(&next).await;
        self.cache.invalidate(&user);
        if !stored? {
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
        let profile = Profile::named(user, first_name, last_name, now);
        self.repo.create_if_absent(&profile).await
    }

    /// Idempotent: false when there was no profile.
    async fn delete(&self, user: UserId) -> Result<bool> {
        let deleted = self.repo.delete(user).await;
        self.cache.invalidate(&user);
        deleted
    }
}

/// A deleted user's part (identity's DeleteUser, through its outbox): the
/// profile, the one row profile keeps about a user. Idempotent.
#[async_trait]
impl UserDataEraser for Profiles {
    async fn erase_user(&self, user: UserId) -> Result<u64> {
        ProfileDirectory::delete(self, user).await.map(u64::from)
    }
}

#[cfg(test)]
mod tests;
