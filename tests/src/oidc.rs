//! A real OpenID Connect provider for the tests: `oidc-provider` (npm)
//! run by `tests/oidc/provider.js` on 127.0.0.1, with one confidential
//! client and a few fixed users (see that file). [`OidcProvider::sign_in`]
//! plays the user's browser through the provider's login and consent forms
//! and returns the redirect back to the client. Needs Node.js 20+ and the
//! modules `npm ci --prefix tests/oidc` installs (`make test` and `.ci/run`
//! do it).

use std::{
    io::{BufRead, BufReader, Read},
    path::PathBuf,
    process::{Child, ChildStdout, Command, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

use reqwest::{Url, redirect::Policy};

use crate::must;

/// How long the provider may take to start (a loaded CI box runs many
/// test binaries at once).
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Redirects and form posts one sign-in may take before it is a loop.
const MAX_STEPS: usize = 20;

/// The fixed users of `provider.js`, by login, which is also their `sub`.
/// Any other login is a user too: its email is the login when that has an
/// `@`, else `LOGIN@example.com`, unverified when the login starts with
/// `unverified`.
pub const VERIFIED_USER: &str = "verified";
/// [`VERIFIED_USER`]'s email, verified (Vera Verified).
pub const VERIFIED_EMAIL: &str = "verified@example.com";
pub const UNVERIFIED_USER: &str = "unverified";
/// [`UNVERIFIED_USER`]'s email, `email_verified: false` (Uma Unverified).
pub const UNVERIFIED_EMAIL: &str = "unverified@example.com";
pub const SECOND_USER: &str = "second";
/// [`SECOND_USER`]'s email, verified (Sam Second).
pub const SECOND_EMAIL: &str = "second@example.com";

/// How the client authenticates at the token endpoint (one per client, as
/// the provider enforces the registered method).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// HTTP Basic with the client id and secret (the default).
    Basic,
    /// `client_id` and `client_secret` in the form body.
    Post,
}

impl ClientAuth {
    fn as_str(self) -> &'static str {
        match self {
            Self::Basic => "client_secret_basic",
            Self::Post => "client_secret_post",
        }
    }
}

/// Another application registered at the provider (same redirect URIs):
/// what it receives is for another audience than the client under test.
pub const SECOND_CLIENT_ID: &str = "another-app";
pub const SECOND_CLIENT_SECRET: &str = "another-app-client-secret";

/// Where the provider sent the browser back: the client's redirect URI
/// with `code` and `state`.
#[derive(Debug, Clone)]
pub struct Callback {
    /// The whole callback URL, as the browser would load it.
    pub url: String,
    pub code: String,
    pub state: String,
}

impl Callback {
    /// The redirect URI the provider sent the browser to, without the query.
    pub fn redirect_uri(&self) -> String {
        let mut url = must(Url::parse(&self.url), "callback URL");
        url.set_query(None);
        url.to_string()
    }
}

/// A running `oidc-provider`, killed on drop.
pub struct OidcProvider {
    issuer: String,
    port: u16,
    env: Vec<(&'static str, String)>,
    child: Option<Child>,
    /// What the process printed besides the ready line, for failure messages.
    log: Arc<Mutex<String>>,
}

impl OidcProvider {
    /// Starts the provider with one confidential client authenticating with
    /// HTTP Basic, on a port the system picks.
    pub async fn start(client_id: &str, secret: &str, redirect_uris: &[&str]) -> Self {
        Self::start_with_auth(client_id, secret, redirect_uris, ClientAuth::Basic).await
    }

    /// As [`Self::start`], with the client's token endpoint authentication.
    pub async fn start_with_auth(
        client_id: &str,
        secret: &str,
        redirect_uris: &[&str],
        auth: ClientAuth,
    ) -> Self {
        let env = vec![
            ("OIDC_CLIENT_ID", client_id.to_owned()),
            ("OIDC_CLIENT_SECRET", secret.to_owned()),
            ("OIDC_REDIRECT_URIS", redirect_uris.join(" ")),
            ("OIDC_TOKEN_AUTH_METHOD", auth.as_str().to_owned()),
            // Another application at the same provider: its codes and ID
            // tokens are for another audience.
            ("OIDC_SECOND_CLIENT_ID", SECOND_CLIENT_ID.to_owned()),
            ("OIDC_SECOND_CLIENT_SECRET", SECOND_CLIENT_SECRET.to_owned()),
            // Held open by `child`: should the test process die without
            // dropping this, the provider still goes.
            ("OIDC_EXIT_WITH_STDIN", "1".to_owned()),
        ];
        let mut provider = Self {
            issuer: String::new(),
            port: 0,
            env,
            child: None,
            log: Arc::default(),
        };
        provider.spawn().await;
        provider
    }

    /// The issuer, `http://127.0.0.1:PORT` (no trailing slash).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Kills the provider: its issuer no longer answers (an outage).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts a stopped provider again on the same issuer. Its users are
    /// the same; sessions, codes and signing keys are new.
    pub async fn restart(&mut self) {
        self.stop();
        self.spawn().await;
    }

    async fn spawn(&mut self) {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("oidc");
        assert!(
            dir.join("node_modules/oidc-provider").is_dir(),
            "the test OIDC provider's modules are missing: run `npm ci --prefix tests/oidc` \
             (`make test` does it)"
        );
        let mut command = Command::new("node");
        command
            .arg(dir.join("provider.js"))
            .arg(self.port.to_string())
            .current_dir(&dir)
            .envs(self.env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().unwrap_or_else(|err| {
            panic!("cannot run `node` for the test OIDC provider (Node.js 20+ needed): {err}")
        });
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        if let Some(stdout) = child.stdout.take() {
            std::thread::spawn({
                let log = self.log.clone();
                move || read_stdout(stdout, ready_tx, &log)
            });
        }
        if let Some(stderr) = child.stderr.take() {
            let log = self.log.clone();
            std::thread::spawn(move || append_all(stderr, &log));
        }
        self.child = Some(child);
        let issuer = match tokio::time::timeout(START_TIMEOUT, ready_rx).await {
            Ok(Ok(issuer)) => issuer,
            Ok(Err(_)) => {
                // Let the stderr reader take in why it exited.
                tokio::time::sleep(Duration::from_millis(200)).await;
                panic!("the test OIDC provider exited:\n{}", self.log())
            }
            Err(_) => panic!(
                "the test OIDC provider was not ready in {START_TIMEOUT:?}:\n{}",
                self.log()
            ),
        };
        let url = must(Url::parse(&issuer), "issuer");
        self.port = url.port().unwrap_or_default();
        self.issuer = issuer;
    }

    /// What the provider printed (warnings, why a flow failed).
    pub fn log(&self) -> String {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Plays a fresh browser from `authorization_url` through the login
    /// form (as `login`, e.g. [`VERIFIED_USER`], any password) and the
    /// consent form, and returns
    /// where the provider redirected back to the client. Panics when the
    /// provider shows an error page or redirects back with an `error`.
    pub async fn sign_in(&self, authorization_url: &str, login: &str) -> Callback {
        let url = self.authorize(authorization_url, login).await;
        let parsed = must(Url::parse(&url), "callback URL");
        let param = |name: &str| {
            parsed
                .query_pairs()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.into_owned())
        };
        if let Some(error) = param("error") {
            let description = param("error_description").unwrap_or_default();
            panic!(
                "the provider refused the sign-in: {error}: {description}\n{}",
                self.log()
            );
        }
        match (param("code"), param("state")) {
            (Some(code), Some(state)) => Callback { url, code, state },
            _ => panic!("no code and state in the callback {url}"),
        }
    }

    /// As [`Self::sign_in`], returning the callback URL as it is, also
    /// when it carries an `error` (e.g. a request without PKCE).
    pub async fn authorize(&self, authorization_url: &str, login: &str) -> String {
        let browser = must(
            reqwest::Client::builder()
                .redirect(Policy::none())
                .cookie_store(true)
                .build(),
            "browser",
        );
        let issuer = must(Url::parse(&self.issuer), "issuer").origin();
        let mut url = must(Url::parse(authorization_url), "authorization URL");
        let mut request = browser.get(url.clone());
        for _ in 0..MAX_STEPS {
            let response = must(request.send().await, url.as_str());
            let status = response.status();
            if status.is_redirection() {
                let location = response
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_else(|| panic!("{status} without a Location at {url}"));
                let next = must(url.join(location), "redirect");
                if next.origin() != issuer {
                    return next.to_string();
                }
                url = next;
                request = browser.get(url.clone());
                continue;
            }
            let body = must(response.text().await, "page");
            if !status.is_success() {
                panic!(
                    "the provider answered {status} at {url}: {}\n{}",
                    text_of(&body),
                    self.log()
                );
            }
            let form = Form::parse(&body).unwrap_or_else(|| {
                panic!(
                    "no form on the provider's page at {url}: {}",
                    text_of(&body)
                )
            });
            let mut fields = form.hidden;
            if form.has_login {
                fields.push(("login".into(), login.into()));
                // Development interactions take any password.
                fields.push(("password".into(), "any password".into()));
            }
            url = must(url.join(&form.action), "form action");
            request = browser.post(url.clone()).form(&fields);
        }
        panic!("no redirect back to the client after {MAX_STEPS} steps (last at {url})");
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Sends the issuer of the `READY <issuer>` line, then keeps the rest.
fn read_stdout(
    stdout: ChildStdout,
    ready: tokio::sync::oneshot::Sender<String>,
    log: &Mutex<String>,
) {
    let mut ready = Some(ready);
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        match (line.strip_prefix("READY "), ready.take()) {
            (Some(issuer), Some(tx)) => {
                let _ = tx.send(issuer.trim().to_owned());
            }
            (_, pending) => {
                ready = pending;
                push_line(log, &line);
            }
        }
    }
}

fn append_all(stream: impl Read, log: &Mutex<String>) {
    for line in BufReader::new(stream).lines() {
        let Ok(line) = line else { break };
        push_line(log, &line);
    }
}

fn push_line(log: &Mutex<String>, line: &str) {
    if let Ok(mut log) = log.lock() {
        log.push_str(line);
        log.push('\n');
    }
}

/// The one form of a provider page: where it posts, its hidden fields, and
/// whether it asks for a login.
struct Form {
    action: String,
    hidden: Vec<(String, String)>,
    has_login: bool,
}

impl Form {
    fn parse(html: &str) -> Option<Self> {
        let form = tag_attributes(html, "<form")?;
        let action = attribute(form, "action")?;
        let mut hidden = Vec::new();
        let mut has_login = false;
        let mut rest = html;
        while let Some(input) = tag_attributes(rest, "<input") {
            let name = attribute(input, "name").unwrap_or_default();
            if attribute(input, "type").as_deref() == Some("hidden") {
                hidden.push((name, attribute(input, "value").unwrap_or_default()));
            } else if name == "login" {
                has_login = true;
            }
            let consumed = input.as_ptr() as usize - rest.as_ptr() as usize + input.len();
            rest = &rest[consumed..];
        }
        Some(Self {
            action,
            hidden,
            has_login,
        })
    }
}

/// The attributes text of the first `open` tag (`<form`, `<input`).
fn tag_attributes<'a>(html: &'a str, open: &str) -> Option<&'a str> {
    let start = html.find(open)? + open.len();
    let end = html[start..].find('>')? + start;
    Some(&html[start..end])
}

/// The value of `name="…"` in a tag's attributes, unescaped.
fn attribute(tag: &str, name: &str) -> Option<String> {
    let needle = format!(" {name}=\"");
    let start = tag.find(&needle)? + needle.len();
    let end = tag[start..].find('"')? + start;
    Some(unescape(&tag[start..end]))
}

fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#x2F;", "/")
        .replace("&amp;", "&")
}

/// A page's text without its tags, shortened, for a failure message.
fn text_of(html: &str) -> String {
    let mut text = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                text.push(' ');
            }
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    text.chars().take(600).collect()
}
