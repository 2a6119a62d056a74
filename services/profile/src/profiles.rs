//! Creating, reading, updating and deleting profiles.

use std::sync::Arc;

use async_trait::async_trait;
use latch_domain::{
    Clock, Error, Reason, Result, UserId,
    events::{Event, EventPayload},
    model::Profile,
    ports::{EventBus, ProfileDirectory, ProfileRepository, UserDataEraser, VersionedWrite},
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
    /// from `changes`, leaving every other field as it was, and writes
    /// `user:updated` with the fields that really changed to the outbox in
    /// the same transaction (its worker publishes it).
    ///
    /// The mask is applied to the stored row and written only over the
    /// version read (compare-and-set): a concurrent write of the profile
    /// makes this one read the row again and apply the mask to it, so two
    /// updates of different fields both survive. With `expected_version`
    /// (the version the caller read), any other version refuses the update
    /// instead, so a client's read-modify-write never overwrites a change
    /// it has not seen.
    ///
    /// Errors: `INVALID_ARGUMENT` naming `update_mask` for an empty mask or
    /// an unknown path, or naming the field for a bad value (nothing is
    /// written then); `NOT_FOUND` when the user has no profile;
    /// `PROFILE_VERSION_CONFLICT` when the stored version is not
    /// `expected_version`, or (without it) when the profile kept changing
    /// under a bounded number of tries.
    pub async fn update(
        &self,
        user: UserId,
        changes: ProfileUpdate,
        mask: &[String],
        expected_version: Option<i64>,
    ) -> Result<Profile> {
        let paths = update::parse_mask(mask)?;
        let today = self.clock.now().date_naive();
        for attempt in 0..MAX_ATTEMPTS {
            if attempt > 0 {
                backoff(attempt).await;
            }
            // Changes apply to the stored profile, never to a cached copy.
            let current = self.load(user).await?;
            if expected_version.is_some_and(|expected| expected != current.version) {
                return Err(version_conflict());
            }
            let mut next = update::apply(&current, &changes, &paths, today)?;
            let changed = update::changed_fields(&current, &next);
            if changed.is_empty() {
                return Ok(current);
            }
            let now = self.clock.now();
            next.updated_at = now;
            let event = Event::new(
                now,
                EventPayload::UserUpdated {
                    user_id: user,
                    changed_fields: changed,
                },
            );
            let written = self
                .repo
                .update_versioned(&next, &[event.to_outbox()?])
                .await;
            // This replica's own copy goes at once; the others' when the
            // worker delivers the event.
            self.cache.invalidate(&user);
            match written? {
                VersionedWrite::Written { version } => {
                    next.version = version;
                    return Ok(next);
                }
                VersionedWrite::Missing => return Err(Error::not_found("profile")),
                VersionedWrite::Stale if expected_version.is_some() => {
                    return Err(version_conflict());
                }
                VersionedWrite::Stale => {}
            }
        }
        Err(Error::new(
            Reason::ProfileVersionConflict,
            "the profile kept changing during the update; retry",
        ))
    }
}

/// How many times an update without `expected_version` is tried, each on
/// the row as another write left it; every lost try means another update
/// of the profile was written, so only a storm of writes to one profile
/// exhausts it.
pub(crate) const MAX_ATTEMPTS: u32 = 32;

fn version_conflict() -> Error {
    Error::new(
        Reason::ProfileVersionConflict,
        "the profile changed since expected_version; read it again",
    )
}

/// A short random pause before another try, growing with `attempt` (at
/// most about 8 ms), so writers that lost together do not read together.
async fn backoff(attempt: u32) {
    let ceiling_micros = 500u128 << attempt.min(4);
    let micros = uuid::Uuid::new_v4().as_u128() % ceiling_micros;
    let micros = u64::try_from(micros).unwrap_or_default();
    tokio::time::sleep(std::time::Duration::from_micros(micros)).await;
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
