//! Where avatar objects live, read once at start:
//!
//! - `LATCH_AVATAR_STORE` unset: files under `LATCH_DATA_DIR` (objects
//!   `avatars/{user}/{random}.{ext}`, so `<data dir>/avatars/…`);
//! - `file:///absolute/dir`: files under that directory;
//! - `s3://bucket[/prefix]`: an S3-compatible bucket, credentials and
//!   endpoint from the usual `AWS_*` settings (`AWS_ACCESS_KEY_ID`,
//!   `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT` and
//!   `AWS_ALLOW_HTTP=true` for a server of your own, …).
//!
//! Anything else stops the start.

use std::{path::PathBuf, sync::Arc};

use latch_domain::{Error, Result, UserId};
use latch_runtime::{config::ConfigSource, settings::DEFAULT_DATA_DIR};
use object_store::{
    ObjectStore,
    aws::{AmazonS3Builder, AmazonS3ConfigKey},
    local::LocalFileSystem,
    path::Path,
    prefix::PrefixStore,
};

use super::encode::AvatarType;

/// The first segment of every avatar object's key; the orphan cleanup
/// lists under it and touches nothing else.
pub const PREFIX: &str = "avatars";

/// The `AWS_*` settings passed to the S3 client, read from the same
/// source as every other setting (the environment, in a binary).
const AWS_KEYS: &[&str] = &[
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT",
    "AWS_ENDPOINT_URL",
    "AWS_ALLOW_HTTP",
    "AWS_VIRTUAL_HOSTED_STYLE_REQUEST",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    "AWS_METADATA_ENDPOINT",
];

/// The avatar store named by `LATCH_AVATAR_STORE` (see the module).
/// Creates the local directory when it is missing.
pub async fn from_source(source: &dyn ConfigSource) -> Result<Arc<dyn ObjectStore>> {
    let bad = |why: &str| Error::internal_msg(format!("LATCH_AVATAR_STORE: {why}"));
    match source
        .get("LATCH_AVATAR_STORE")
        .filter(|s| !s.trim().is_empty())
    {
        None => {
            let dir = source
                .get("LATCH_DATA_DIR")
                .unwrap_or_else(|| DEFAULT_DATA_DIR.to_owned());
            local(PathBuf::from(dir)).await
        }
        Some(url) if url.starts_with("file://") => {
            let dir = PathBuf::from(&url["file://".len()..]);
            if !dir.is_absolute() {
                return Err(bad("a file:// store needs an absolute path"));
            }
            local(dir).await
        }
        Some(url) if url.starts_with("s3://") => {
            let rest = &url["s3://".len()..];
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(bad("s3:// needs a bucket"));
            }
            let mut builder = AmazonS3Builder::new().with_bucket_name(bucket);
            for key in AWS_KEYS {
                if let (Some(value), Ok(config)) = (
                    source.get(key),
                    key.to_ascii_lowercase().parse::<AmazonS3ConfigKey>(),
                ) {
                    builder = builder.with_config(config, value);
                }
            }
            let s3 = builder
                .build()
                .map_err(|e| bad("the S3 settings are incomplete").with_source(e))?;
            let prefix = prefix.trim_matches('/');
            Ok(if prefix.is_empty() {
                Arc::new(s3)
            } else {
                Arc::new(PrefixStore::new(s3, prefix))
            })
        }
        Some(_) => Err(bad("must be file:///dir or s3://bucket[/prefix]")),
    }
}

async fn local(dir: PathBuf) -> Result<Arc<dyn ObjectStore>> {
    tokio::fs::create_dir_all(&dir).await.map_err(|e| {
        Error::internal_msg(format!("avatar directory {}", dir.display())).with_source(e)
    })?;
    let store = LocalFileSystem::new_with_prefix(&dir).map_err(|e| {
        Error::internal_msg(format!("avatar directory {}", dir.display())).with_source(e)
    })?;
    Ok(Arc::new(store))
}

/// A fresh key for `user`'s new avatar: random, so an upload never
/// overwrites the object a profile still names (the old one is deleted
/// only once the new one is committed).
pub fn new_key(user: UserId, kind: AvatarType) -> Path {
    Path::from(format!(
        "{PREFIX}/{user}/{}.{}",
        uuid::Uuid::new_v4().simple(),
        kind.extension()
    ))
}

/// The user a key belongs to: `avatars/{user}/{file}`; `None` for any
/// other key (left alone by the cleanup).
pub fn owner(key: &Path) -> Option<UserId> {
    let mut parts = key.parts();
    if parts.next()?.as_ref() != PREFIX {
        return None;
    }
    let user = parts.next()?;
    parts.next()?;
    if parts.next().is_some() {
        return None;
    }
    uuid::Uuid::parse_str(user.as_ref()).ok().map(UserId)
}

/// A store error as a domain error: a store that cannot be reached is
/// `UNAVAILABLE`, like any dependency.
pub fn store_err(error: object_store::Error) -> Error {
    Error::unavailable(error)
}
