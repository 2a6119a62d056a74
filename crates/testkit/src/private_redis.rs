//! A `redis-server` of the test's own, on a free port, for tests that stop,
//! kill or restart Redis: the shared server of `LATCH_TEST_REDIS_URL` is
//! never touched.

use std::{
    net::TcpListener,
    process::{Child, Command, Stdio},
    time::Duration,
};

use latch_store::redis::Redis;

use crate::{REQUIRE_BACKENDS_VAR, backends_required};

/// The server process; killed (resumed first, if stopped) when dropped.
pub struct PrivateRedis {
    child: Option<Child>,
    port: u16,
    url: String,
}

impl PrivateRedis {
    /// Starts one, or `None` when no `redis-server` is installed (a panic
    /// instead when backends are required: CI has one).
    pub fn start() -> Option<Self> {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut server = Self {
            child: None,
            port,
            url: format!("redis://127.0.0.1:{port}"),
        };
        match server.spawn() {
            Ok(()) => Some(server),
            Err(err) if !backends_required() => {
                eprintln!("no redis-server ({err}): this test is skipped");
                None
            }
            Err(err) => {
                panic!("{REQUIRE_BACKENDS_VAR} is set but redis-server cannot start: {err}")
            }
        }
    }

    fn spawn(&mut self) -> std::io::Result<()> {
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        self.child = Some(child);
        Ok(())
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Sends `signal` (`-STOP`, `-CONT`, …) to the server.
    pub fn signal(&self, signal: &str) {
        let Some(child) = &self.child else {
            return;
        };
        let sent = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status();
        assert!(sent.is_ok_and(|s| s.success()), "kill {signal}");
    }

    /// Kills the server (SIGKILL) and waits for it to be gone: what a
    /// crashed Redis looks like to its clients.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port, empty.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn().expect("redis-server starts again");
    }

    /// A [`Redis`] on this server once it answers (it may be starting).
    pub async fn connect(&self, prefix: &str, timeout: Duration) -> Redis {
        for _ in 0..100 {
            if let Ok(redis) = Redis::connect_with_timeout(&self.url, prefix, timeout).await {
                return redis;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the private redis-server at {} does not answer", self.url)
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.signal("-CONT");
        self.kill();
    }
}
