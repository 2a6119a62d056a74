//! A stand-in for GitHub's OAuth apps, for the tests: a small HTTP server
//! on 127.0.0.1 that answers as `https://github.com` and
//! `https://api.github.com` do for what Latch's `github` kind uses, so it
//! can be run end to end without GitHub. It is not GitHub: it follows
//! GitHub's documentation ("Authorizing OAuth apps", the REST API's
//! "Users" and "Emails" pages) for those endpoints and nothing else.
//!
//! - `/login/oauth/authorize`: the user is the one the test's browser is
//!   signed in as (the `standin_user` cookie, GitHub's session stand-in);
//!   GitHub asks that user to authorize the app, the stand-in assumes they
//!   do. Refuses (400 page) an unknown `client_id`, a `redirect_uri` that
//!   is not the app's, and a `code_challenge_method` other than `S256`;
//!   else redirects (302) to the redirect URI with `code` and `state`.
//! - `/login/oauth/access_token` (POST, form): the client's id and secret
//!   (body or HTTP Basic), then the code: known, unused (spent on first
//!   presentation, whatever follows), for this client and redirect URI,
//!   and the PKCE verifier's S256 against the challenge. Answers as GitHub
//!   does, `200 OK` either way, JSON when `Accept` asks for it (else
//!   form-encoded): `{"access_token", "token_type": "bearer", "scope"}` or
//!   `{"error", "error_description", "error_uri"}` with GitHub's codes
//!   (`incorrect_client_credentials`, `bad_verification_code`,
//!   `redirect_uri_mismatch`). GitHub does not document its answer to a
//!   wrong PKCE verifier; the stand-in gives `bad_verification_code`.
//! - `/user`, `/user/emails` (the API at the same origin): a bearer token
//!   it issued, else `401 {"message": "Bad credentials"}`; a request
//!   without `User-Agent` is `403`, as GitHub's; `/user/emails` without the
//!   `user:email` (or `user`) scope is `404`.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
};

use axum::{
    Form, Json, Router,
    extract::{Query, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use reqwest::{Url, redirect::Policy};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};

use crate::{must, oidc::Callback};

/// The cookie the stand-in's authorization page reads the signed-in user
/// from (GitHub's own session cookie is `user_session`).
pub const USER_COOKIE: &str = "standin_user";
const ERROR_URI: &str = "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors";

/// A GitHub account as the API shows it.
#[derive(Debug, Clone)]
pub struct GitHubUser {
    /// The numeric, stable id (Latch's subject).
    pub id: u64,
    /// The handle, which users may rename.
    pub login: String,
    pub name: Option<String>,
    pub emails: Vec<GitHubEmail>,
}

/// An address of `/user/emails`.
#[derive(Debug, Clone)]
pub struct GitHubEmail {
    pub email: String,
    pub primary: bool,
    pub verified: bool,
}

impl GitHubEmail {
    pub fn new(email: &str, primary: bool, verified: bool) -> Self {
        Self {
            email: email.to_owned(),
            primary,
            verified,
        }
    }
}

/// The stand-in's registered OAuth app and what it has handed out.
struct World {
    client_id: String,
    client_secret: String,
    redirect_uris: Vec<String>,
    users: HashMap<String, GitHubUser>,
    codes: HashMap<String, Grant>,
    tokens: HashMap<String, Token>,
}

/// An authorization code, until its first presentation.
struct Grant {
    login: String,
    redirect_uri: String,
    challenge: Option<String>,
    scopes: Vec<String>,
}

struct Token {
    login: String,
    scopes: Vec<String>,
}

type Shared = Arc<Mutex<World>>;

fn lock(world: &Shared) -> std::sync::MutexGuard<'_, World> {
    world.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running stand-in, stopped on drop.
pub struct GitHubStandIn {
    base: String,
    port: u16,
    world: Shared,
    server: Option<(oneshot::Sender<()>, JoinHandle<()>)>,
}

impl GitHubStandIn {
    /// Starts the stand-in with one OAuth app, on a port the system picks.
    pub async fn start(client_id: &str, client_secret: &str, redirect_uris: &[&str]) -> Self {
        let world = Arc::new(Mutex::new(World {
            client_id: client_id.to_owned(),
            client_secret: client_secret.to_owned(),
            redirect_uris: redirect_uris.iter().map(|u| (*u).to_owned()).collect(),
            users: HashMap::new(),
            codes: HashMap::new(),
            tokens: HashMap::new(),
        }));
        let mut standin = Self {
            base: String::new(),
            port: 0,
            world,
            server: None,
        };
        standin.serve().await;
        standin
    }

    /// Adds (or replaces) an account, by login.
    pub fn add_user(&self, user: GitHubUser) {
        lock(&self.world).users.insert(user.login.clone(), user);
    }

    /// `http://127.0.0.1:PORT`: github.com and api.github.com in one.
    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn authorization_url(&self) -> String {
        format!("{}/login/oauth/authorize", self.base)
    }

    pub fn token_url(&self) -> String {
        format!("{}/login/oauth/access_token", self.base)
    }

    pub fn api_url(&self) -> String {
        self.base.clone()
    }

    /// Stops answering (an outage): the port is closed, kept connections
    /// too. Codes and tokens handed out stay valid for a restart.
    pub async fn stop(&mut self) {
        if let Some((stop, server)) = self.server.take() {
            let _ = stop.send(());
            let _ = server.await;
        }
    }

    /// Answers again, on the same port.
    pub async fn restart(&mut self) {
        self.stop().await;
        self.serve().await;
    }

    async fn serve(&mut self) {
        let listener = must(
            TcpListener::bind(("127.0.0.1", self.port)).await,
            "bind the GitHub stand-in",
        );
        let addr = must(listener.local_addr(), "stand-in address");
        self.port = addr.port();
        self.base = format!("http://{addr}");
        let app = Router::new()
            .route("/login/oauth/authorize", get(authorize))
            .route("/login/oauth/access_token", post(access_token))
            .route("/user", get(user))
            .route("/user/emails", get(emails))
            .with_state(self.world.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        self.server = Some((stop, server));
    }

    /// Plays the browser of `login`, signed in at GitHub, from Latch's
    /// `authorization_url`: where the stand-in redirected it back.
    /// Panics when it answered anything but a redirect with a code.
    pub async fn sign_in(&self, authorization_url: &str, login: &str) -> Callback {
        let browser = must(
            reqwest::Client::builder().redirect(Policy::none()).build(),
            "browser",
        );
        let response = must(
            browser
                .get(authorization_url)
                .header(reqwest::header::COOKIE, format!("{USER_COOKIE}={login}"))
                .send()
                .await,
            "authorize",
        );
        let status = response.status();
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let Some(url) = location.filter(|_| status == reqwest::StatusCode::FOUND) else {
            let body = response.text().await.unwrap_or_default();
            panic!("the stand-in answered {status}: {body}");
        };
        let parsed = must(Url::parse(&url), "callback URL");
        let param = |name: &str| {
            parsed
                .query_pairs()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.into_owned())
        };
        match (param("code"), param("state")) {
            (Some(code), Some(state)) => Callback { url, code, state },
            _ => panic!("no code and state in the callback {url}"),
        }
    }
}

impl Drop for GitHubStandIn {
    fn drop(&mut self) {
        if let Some((stop, server)) = self.server.take() {
            let _ = stop.send(());
            server.abort();
        }
    }
}

fn page(status: StatusCode, text: &str) -> Response {
    (status, text.to_owned()).into_response()
}

fn random(prefix: &str) -> String {
    let mut bytes = [0u8; 20];
    must(getrandom::fill(&mut bytes), "random");
    format!("{prefix}{}", hex::encode(bytes))
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (key, value) = pair.trim().split_once('=')?;
            (key == name).then(|| value.to_owned())
        })
}

async fn authorize(
    State(world): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let mut world = lock(&world);
    let param = |name: &str| query.get(name).cloned().unwrap_or_default();
    if param("client_id") != world.client_id {
        return page(StatusCode::NOT_FOUND, "no such OAuth app");
    }
    let redirect_uri = param("redirect_uri");
    if !world.redirect_uris.contains(&redirect_uri) {
        return page(
            StatusCode::BAD_REQUEST,
            "The redirect_uri is not associated with this application.",
        );
    }
    let challenge = query.get("code_challenge").cloned();
    if challenge.is_some() && param("code_challenge_method") != "S256" {
        return page(
            StatusCode::BAD_REQUEST,
            "code_challenge_method must be S256",
        );
    }
    let Some(login) = cookie(&headers, USER_COOKIE).filter(|l| world.users.contains_key(l)) else {
        return page(StatusCode::UNAUTHORIZED, "sign in to GitHub first");
    };
    let code = random("");
    let scopes = param("scope")
        .split([' ', ','])
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    world.codes.insert(
        code.clone(),
        Grant {
            login,
            redirect_uri: redirect_uri.clone(),
            challenge,
            scopes,
        },
    );
    let mut back = must(Url::parse(&redirect_uri), "redirect URI");
    back.query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &param("state"));
    (StatusCode::FOUND, [(header::LOCATION, back.to_string())]).into_response()
}

/// The client id and secret of a token request: HTTP Basic, else the body.
fn client_of(headers: &HeaderMap, form: &HashMap<String, String>) -> (String, String) {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|v| STANDARD.decode(v).ok())
        .and_then(|v| String::from_utf8(v).ok())
        .and_then(|v| {
            let (id, secret) = v.split_once(':')?;
            Some((id.to_owned(), secret.to_owned()))
        });
    basic.unwrap_or_else(|| {
        let field = |name: &str| form.get(name).cloned().unwrap_or_default();
        (field("client_id"), field("client_secret"))
    })
}

async fn access_token(
    State(world): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    let answer = token_answer(&mut lock(&world), &headers, &form);
    if json {
        return Json(answer).into_response();
    }
    // GitHub's default: the same fields, form-encoded.
    let mut form = must(Url::parse("http://form.invalid/"), "form URL");
    if let Some(fields) = answer.as_object() {
        let mut pairs = form.query_pairs_mut();
        for (key, value) in fields {
            pairs.append_pair(key, value.as_str().unwrap_or_default());
        }
    }
    let body = form.query().unwrap_or_default().to_owned();
    (
        [(header::CONTENT_TYPE, "application/x-www-form-urlencoded")],
        body,
    )
        .into_response()
}

fn token_answer(world: &mut World, headers: &HeaderMap, form: &HashMap<String, String>) -> Value {
    let error = |code: &str, description: &str| json!({"error": code, "error_description": description, "error_uri": ERROR_URI});
    let (client_id, client_secret) = client_of(headers, form);
    if client_id != world.client_id || client_secret != world.client_secret {
        return error(
            "incorrect_client_credentials",
            "The client_id and/or client_secret passed are incorrect.",
        );
    }
    let field = |name: &str| form.get(name).cloned().unwrap_or_default();
    let bad_code = || {
        error(
            "bad_verification_code",
            "The code passed is incorrect or expired.",
        )
    };
    // Spent on first presentation, whatever follows.
    let Some(grant) = world.codes.remove(&field("code")) else {
        return bad_code();
    };
    if form.contains_key("redirect_uri") && field("redirect_uri") != grant.redirect_uri {
        return error(
            "redirect_uri_mismatch",
            "The redirect_uri MUST match the registered callback URL for this application.",
        );
    }
    if let Some(challenge) = &grant.challenge {
        let verifier = field("code_verifier");
        if URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) != *challenge {
            return bad_code();
        }
    }
    let token = random("gho_");
    let scope = grant.scopes.join(",");
    world.tokens.insert(
        token.clone(),
        Token {
            login: grant.login,
            scopes: grant.scopes,
        },
    );
    json!({"access_token": token, "token_type": "bearer", "scope": scope})
}

/// GitHub's refusal of an API request: its status and JSON body.
type Refusal = (StatusCode, Json<Value>);

/// The account a request's bearer token is for, with the token's scopes.
fn account(world: &World, headers: &HeaderMap) -> Result<(GitHubUser, Vec<String>), Refusal> {
    if !headers.contains_key(header::USER_AGENT) {
        return Err((
            StatusCode::FORBIDDEN,
            Json(json!({
                "message": "Request forbidden by administrative rules. Please make sure your \
                            request has a User-Agent header",
            })),
        ));
    }
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("token "))
        });
    token
        .and_then(|t| world.tokens.get(t))
        .and_then(|t| Some((world.users.get(&t.login)?.clone(), t.scopes.clone())))
        .ok_or_else(|| {
            (
                StatusCode::UNAUTHORIZED,
                Json(json!({"message": "Bad credentials", "status": "401"})),
            )
        })
}

async fn user(State(world): State<Shared>, headers: HeaderMap) -> Response {
    match account(&lock(&world), &headers) {
        Ok((user, _)) => Json(json!({
            "login": user.login,
            "id": user.id,
            "type": "User",
            "name": user.name,
            // The public profile address, which nobody verified: Latch must
            // not read it. Shown only when it is the primary one here.
            "email": user.emails.iter().find(|e| e.primary).map(|e| e.email.clone()),
        }))
        .into_response(),
        Err(refused) => refused.into_response(),
    }
}

async fn emails(State(world): State<Shared>, headers: HeaderMap) -> Response {
    match account(&lock(&world), &headers) {
        Ok((user, scopes)) if scopes.iter().any(|s| s == "user:email" || s == "user") => {
            let emails: Vec<Value> = user
                .emails
                .iter()
                .map(|e| {
                    json!({
                        "email": e.email,
                        "primary": e.primary,
                        "verified": e.verified,
                        "visibility": e.primary.then_some("public"),
                    })
                })
                .collect();
            Json(emails).into_response()
        }
        Ok(_) => (
            StatusCode::NOT_FOUND,
            Json(json!({"message": "Not Found", "status": "404"})),
        )
            .into_response(),
        Err(refused) => refused.into_response(),
    }
}
