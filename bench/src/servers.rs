//! The servers under test, each a child process of the bench on a loopback
//! port: the release (or debug) `latchd` beside the bench's own executable,
//! and the echo server (this same executable, `echo-server`).

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use tokio::{
    io::{AsyncBufReadExt as _, BufReader},
    process::{Child, Command},
    time::Instant,
};
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::{
    echo,
    error::{Context as _, Result, fail},
};

/// How long latchd may take to migrate and serve (a debug build on
/// PostgreSQL takes a few seconds).
const START_TIMEOUT: Duration = Duration::from_secs(90);

/// A running server; killed when dropped.
pub(crate) struct ServerProcess {
    pub(crate) name: &'static str,
    pub(crate) pid: u32,
    pub(crate) addr: SocketAddr,
    child: Child,
    log: Option<PathBuf>,
}

impl ServerProcess {
    /// `count` channels (HTTP/2 connections) to the server.
    pub(crate) fn channels(&self, count: usize) -> Result<Vec<Channel>> {
        (0..count.max(1))
            .map(|_| {
                Endpoint::from_shared(format!("http://{}", self.addr))
                    .context("endpoint")
                    .map(|e| e.tcp_nodelay(true).connect_lazy())
            })
            .collect()
    }

    /// Stops the server and waits for it.
    pub(crate) async fn stop(mut self) {
        let _ = self.child.kill().await;
    }

    /// Fails with the end of the server's log when it has exited.
    fn check_alive(&mut self) -> Result<()> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(fail(format!(
                "{} exited ({status}){}",
                self.name,
                log_tail(self.log.as_deref())
            ))),
            Err(err) => Err(fail(format!("{}: {err}", self.name))),
        }
    }
}

/// Where `latchd` is: beside the running bench (`target/<profile>/`).
pub(crate) fn latchd_path() -> Result<PathBuf> {
    let path = std::env::current_exe()
        .context("where is latch-bench")?
        .with_file_name("latchd");
    if !path.exists() {
        return Err(fail(format!(
            "{} not found: build it with the bench, e.g. \
             `cargo build --release -p latchd -p latch-bench` (or without --release)",
            path.display()
        )));
    }
    Ok(path)
}

/// Starts latchd with `env` (the `LATCH_*` settings) on a free port, its log
/// in `log`, and waits until its health service answers SERVING.
pub(crate) async fn start_latchd(env: &[(String, String)], log: &Path) -> Result<ServerProcess> {
    let addr = free_port()?;
    let log_file = std::fs::File::create(log).context(&format!("create {}", log.display()))?;
    let child = Command::new(latchd_path()?)
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("LATCH_GRPC_ADDR", addr.to_string())
        // The bench measures gRPC; a fixed HTTP port would collide with
        // any other latchd on the machine.
        .env("LATCH_HTTP_ADDR", "off")
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().context("log file")?)
        .stderr(log_file)
        .kill_on_drop(true)
        .spawn()
        .context("start latchd")?;
    let mut server = ServerProcess {
        name: "latchd",
        pid: child.id().context("latchd has no pid")?,
        addr,
        child,
        log: Some(log.to_owned()),
    };
    let channel = server.channels(1)?.pop().context("no channel to latchd")?;
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        server.check_alive()?;
        let answer = HealthClient::new(channel.clone())
            .check(HealthCheckRequest::default())
            .await;
        if let Ok(answer) = answer
            && answer.into_inner().status == ServingStatus::Serving as i32
        {
            return Ok(server);
        }
        if Instant::now() > deadline {
            return Err(fail(format!(
                "latchd did not serve within {START_TIMEOUT:?}{}",
                log_tail(Some(log))
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Starts `latch-bench echo-server` and reads the address it announces.
pub(crate) async fn start_echo() -> Result<ServerProcess> {
    let mut child = Command::new(std::env::current_exe().context("where is latch-bench")?)
        .arg("echo-server")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .context("start the echo server")?;
    let stdout = child.stdout.take().context("echo server stdout")?;
    let mut line = String::new();
    tokio::time::timeout(
        Duration::from_secs(10),
        BufReader::new(stdout).read_line(&mut line),
    )
    .await
    .context("echo server did not announce its address")?
    .context("read echo server address")?;
    let addr: SocketAddr = line
        .trim()
        .strip_prefix(echo::LISTENING)
        .context(&format!("echo server said {line:?}"))?
        .parse()
        .context("echo server address")?;
    Ok(ServerProcess {
        name: "echo",
        pid: child.id().context("echo server has no pid")?,
        addr,
        child,
        log: None,
    })
}

/// A loopback port nobody listens on now.
fn free_port() -> Result<SocketAddr> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("find a free port")?;
    listener.local_addr().context("find a free port")
}

/// The last lines of a server log, for an error message.
fn log_tail(log: Option<&Path>) -> String {
    let Some(text) = log.and_then(|path| std::fs::read_to_string(path).ok()) else {
        return String::new();
    };
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(15)..].join("\n");
    format!("; last lines of its log:\n{tail}")
}
