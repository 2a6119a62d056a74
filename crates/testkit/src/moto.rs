//! A real S3-compatible server for the avatar tests: `moto_server` (PyPI
//! `moto[server]`) on a free port of 127.0.0.1, killed when dropped.
//!
//! Found at `LATCH_TEST_MOTO` (the path of `moto_server`), else in the
//! venv `make test-deps-s3` makes (`$HOME/.cache/latch-venv/bin`), else on
//! `PATH`. When none runs, the test is skipped with a note, or fails when
//! `LATCH_TEST_REQUIRE_BACKENDS` is set (CI installs it).

use std::{
    net::TcpListener,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::{REQUIRE_BACKENDS_VAR, backends_required};

/// The variable naming the `moto_server` executable.
pub const MOTO_VAR: &str = "LATCH_TEST_MOTO";
/// The credentials moto accepts (it checks none); any non-empty pair.
pub const ACCESS_KEY_ID: &str = "latch-test";
pub const SECRET_ACCESS_KEY: &str = "latch-test-secret";
pub const REGION: &str = "us-east-1";

/// A running `moto_server`.
pub struct Moto {
    child: Child,
    endpoint: String,
    port: u16,
}

impl Moto {
    /// Starts one, or `None` (after a note on stderr) when `moto_server` is
    /// not installed; panics instead when backends are required.
    pub async fn start() -> Option<Self> {
        let program = Self::program();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let spawned = Command::new(&program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(err) if !backends_required() => {
                eprintln!(
                    "NOTE: no moto_server ({}: {err}); the S3 avatar test is skipped. \
                     `make test-deps-s3` installs it, or set {MOTO_VAR}.",
                    program.display()
                );
                return None;
            }
            Err(err) => panic!(
                "{REQUIRE_BACKENDS_VAR} is set but moto_server ({}) cannot start: {err}; \
                 run `make test-deps-s3` or set {MOTO_VAR}",
                program.display()
            ),
        };
        let moto = Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            port,
        };
        moto.wait_ready().await;
        Some(moto)
    }

    fn program() -> PathBuf {
        if let Some(path) = std::env::var_os(MOTO_VAR).filter(|p| !p.is_empty()) {
            return PathBuf::from(path);
        }
        if let Some(home) = std::env::var_os("HOME") {
            let venv = PathBuf::from(home).join(".cache/latch-venv/bin/moto_server");
            if venv.exists() {
                return venv;
            }
        }
        PathBuf::from("moto_server")
    }

    /// Waits until moto answers HTTP (it takes a second or two to start).
    async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if self.request("GET", "/").await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "moto_server did not answer on {} within 30 s",
            self.endpoint
        );
    }

    /// `http://127.0.0.1:{port}`, for `AWS_ENDPOINT` (with `AWS_ALLOW_HTTP`).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Creates `bucket` (moto checks no signature, so a bare PUT does).
    pub async fn create_bucket(&self, bucket: &str) {
        let head = self.request("PUT", &format!("/{bucket}")).await.unwrap();
        assert!(
            head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200"),
            "creating bucket {bucket}: {head}"
        );
    }

    /// One HTTP/1.1 request with an empty body; the response's head.
    async fn request(&self, method: &str, path: &str) -> std::io::Result<String> {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await?;
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        );
        stream.write_all(request.as_bytes()).await?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await?;
        let text = String::from_utf8_lossy(&response);
        Ok(text.lines().next().unwrap_or_default().to_owned())
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
