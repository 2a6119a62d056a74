//! The embedded default's transports: with no mail server or SMS webhook
//! configured, each message is written as a file under
//! `$LATCH_DATA_DIR/outbox/` (directory 0700, files 0600, whatever the
//! umask), and a log line names the file, never what is in it.

use std::{
    io::Write,
    path::{Path, PathBuf},
};

use async_trait::async_trait;
use latch_domain::{
    Error, Result,
    ports::{Mail, Mailer, Sms, SmsSender},
};
use uuid::Uuid;

/// Writes each mail to `<dir>/<uuid v7>.mail.txt`.
pub struct FileMailer {
    dir: PathBuf,
}

impl FileMailer {
    /// Files go to `dir`, created (owner-only) with the first message.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }
}

#[async_trait]
impl Mailer for FileMailer {
    async fn send(&self, mail: &Mail) -> Result<()> {
        let mut content = format!(
            "To: {}\nSubject: {}\n\n{}",
            mail.to, mail.subject, mail.text
        );
        if let Some(html) = &mail.html {
            content.push_str("\n\n--- HTML ---\n");
            content.push_str(html);
        }
        let path = write(self.dir.clone(), "mail", content).await?;
        tracing::info!(path = %path.display(), "no mail server configured: wrote the mail to a file");
        Ok(())
    }
}

/// Writes each SMS to `<dir>/<uuid v7>.sms.txt`.
pub struct FileSmsSender {
    dir: PathBuf,
}

impl FileSmsSender {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }
}

#[async_trait]
impl SmsSender for FileSmsSender {
    async fn send(&self, sms: &Sms) -> Result<()> {
        let content = format!("To: {}\n\n{}\n", sms.to, sms.body);
        let path = write(self.dir.clone(), "sms", content).await?;
        tracing::info!(path = %path.display(), "no SMS webhook configured: wrote the SMS to a file");
        Ok(())
    }
}

/// Writes `content` to a new owner-only file in `dir`, off the runtime.
/// A failure is `UNAVAILABLE`: the outbox retries (a full disk passes).
async fn write(dir: PathBuf, what: &'static str, content: String) -> Result<PathBuf> {
    tokio::task::spawn_blocking(move || {
        let path = dir.join(format!("{}.{what}.txt", Uuid::now_v7()));
        write_blocking(&dir, &path, content.as_bytes())
            .map(|()| path)
            .map_err(|e| {
                Error::unavailable(std::io::Error::new(
                    e.kind(),
                    format!("cannot write under {}: {e}", dir.display()),
                ))
            })
    })
    .await
    .map_err(Error::internal)?
}

fn write_blocking(dir: &Path, path: &Path, content: &[u8]) -> std::io::Result<()> {
    create_owner_only_dir(dir)?;
    let mut file = owner_only_new_file(path)?;
    file.write_all(content)?;
    file.sync_all()
}

/// Creates `dir` and its missing parents with mode 0700 set at creation,
/// the rule of `latch_store::create_owner_only_dir` (this crate depends on
/// the domain only). An existing directory is left as it is.
#[cfg(unix)]
fn create_owner_only_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_owner_only_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

/// A new file, mode 0600 from its creation (never a moment under the umask).
#[cfg(unix)]
fn owner_only_new_file(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn owner_only_new_file(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}
