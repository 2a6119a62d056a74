//! The real `latchd` binary: with no configuration at all it creates its
//! data directory, migrates SQLite and serves; `latchd migrate` migrates a
//! database and exits.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

const LATCHD: &str = env!("CARGO_BIN_EXE_latchd");

/// Kills the server however the test ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A command with no `LATCH_*` from the test environment leaking in.
fn latchd(dir: &Path) -> Command {
    let mut command = Command::new(LATCHD);
    command
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (key, _) in std::env::vars() {
        if key.starts_with("LATCH_") {
            command.env_remove(key);
        }
    }
    command
}

#[tokio::test]
async fn serves_with_no_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    // The HTTP port is on by default (127.0.0.1:8080); a free one here so
    // the test never meets something else on 8080.
    let http_port = free_port();
    let _server = Running(
        latchd(dir.path())
            .env("LATCH_GRPC_ADDR", format!("127.0.0.1:{port}"))
            .env("LATCH_HTTP_ADDR", format!("127.0.0.1:{http_port}"))
            .spawn()
            .expect("start latchd"),
    );

    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        let attempt = async {
            let channel =
                tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
                    .ok()?
                    .connect()
                    .await
                    .ok()?;
            let mut health = HealthClient::new(channel);
            let request = HealthCheckRequest {
                service: "latch.identity.v1.IdentityService".into(),
            };
            health
                .check(request)
                .await
                .ok()
                .map(|r| r.into_inner().status())
        };
        if let Some(status) = attempt.await {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "latchd did not come up within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(status, ServingStatus::Serving);
    let jwks = http_get(http_port, "/.well-known/jwks.json").await;
    assert!(jwks.starts_with("HTTP/1.1 200"), "{jwks}");
    assert!(jwks.contains(r#""kty":"OKP""#), "{jwks}");

    let data = dir.path().join("data");
    assert!(data.join("latch.db").exists(), "SQLite file under ./data");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(
            mode(&data.join("secrets.json")),
            0o600,
            "generated secrets are owner-only"
        );
        assert_eq!(mode(&data), 0o700, "the data directory is owner-only");
    }
}

/// A plain HTTP/1.1 GET, the whole response as text.
async fn http_get(port: u16, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n");
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    tcp.read_to_string(&mut response).await.unwrap();
    response
}

#[test]
fn migrate_applies_and_exits() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("m.db").display());
    let status = latchd(dir.path())
        .arg("migrate")
        .env("LATCH_DATABASE_URL", &url)
        .status()
        .expect("run latchd migrate");
    assert!(status.success());
    // Idempotent: a second run finds nothing to do and still succeeds.
    let again = latchd(dir.path())
        .arg("migrate")
        .env("LATCH_DATABASE_URL", &url)
        .status()
        .unwrap();
    assert!(again.success());

    let refused = latchd(dir.path()).arg("frobnicate").status().unwrap();
    assert_eq!(refused.code(), Some(2), "unknown commands are usage errors");
}

#[test]
fn postgres_without_secrets_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let output = latchd(dir.path())
        .env(
            "LATCH_DATABASE_URL",
            "postgres://postgres@127.0.0.1:5432/postgres",
        )
        .env("LATCH_GRPC_ADDR", format!("127.0.0.1:{}", free_port()))
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("LATCH_SERVICE_TOKEN"),
        "the message names what is missing: {stderr}"
    );
    assert!(
        !dir.path().join("data").exists(),
        "nothing generated for a PostgreSQL deployment"
    );
}
