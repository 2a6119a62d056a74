//! Drives the real `latchctl` binary against a latchd the test started
//! (the e2e harness of `latch-tests`), with its own profile directory and
//! nothing of this process's environment.
#![allow(dead_code, clippy::expect_used, clippy::unwrap_used)]

use std::{
    io::Write,
    path::PathBuf,
    process::{Command, Stdio},
};

use latch_proto::latch::authorization::v1::AssignRoleRequest;
use latch_tests::{PASSWORD, TestLatchd, must};
use serde_json::Value;

/// What one run of latchctl did.
#[derive(Debug)]
pub(crate) struct Ran {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Ran {
    /// The run succeeded; says what it printed otherwise.
    pub(crate) fn ok(self) -> Self {
        assert_eq!(self.code, 0, "latchctl failed: {self:?}");
        self
    }

    /// The run exited `code`.
    pub(crate) fn exits(self, code: i32) -> Self {
        assert_eq!(self.code, code, "latchctl exit code: {self:?}");
        self
    }

    /// Its stdout, parsed as one JSON document.
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:?}"))
    }
}

/// latchctl pointed at one server, with its own sign-in directory.
pub(crate) struct Ctl {
    pub(crate) server: String,
    home: tempfile::TempDir,
    env: Vec<(String, String)>,
}

impl Ctl {
    pub(crate) fn new(latchd: &TestLatchd) -> Self {
        Self::for_server(&format!("http://{}", latchd.addr))
    }

    pub(crate) fn for_server(server: &str) -> Self {
        Self {
            server: server.to_owned(),
            home: must(tempfile::tempdir(), "profile dir"),
            env: Vec::new(),
        }
    }

    /// One more environment variable for every run.
    pub(crate) fn with_env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    pub(crate) fn home(&self) -> PathBuf {
        self.home.path().to_path_buf()
    }

    pub(crate) fn credentials_path(&self) -> PathBuf {
        self.home.path().join("credentials.json")
    }

    /// The sign-in file as JSON.
    pub(crate) fn credentials(&self) -> Value {
        let text = must(std::fs::read_to_string(self.credentials_path()), "read");
        must(serde_json::from_str(&text), "credentials JSON")
    }

    /// The sign-in kept for this server.
    pub(crate) fn signed_in(&self) -> Value {
        self.credentials()["servers"][&self.server].clone()
    }

    /// Runs `latchctl ARGS` with standard input closed.
    pub(crate) async fn run(&self, args: &[&str]) -> Ran {
        self.run_with_stdin(args, None).await
    }

    /// Runs `latchctl ARGS` feeding `stdin` (a pipe, not a terminal).
    pub(crate) async fn run_with_stdin(&self, args: &[&str], stdin: Option<&str>) -> Ran {
        let mut command = Command::new(env!("CARGO_BIN_EXE_latchctl"));
        command
            .args(args)
            .env_clear()
            .env("LATCHCTL_HOME", self.home.path())
            .env("LATCHCTL_SERVER", &self.server)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let stdin = stdin.map(str::to_owned);
        // The server runs on this test's runtime: wait off it.
        let output = tokio::task::spawn_blocking(move || {
            let mut child = command.spawn().expect("spawn latchctl");
            if let Some(text) = stdin {
                let mut pipe = child.stdin.take().expect("stdin pipe");
                pipe.write_all(text.as_bytes()).expect("write stdin");
            }
            child.wait_with_output().expect("latchctl output")
        })
        .await
        .expect("join");
        Ran {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// A file holding the test password, as `--password-file` reads it.
    pub(crate) fn password_file(&self) -> PathBuf {
        let path = self.home.path().join("password.txt");
        must(
            std::fs::write(&path, format!("{PASSWORD}\n")),
            "password file",
        );
        path
    }

    /// `latchctl login --email EMAIL --password-file …`, which must work.
    pub(crate) async fn login(&self, email: &str) -> Ran {
        let file = self.password_file();
        let file = file.display().to_string();
        self.run(&["login", "--email", email, "--password-file", &file])
            .await
            .ok()
    }
}

/// Signs `email` up and gives them `role`; returns the user id.
pub(crate) async fn user_with_role(latchd: &TestLatchd, email: &str, role: &str) -> String {
    let user_id = latchd
        .sign_up(email)
        .await
        .user
        .expect("user at sign-up")
        .id;
    must(
        latchd
            .authorization()
            .assign_role(latchd.internal(AssignRoleRequest {
                user_id: user_id.clone(),
                role: role.to_owned(),
            }))
            .await,
        "assign role",
    );
    user_id
}

/// A plain user (the default role only); returns the user id.
pub(crate) async fn plain_user(latchd: &TestLatchd, email: &str) -> String {
    latchd
        .sign_up(email)
        .await
        .user
        .expect("user at sign-up")
        .id
}

/// The mode bits of a file.
#[cfg(unix)]
pub(crate) fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    must(std::fs::metadata(path), "metadata")
        .permissions()
        .mode()
        & 0o777
}
