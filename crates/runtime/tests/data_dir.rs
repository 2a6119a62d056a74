//! The embedded default's data directory, SQLite file and secrets are
//! owner-only whichever of the database and the secrets creates the
//! directory first, even under the usual permissive umask (022).
//!
//! The umask belongs to the whole process, so each case runs in a child
//! process of this test binary started by `sh -c 'umask 022; exec …'`.
#![cfg(unix)]
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::{os::unix::fs::PermissionsExt, path::Path, process::Command, sync::Arc};

use latch_domain::SystemClock;
use latch_runtime::{
    config::MapSource,
    infra::{Infra, RedisRequirement},
    secrets::Secrets,
    settings::CommonConfig,
};

/// Set in the child so that its test knows it was started on purpose.
const CHILD: &str = "LATCH_DATA_DIR_TEST_CHILD";

/// Runs the ignored test `name` in a child of this binary with umask 022.
fn under_umask_022(name: &str) {
    let exe = std::env::current_exe().unwrap();
    let output = Command::new("/bin/sh")
        .arg("-c")
        .arg(r#"umask 022 && exec "$0" "$@""#)
        .arg(exe)
        .args([name, "--exact", "--ignored", "--nocapture"])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "{name}: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn owner_only_when_the_database_comes_first() {
    under_umask_022("database_first");
}

#[test]
fn owner_only_when_the_secrets_come_first() {
    under_umask_022("secrets_first");
}

#[tokio::test]
#[ignore = "run under umask 022 by owner_only_when_the_database_comes_first"]
async fn database_first() {
    let Some(data) = Data::new() else { return };
    let infra = data.start_infra().await;
    data.load_secrets().await;
    data.assert_owner_only();
    drop(infra);
}

#[tokio::test]
#[ignore = "run under umask 022 by owner_only_when_the_secrets_come_first"]
async fn secrets_first() {
    let Some(data) = Data::new() else { return };
    data.load_secrets().await;
    let infra = data.start_infra().await;
    data.assert_owner_only();
    drop(infra);
}

/// A fresh `data` directory (not yet created) inside a temporary one, as
/// `LATCH_DATA_DIR` names it with nothing else configured.
struct Data {
    _tmp: tempfile::TempDir,
    source: MapSource,
    common: CommonConfig,
}

impl Data {
    /// `None` outside the child process (the test then has nothing to do).
    fn new() -> Option<Data> {
        std::env::var_os(CHILD)?;
        if let Some(umask) = umask() {
            assert_eq!(umask, 0o022, "the child runs under umask 022");
        }
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let source = MapSource::new().with("LATCH_DATA_DIR", dir.display().to_string());
        let common = CommonConfig::from_source(&source).unwrap();
        Some(Data {
            _tmp: tmp,
            source,
            common,
        })
    }

    async fn start_infra(&self) -> Infra {
        Infra::connect(
            &self.common,
            Arc::new(SystemClock),
            RedisRequirement::Optional,
            true,
        )
        .await
        .unwrap()
    }

    async fn load_secrets(&self) {
        Secrets::load(&self.source, &self.common).await.unwrap();
    }

    /// While the database is open, so that SQLite's `-wal` and `-shm`
    /// exist too.
    fn assert_owner_only(&self) {
        let dir = &self.common.data_dir;
        assert_eq!(mode(dir), 0o700, "{}", dir.display());
        for file in ["latch.db", "latch.db-wal", "latch.db-shm", "secrets.json"] {
            assert_eq!(mode(&dir.join(file)), 0o600, "{file}");
        }
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// This process's umask as Linux reports it; `None` elsewhere.
fn umask() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Umask:"))?;
    u32::from_str_radix(line.trim_start_matches("Umask:").trim(), 8).ok()
}
