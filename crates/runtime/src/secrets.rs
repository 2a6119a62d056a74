//! The secrets Latch needs: the service credential, the key that encrypts
//! private keys and TOTP secrets, the IP-hash key and the refresh-successor
//! key. Configured through the environment in production; generated into
//! `<data dir>/secrets.json` (mode 0600) by the embedded default.

use std::path::{Path, PathBuf};

use base64::{Engine, engine::general_purpose::STANDARD};
use latch_domain::{
    Error, Result,
    secret::{Secret, random_bytes, random_token},
};
use serde::{Deserialize, Serialize};

use crate::{config::ConfigSource, settings::CommonConfig};

pub const SERVICE_TOKEN: &str = "LATCH_SERVICE_TOKEN";
pub const ENCRYPTION_KEY: &str = "LATCH_ENCRYPTION_KEY";
pub const IP_HASH_KEY: &str = "LATCH_IP_HASH_KEY";
pub const REFRESH_TOKEN_KEY: &str = "LATCH_REFRESH_TOKEN_KEY";

#[derive(Debug, Clone)]
pub struct Secrets {
    pub service_token: Secret<String>,
    pub encryption_key: Secret<[u8; 32]>,
    pub ip_hash_key: Secret<[u8; 32]>,
    pub refresh_key: Secret<[u8; 32]>,
}

/// The file form: base64 keys.
#[derive(Serialize, Deserialize)]
struct SecretsFile {
    service_token: String,
    encryption_key: String,
    ip_hash_key: String,
    refresh_key: String,
}

impl Secrets {
    /// Reads every secret from `source`. With a PostgreSQL database a missing
    /// one stops the start with a message naming it; otherwise missing ones
    /// come from (or are generated into) the data directory.
    pub async fn load(source: &dyn ConfigSource, common: &CommonConfig) -> Result<Self> {
        let configured = [
            SERVICE_TOKEN,
            ENCRYPTION_KEY,
            IP_HASH_KEY,
            REFRESH_TOKEN_KEY,
        ]
        .map(|key| (key, source.get(key)));
        let missing: Vec<&str> = configured
            .iter()
            .filter(|(_, v)| v.is_none())
            .map(|(k, _)| *k)
            .collect();
        let file = if missing.is_empty() {
            None
        } else if common.is_production() {
            return Err(Error::internal_msg(format!(
                "a PostgreSQL deployment needs its secrets configured; missing: {} \
                 (keys are 32 random bytes in base64, e.g. `openssl rand -base64 32`)",
                missing.join(", ")
            )));
        } else {
            Some(load_or_generate(common.data_dir.join("secrets.json")).await?)
        };
        let pick = |key: &str, from_file: fn(&SecretsFile) -> &String| -> Result<String> {
            let configured = configured
                .iter()
                .find(|(k, _)| *k == key)
                .and_then(|(_, v)| v.clone());
            match (configured, &file) {
                (Some(value), _) => Ok(value),
                (None, Some(file)) => Ok(from_file(file).clone()),
                (None, None) => Err(Error::internal_msg(format!("{key} is not set"))),
            }
        };
        let service_token = pick(SERVICE_TOKEN, |f| &f.service_token)?;
        if service_token.len() < 32 {
            return Err(Error::internal_msg(format!(
                "{SERVICE_TOKEN} must be at least 32 characters"
            )));
        }
        Ok(Self {
            service_token: Secret::new(service_token),
            encryption_key: key32(
                ENCRYPTION_KEY,
                &pick(ENCRYPTION_KEY, |f| &f.encryption_key)?,
            )?,
            ip_hash_key: key32(IP_HASH_KEY, &pick(IP_HASH_KEY, |f| &f.ip_hash_key)?)?,
            refresh_key: key32(
                REFRESH_TOKEN_KEY,
                &pick(REFRESH_TOKEN_KEY, |f| &f.refresh_key)?,
            )?,
        })
    }

    /// Fresh random secrets, for tests and harnesses.
    pub fn generate() -> Result<Self> {
        let file = SecretsFile::generate()?;
        Ok(Self {
            service_token: Secret::new(file.service_token.clone()),
            encryption_key: key32(ENCRYPTION_KEY, &file.encryption_key)?,
            ip_hash_key: key32(IP_HASH_KEY, &file.ip_hash_key)?,
            refresh_key: key32(REFRESH_TOKEN_KEY, &file.refresh_key)?,
        })
    }
}

impl SecretsFile {
    fn generate() -> Result<Self> {
        let key = || random_bytes(32).map(|b| STANDARD.encode(b));
        Ok(Self {
            service_token: random_token(32)?,
            encryption_key: key()?,
            ip_hash_key: key()?,
            refresh_key: key()?,
        })
    }
}

fn key32(name: &str, base64: &str) -> Result<Secret<[u8; 32]>> {
    STANDARD
        .decode(base64.trim())
        .ok()
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        .map(Secret::new)
        .ok_or_else(|| Error::internal_msg(format!("{name} must be 32 bytes in base64")))
}

async fn load_or_generate(path: PathBuf) -> Result<SecretsFile> {
    tokio::task::spawn_blocking(move || load_or_generate_blocking(&path))
        .await
        .map_err(Error::internal)?
}

fn load_or_generate_blocking(path: &Path) -> Result<SecretsFile> {
    let io = |e: std::io::Error| Error::internal_msg(format!("{}: {e}", path.display()));
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| Error::internal_msg(format!("{}: {e}", path.display()))),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent() {
                // The same helper the SQLite file's directory goes through:
                // owner-only whichever of the two is created first.
                latch_store::create_owner_only_dir(dir).map_err(io)?;
            }
            let file = SecretsFile::generate()?;
            let json = serde_json::to_vec_pretty(&file).map_err(Error::internal)?;
            write_owner_only(path, &json).map_err(io)?;
            tracing::info!(path = %path.display(), "generated secrets for the embedded default");
            Ok(file)
        }
        Err(err) => Err(io(err)),
    }
}

#[cfg(unix)]
fn write_owner_only(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::{io::Write, os::unix::fs::OpenOptionsExt};
    // create_new: two processes starting at once must not both write.
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(not(unix))]
fn write_owner_only(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MapSource;

    #[tokio::test]
    async fn embedded_default_generates_once_and_owner_only() -> Result<()> {
        let tmp = tempfile::tempdir().map_err(Error::internal)?;
        let dir = tmp.path().join("data");
        let source = MapSource::new().with("LATCH_DATA_DIR", dir.display().to_string());
        let common = CommonConfig::from_source(&source)?;
        let first = Secrets::load(&source, &common).await?;
        let second = Secrets::load(&source, &common).await?;
        assert_eq!(
            first.encryption_key, second.encryption_key,
            "reloaded, not regenerated"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &std::path::Path| {
                std::fs::metadata(p)
                    .map(|m| m.permissions().mode() & 0o777)
                    .map_err(Error::internal)
            };
            assert_eq!(mode(&dir.join("secrets.json"))?, 0o600);
            assert_eq!(mode(&dir)?, 0o700, "the data directory is owner-only");
        }
        Ok(())
    }

    #[tokio::test]
    async fn postgres_without_secrets_refuses_to_start() -> Result<()> {
        let source = MapSource::new().with("LATCH_DATABASE_URL", "postgres://db/latch");
        let common = CommonConfig::from_source(&source)?;
        let err = Secrets::load(&source, &common)
            .await
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains(SERVICE_TOKEN) && err.contains(ENCRYPTION_KEY),
            "{err}"
        );
        Ok(())
    }

    #[tokio::test]
    async fn configured_keys_must_be_32_bytes() -> Result<()> {
        let good = STANDARD.encode([7u8; 32]);
        let source = MapSource::new()
            .with("LATCH_DATABASE_URL", "postgres://db/latch")
            .with(SERVICE_TOKEN, "s".repeat(40))
            .with(ENCRYPTION_KEY, STANDARD.encode([1u8; 16]))
            .with(IP_HASH_KEY, good.clone())
            .with(REFRESH_TOKEN_KEY, good);
        let common = CommonConfig::from_source(&source)?;
        assert!(Secrets::load(&source, &common).await.is_err());
        Ok(())
    }
}
