//! Avatars: uploading (checked as it streams, re-encoded, stored under a
//! fresh key, committed, then the old object deleted), deleting, where to
//! fetch one, and the cleanup of objects no profile names.
//!
//! The profile row is the authority: an object is in use only while its
//! profile's `avatar_key` names it. Every write to the store comes before
//! the commit that names the object, and every delete after the commit
//! that stopped naming it, so a crash or a failed delete leaves at worst an
//! object nobody names, which [`Avatars::remove_orphans`] removes once it
//! is older than the grace period.

mod encode;
mod orphans;
pub mod store;

use std::{sync::Arc, time::Duration};

use futures::{Stream, StreamExt as _};
use latch_domain::{
    Clock, Error, Reason, Result, UserId,
    events::{Event, EventPayload},
    model::{Profile, StoredAvatar},
    ports::ProfileRepository,
};
use latch_runtime::{
    config::{ConfigSource, duration_in, parse_in},
    metrics::CleanupCounter,
};
use object_store::{ObjectStore, ObjectStoreExt as _, PutPayload, path::Path};

pub use encode::{AvatarType, Encoded, MAX_SIDE, reencode};
pub use orphans::JOB as CLEANUP_JOB;

use crate::Profiles;

/// `LATCH_AVATAR_MAX_BYTES` when unset: 2 MiB.
pub const DEFAULT_MAX_BYTES: u64 = 2 * 1024 * 1024;
/// The field an avatar write names in `user:updated`.
pub const CHANGED_FIELD: &str = "avatar";
/// Compare-and-set rounds before an upload racing other writes of the
/// same avatar gives up.
const WRITE_ATTEMPTS: usize = 5;
const DAY: Duration = Duration::from_secs(86_400);

/// Avatar settings, read once at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvatarConfig {
    /// `LATCH_AVATAR_MAX_BYTES`: the most an upload may send; 1 KiB to
    /// 64 MiB, default 2 MiB.
    pub max_bytes: u64,
    /// `LATCH_AVATAR_PUBLIC_URL`: the base URL objects are served from
    /// (a CDN, the bucket's website); unset: GetProfile gives the key.
    pub public_url: Option<String>,
    /// `LATCH_AVATAR_ORPHAN_GRACE`: an object nobody names is removed once
    /// older than this (an upload between its write and its commit is
    /// never taken); 1 min to 30 days, default 1 h.
    pub orphan_grace: Duration,
    /// `LATCH_AVATAR_CLEANUP_INTERVAL`: how often every replica looks for
    /// orphans; 1 s to 1 day, default 1 h.
    pub cleanup_interval: Duration,
}

impl Default for AvatarConfig {
    fn default() -> Self {
        Self {
            max_bytes: DEFAULT_MAX_BYTES,
            public_url: None,
            orphan_grace: Duration::from_secs(3600),
            cleanup_interval: Duration::from_secs(3600),
        }
    }
}

impl AvatarConfig {
    pub fn from_source(source: &dyn ConfigSource) -> Result<Self> {
        let d = Self::default();
        let public_url = source
            .get("LATCH_AVATAR_PUBLIC_URL")
            .map(|u| u.trim().to_owned())
            .filter(|u| !u.is_empty());
        if let Some(url) = &public_url
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            return Err(Error::internal_msg(
                "LATCH_AVATAR_PUBLIC_URL: must be an http:// or https:// URL",
            ));
        }
        Ok(Self {
            max_bytes: parse_in(
                source,
                "LATCH_AVATAR_MAX_BYTES",
                d.max_bytes,
                1024..=64 * 1024 * 1024,
            )?,
            public_url,
            orphan_grace: duration_in(
                source,
                "LATCH_AVATAR_ORPHAN_GRACE",
                d.orphan_grace,
                Duration::from_secs(60)..=30 * DAY,
            )?,
            cleanup_interval: duration_in(
                source,
                "LATCH_AVATAR_CLEANUP_INTERVAL",
                d.cleanup_interval,
                Duration::from_secs(1)..=DAY,
            )?,
        })
    }
}

/// What the first message of an upload declares.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Declared {
    /// `""`: not declared; otherwise it must be the bytes' type.
    pub content_type: String,
    /// 0: not declared; otherwise exactly what the chunks must add up to.
    pub size: u64,
}

/// The avatars of all profiles, in `store`.
pub struct Avatars {
    profiles: Arc<Profiles>,
    repo: Arc<dyn ProfileRepository>,
    store: Arc<dyn ObjectStore>,
    clock: Arc<dyn Clock>,
    config: AvatarConfig,
    counter: CleanupCounter,
}

impl Avatars {
    pub fn new(
        profiles: Arc<Profiles>,
        repo: Arc<dyn ProfileRepository>,
        store: Arc<dyn ObjectStore>,
        clock: Arc<dyn Clock>,
        config: AvatarConfig,
        counter: CleanupCounter,
    ) -> Arc<Self> {
        Arc::new(Self {
            profiles,
            repo,
            store,
            clock,
            config,
            counter,
        })
    }

    /// The avatars a binary serves: settings and store from `source`
    /// (a bad value stops the start), counting on the global meter; with
    /// the orphan cleanup spawned.
    pub async fn start(
        source: &dyn ConfigSource,
        profiles: Arc<Profiles>,
        repo: Arc<dyn ProfileRepository>,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<Self>> {
        let config = AvatarConfig::from_source(source)?;
        let store = store::from_source(source).await?;
        let avatars = Self::new(
            profiles,
            repo,
            store,
            clock,
            config,
            CleanupCounter::global(),
        );
        avatars.spawn_cleanup();
        Ok(avatars)
    }

    pub fn config(&self) -> &AvatarConfig {
        &self.config
    }

    /// Where the avatar stored under `key` is fetched from:
    /// `LATCH_AVATAR_PUBLIC_URL` joined with the key, or the key alone.
    pub fn url_of(&self, key: &str) -> String {
        match &self.config.public_url {
            Some(base) => format!("{}/{key}", base.trim_end_matches('/')),
            None => key.to_owned(),
        }
    }

    /// The profile with `avatar_url` filled from its key.
    pub fn with_url(&self, mut profile: Profile) -> Profile {
        profile.avatar_url = profile.avatar_key.as_deref().map(|k| self.url_of(k));
        profile
    }

    /// Replaces `user`'s avatar with the image `chunks` carry.
    ///
    /// The bytes are counted as they arrive and the stream is dropped
    /// (not read further) once they pass `LATCH_AVATAR_MAX_BYTES` or the
    /// declared size. Nothing is stored unless the whole stream arrived and
    /// decoded. Errors: `AVATAR_TOO_LARGE`, `AVATAR_INVALID`,
    /// `AVATAR_TYPE_MISMATCH` (see README, Errors), `NOT_FOUND` when the
    /// user has no profile, and whatever error ended the stream.
    pub async fn upload<S>(&self, user: UserId, declared: Declared, chunks: S) -> Result<Profile>
    where
        S: Stream<Item = Result<Vec<u8>>> + Send,
    {
        let declared_type = AvatarType::declared(&declared.content_type)?;
        if declared.size > self.config.max_bytes {
            return Err(too_large(self.config.max_bytes));
        }
        // Read nothing for a user who has no profile.
        self.profiles.get(user).await?;
        let bytes = read_limited(chunks, declared.size, self.config.max_bytes).await?;
        let encoded = tokio::task::spawn_blocking(move || reencode(&bytes, declared_type))
            .await
            .map_err(Error::internal)??;
        let key = store::new_key(user, encoded.kind);
        let stored = StoredAvatar {
            key: key.to_string(),
            size: i64::try_from(encoded.bytes.len()).map_err(Error::internal)?,
            mime: encoded.kind.mime().to_owned(),
        };
        self.store
            .put(&key, PutPayload::from(encoded.bytes))
            .await
            .map_err(store::store_err)?;
        match self.commit(user, Some(&stored)).await {
            Ok(Commit::Written(previous)) => {
                if let Some(old) = previous {
                    self.delete_object(&old).await;
                }
                self.profiles.get(user).await.map(|p| self.with_url(p))
            }
            // Definitely named by no profile: removed now.
            Ok(outcome) => {
                self.delete_object(&stored.key).await;
                Err(outcome.error())
            }
            // The commit may have happened (a lost answer): the orphan
            // cleanup decides once the grace period is over.
            Err(error) => Err(error),
        }
    }

    /// Removes `user`'s avatar; idempotent (no avatar: nothing written, no
    /// event). `NOT_FOUND` when the user has no profile.
    pub async fn delete(&self, user: UserId) -> Result<Profile> {
        match self.commit(user, None).await? {
            Commit::Written(previous) => {
                if let Some(old) = previous {
                    self.delete_object(&old).await;
                }
                self.profiles.get(user).await.map(|p| self.with_url(p))
            }
            outcome => Err(outcome.error()),
        }
    }

    /// Sets (or clears) the avatar columns over whatever key is stored,
    /// with `user:updated` in the same transaction. Clearing an absent
    /// avatar writes nothing (and no event).
    async fn commit(&self, user: UserId, avatar: Option<&StoredAvatar>) -> Result<Commit> {
        for _ in 0..WRITE_ATTEMPTS {
            let Some(current) = self.repo.get(user).await? else {
                return Ok(Commit::Missing);
            };
            let previous = current.avatar_key;
            if avatar.is_none() && previous.is_none() {
                return Ok(Commit::Written(None));
            }
            let now = self.clock.now();
            let event = Event::new(
                now,
                EventPayload::UserUpdated {
                    user_id: user,
                    changed_fields: vec![CHANGED_FIELD.to_owned()],
                },
            );
            let written = self
                .repo
                .set_avatar(
                    user,
                    previous.as_deref(),
                    avatar,
                    now,
                    &[event.to_outbox()?],
                )
                .await;
            // Dropped whatever happened: a copy must not outlive a write
            // that may have committed.
            self.profiles.cache.invalidate(&user);
            if written? {
                return Ok(Commit::Written(previous));
            }
            // Another write moved the key (or the profile went): look again.
        }
        Ok(Commit::Contended)
    }

    /// Deletes an object no profile names any more; a failure is logged
    /// and left to the orphan cleanup.
    async fn delete_object(&self, key: &str) {
        match self.store.delete(&Path::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(error) => {
                tracing::warn!(%error, key, "old avatar not deleted; the orphan cleanup will");
            }
        }
    }
}

/// What [`Avatars::commit`] did.
enum Commit {
    /// Committed; the key it replaced.
    Written(Option<String>),
    /// No profile.
    Missing,
    /// Every round lost to a concurrent write of the same avatar.
    Contended,
}

impl Commit {
    fn error(self) -> Error {
        match self {
            Commit::Missing => Error::not_found("profile"),
            _ => Error::new(
                Reason::Unavailable,
                "the avatar is being changed by another request; retry",
            ),
        }
    }
}

/// Collects the chunks, refusing (and reading no further) once they pass
/// `max` or the declared `size` (0: not declared).
async fn read_limited<S>(chunks: S, size: u64, max: u64) -> Result<Vec<u8>>
where
    S: Stream<Item = Result<Vec<u8>>> + Send,
{
    let mut chunks = std::pin::pin!(chunks);
    let capacity = usize::try_from(size.min(max)).unwrap_or_default();
    let mut bytes = Vec::with_capacity(capacity);
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk?;
        let total = bytes.len() as u64 + chunk.len() as u64;
        if total > max {
            return Err(too_large(max));
        }
        if size > 0 && total > size {
            return Err(Error::field(
                Reason::AvatarInvalid,
                "metadata.size",
                format!("the chunks carry more than the declared {size} bytes"),
            ));
        }
        bytes.extend_from_slice(&chunk);
    }
    if bytes.is_empty() {
        return Err(Error::new(
            Reason::AvatarInvalid,
            "no image bytes were sent",
        ));
    }
    if size > 0 && bytes.len() as u64 != size {
        return Err(Error::field(
            Reason::AvatarInvalid,
            "metadata.size",
            format!(
                "the chunks carry {} bytes, {size} were declared",
                bytes.len()
            ),
        ));
    }
    Ok(bytes)
}

fn too_large(max: u64) -> Error {
    Error::new(
        Reason::AvatarTooLarge,
        format!("an avatar may be at most {max} bytes"),
    )
}

#[cfg(test)]
mod tests;
