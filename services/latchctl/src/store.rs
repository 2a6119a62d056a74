//! The sign-in kept between commands: one owner-only file
//! (`credentials.json`, 0600, in a 0700 directory when latchctl creates it)
//! holding, per server, the access token and the refresh token. Every write
//! goes to a fresh 0600 temporary file in the same directory, synced, then
//! renamed over the old one, so a crash or a full disk never leaves half a
//! file: losing a rotated refresh token would sign the admin out, and
//! presenting the spent one later would end the session as a reuse.

use std::{
    collections::BTreeMap,
    fs,
    io::Write,
    path::{Path, PathBuf},
};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::failure::Failure;

const FILE_NAME: &str = "credentials.json";

/// One server's sign-in. Never printed: `Debug` is deliberately absent.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct Credentials {
    pub(crate) user_id: String,
    pub(crate) email: String,
    pub(crate) session_id: String,
    pub(crate) access_token: String,
    pub(crate) access_token_expires_at: DateTime<Utc>,
    pub(crate) refresh_token: String,
    pub(crate) refresh_token_expires_at: Option<DateTime<Utc>>,
}

#[derive(Default, Serialize, Deserialize)]
struct File {
    #[serde(default)]
    servers: BTreeMap<String, Credentials>,
}

/// The directory holding the sign-in.
#[derive(Debug, Clone)]
pub(crate) struct Store {
    dir: PathBuf,
}

impl Store {
    /// `--profile-dir` / `LATCHCTL_HOME`, else `$XDG_CONFIG_HOME/latch`,
    /// else `~/.config/latch`.
    pub(crate) fn locate(explicit: Option<&Path>) -> Result<Self, Failure> {
        let dir = match explicit {
            Some(dir) => dir.to_path_buf(),
            None => default_dir().ok_or_else(|| {
                Failure::usage("cannot tell where to keep the sign-in: set LATCHCTL_HOME or HOME")
            })?,
        };
        Ok(Self { dir })
    }

    pub(crate) fn path(&self) -> PathBuf {
        self.dir.join(FILE_NAME)
    }

    /// The sign-in for `server`, if any.
    pub(crate) fn load(&self, server: &str) -> Result<Option<Credentials>, Failure> {
        Ok(self.read()?.servers.remove(server))
    }

    /// Keeps `credentials` as `server`'s sign-in.
    pub(crate) fn save(&self, server: &str, credentials: &Credentials) -> Result<(), Failure> {
        let mut file = self.read()?;
        file.servers.insert(server.to_owned(), credentials.clone());
        self.write(&file)
    }

    /// Forgets `server`'s sign-in; the file goes when it holds no other.
    pub(crate) fn forget(&self, server: &str) -> Result<(), Failure> {
        let mut file = self.read()?;
        if file.servers.remove(server).is_none() {
            return Ok(());
        }
        if file.servers.is_empty() {
            return fs::remove_file(self.path()).map_err(|e| self.error("remove", &e));
        }
        self.write(&file)
    }

    fn read(&self) -> Result<File, Failure> {
        let path = self.path();
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(File::default()),
            Err(e) => return Err(self.error("read", &e)),
        };
        refuse_if_shared(&path)?;
        serde_json::from_str(&text).map_err(|e| {
            Failure::other(format!(
                "{} is not a latchctl sign-in ({e}); remove it and log in again",
                path.display()
            ))
        })
    }

    fn write(&self, file: &File) -> Result<(), Failure> {
        let text = serde_json::to_vec_pretty(file)
            .map_err(|e| Failure::other(format!("cannot encode the sign-in: {e}")))?;
        create_private_dir(&self.dir).map_err(|e| self.error("create the directory of", &e))?;
        let temp = self.dir.join(format!(
            ".{FILE_NAME}.{}.{}",
            std::process::id(),
            Utc::now().timestamp_nanos_opt().unwrap_or_default()
        ));
        let written = write_private(&temp, &text).and_then(|()| fs::rename(&temp, self.path()));
        if let Err(e) = written {
            let _ = fs::remove_file(&temp);
            return Err(self.error("write", &e));
        }
        Ok(())
    }

    fn error(&self, action: &str, err: &std::io::Error) -> Failure {
        Failure::other(format!("cannot {action} {}: {err}", self.path().display()))
    }
}

fn default_dir() -> Option<PathBuf> {
    let non_empty = |key: &str| std::env::var_os(key).filter(|v| !v.is_empty());
    if let Some(config) = non_empty("XDG_CONFIG_HOME") {
        return Some(PathBuf::from(config).join("latch"));
    }
    non_empty("HOME").map(|home| PathBuf::from(home).join(".config").join("latch"))
}

/// A new file readable and writable by the owner only, whatever the umask,
/// synced before it is renamed into place.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Tokens that others could read are tokens others may hold: refuse to use
/// them, as ssh refuses a shared private key.
fn refuse_if_shared(path: &Path) -> Result<(), Failure> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(path)
            .map_err(|e| Failure::other(format!("cannot read {}: {e}", path.display())))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(Failure::not_signed_in(format!(
                "{} is readable by others (mode {:o}); remove it and log in again",
                path.display(),
                mode & 0o777
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credentials(refresh: &str) -> Credentials {
        Credentials {
            user_id: "u".into(),
            email: "a@example.com".into(),
            session_id: "s".into(),
            access_token: "at".into(),
            access_token_expires_at: Utc::now(),
            refresh_token: refresh.into(),
            refresh_token_expires_at: None,
        }
    }

    #[test]
    fn a_saved_sign_in_is_owner_only_and_replaced_whole() -> Result<(), Failure> {
        let dir = tempfile::tempdir().map_err(|e| Failure::other(e.to_string()))?;
        let store = Store::locate(Some(&dir.path().join("nested")))?;
        store.save("http://a", &credentials("one"))?;
        store.save("http://b", &credentials("other"))?;
        store.save("http://a", &credentials("two"))?;
        let kept = store.load("http://a")?.map(|c| c.refresh_token);
        assert_eq!(kept.as_deref(), Some("two"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| fs::metadata(p).map(|m| m.permissions().mode() & 0o777).ok();
            assert_eq!(mode(&store.path()), Some(0o600));
            assert_eq!(mode(&dir.path().join("nested")), Some(0o700));
        }
        // No temporary file is left behind.
        let names = fs::read_dir(dir.path().join("nested"))
            .map(|d| d.filter_map(|e| e.ok()).count())
            .unwrap_or_default();
        assert_eq!(names, 1);
        store.forget("http://a")?;
        assert!(store.load("http://a")?.is_none());
        assert!(store.load("http://b")?.is_some());
        store.forget("http://b")?;
        assert!(!store.path().exists());
        Ok(())
    }

    #[cfg(unix)]
    #[test]
    fn a_file_others_can_read_is_refused() -> Result<(), Failure> {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().map_err(|e| Failure::other(e.to_string()))?;
        let store = Store::locate(Some(dir.path()))?;
        store.save("http://a", &credentials("one"))?;
        fs::set_permissions(store.path(), fs::Permissions::from_mode(0o644))
            .map_err(|e| Failure::other(e.to_string()))?;
        let refused = store.load("http://a").err().map(|f| f.exit());
        assert_eq!(refused, Some(crate::failure::Exit::Auth));
        Ok(())
    }
}
