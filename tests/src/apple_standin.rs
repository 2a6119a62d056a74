//! A stand-in for Sign in with Apple, for the tests: a small HTTP server
//! on 127.0.0.1 that answers as `https://appleid.apple.com` does for a web
//! client (a Services ID), so Latch's `apple` kind can be run end to end
//! without Apple. It is not Apple: it follows Apple's documented behaviour
//! ("Sign in with Apple REST API", "Incorporating Sign in with Apple into
//! other platforms") for what Latch relies on, and nothing else.
//!
//! - `/.well-known/openid-configuration`: Apple's discovery document, with
//!   this server's URLs (`token_endpoint_auth_methods_supported` is
//!   `client_secret_post` only, as Apple's).
//! - `/auth/keys`: its JWKS. One difference from Apple: the stand-in signs
//!   ID tokens with ES256 (a P-256 key it makes at start), Apple with RS256.
//! - `/auth/authorize`: refuses anything but `response_type=code` with
//!   `response_mode=form_post` (Apple requires form_post when names or email
//!   are asked), the registered client and redirect URI, and a PKCE S256
//!   challenge. It answers the auto-submitting HTML form Apple answers,
//!   posting `code`, `state` and, on an account's first authorization of
//!   the client when `name` or `email` is asked, `user` (JSON with the name
//!   and email) to the redirect URI. [`AppleStandIn::sign_in`] plays the
//!   browser and returns what the form would post ([`FormPost`]).
//! - `/auth/token`: checks the client secret as Apple does (an ES256 JWT
//!   whose header `kid` is the client's key id, signed by that key, `iss`
//!   the team id, `sub` the client id, `aud` the issuer, not expired, not
//!   issued in the future: else `invalid_client`), then the code (single
//!   use, same client and redirect URI, PKCE verifier: else
//!   `invalid_grant`), and answers an ID token with `iss`, `aud`, `sub`,
//!   `nonce`, `email`, and `email_verified` and `is_private_email` as the
//!   strings "true" or "false", as Apple's tokens have carried them.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex, PoisonError},
    time::{SystemTime, UNIX_EPOCH},
};

use axum::{
    Form, Json, Router,
    extract::{Query, State},
    http::StatusCode,
    response::{Html, IntoResponse, Response},
    routing::{get, post},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, jwk::Jwk};
use p256::pkcs8::{EncodePrivateKey, LineEnding};
use reqwest::{Url, redirect::Policy};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::{net::TcpListener, task::JoinHandle};

use crate::must;

/// The stand-in's own signing key's id, in its JWKS and ID tokens.
const STANDIN_KID: &str = "standin-es256";
/// How long the stand-in's ID tokens are valid.
const ID_TOKEN_LIFETIME: i64 = 600;

/// A P-256 key as Apple lets a developer download it (the `.p8` file,
/// PKCS#8 PEM), and its public half as Apple keeps it.
#[derive(Clone)]
pub struct AppleKeyPair {
    pub p8_pem: String,
    pub public: DecodingKey,
}

impl AppleKeyPair {
    /// A new random key.
    pub fn generate() -> Self {
        let pem = loop {
            let mut bytes = [0u8; 32];
            must(getrandom::fill(&mut bytes), "random key");
            // All but a negligible share of 32-byte strings are valid scalars.
            if let Ok(key) = p256::SecretKey::from_slice(&bytes) {
                break must(key.to_pkcs8_pem(LineEnding::LF), "PKCS#8 PEM").to_string();
            }
        };
        let jwk = public_jwk(&pem);
        Self {
            public: must(DecodingKey::from_jwk(&jwk), "public key"),
            p8_pem: pem,
        }
    }
}

fn public_jwk(pem: &str) -> Jwk {
    let encoding = must(EncodingKey::from_ec_pem(pem.as_bytes()), "EC key");
    must(
        Jwk::from_encoding_key(&encoding, Algorithm::ES256),
        "public JWK",
    )
}

/// The web client registered at the stand-in: what Apple's developer
/// account holds for it.
#[derive(Clone)]
pub struct AppleClient {
    /// The Services ID.
    pub client_id: String,
    pub team_id: String,
    /// The id of the key the client secret must be signed with.
    pub key_id: String,
    /// That key's public half.
    pub public_key: DecodingKey,
    pub redirect_uris: Vec<String>,
}

/// An Apple account signing in.
#[derive(Debug, Clone)]
pub struct AppleAccount {
    /// Apple's stable, per-team user identifier.
    pub sub: String,
    pub email: String,
    pub email_verified: bool,
    /// A relay address (`…@privaterelay.appleid.com`).
    pub is_private_email: bool,
    pub first_name: String,
    pub last_name: String,
}

/// What Apple's form posts to the redirect URI.
#[derive(Debug, Clone)]
pub struct FormPost {
    /// The form's `action`: the redirect URI.
    pub action: String,
    pub code: String,
    pub state: String,
    /// `user`, as posted: JSON, the first authorization only.
    pub user: Option<String>,
}

struct Grant {
    account: AppleAccount,
    redirect_uri: String,
    challenge: String,
    nonce: Option<String>,
}

#[derive(Default)]
struct Inner {
    /// Who signs in at the next authorization (the stand-in's login page).
    next: Option<AppleAccount>,
    codes: HashMap<String, Grant>,
    /// Accounts that authorized the client before: no `user` for them.
    authorized: HashSet<String>,
    /// Every client secret the token endpoint accepted, in order.
    secrets: Vec<String>,
    /// `invalid_client` answers given.
    refused_clients: usize,
}

struct Shared {
    issuer: String,
    client: AppleClient,
    key: EncodingKey,
    jwks: Value,
    inner: Mutex<Inner>,
}

impl Shared {
    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running stand-in, stopped on drop.
pub struct AppleStandIn {
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl Drop for AppleStandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl AppleStandIn {
    /// Starts the stand-in on a port the system picks, knowing `client`.
    pub async fn start(client: AppleClient) -> Self {
        let listener = must(TcpListener::bind("127.0.0.1:0").await, "bind stand-in");
        let port = must(listener.local_addr(), "stand-in address").port();
        let issuer = format!("http://127.0.0.1:{port}");
        let own = AppleKeyPair::generate();
        let mut jwk = serde_json::to_value(public_jwk(&own.p8_pem)).unwrap_or_default();
        if let Some(fields) = jwk.as_object_mut() {
            fields.insert("kid".to_owned(), json!(STANDIN_KID));
            fields.insert("use".to_owned(), json!("sig"));
            fields.insert("alg".to_owned(), json!("ES256"));
        }
        let shared = Arc::new(Shared {
            issuer,
            client,
            key: must(EncodingKey::from_ec_pem(own.p8_pem.as_bytes()), "own key"),
            jwks: json!({ "keys": [jwk] }),
            inner: Mutex::default(),
        });
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/auth/keys", get(keys))
            .route("/auth/authorize", get(authorize))
            .route("/auth/token", post(token))
            .with_state(Arc::clone(&shared));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { shared, task }
    }

    /// The issuer, `http://127.0.0.1:PORT` (no trailing slash).
    pub fn issuer(&self) -> &str {
        &self.shared.issuer
    }

    /// Plays the browser: loads `authorization_url` with `account` signing
    /// in, and reads the form Apple answers. Panics when the stand-in
    /// refuses the authorization request (with its reason).
    pub async fn sign_in(&self, authorization_url: &str, account: &AppleAccount) -> FormPost {
        self.shared.inner().next = Some(account.clone());
        let browser = must(
            reqwest::Client::builder().redirect(Policy::none()).build(),
            "browser",
        );
        let response = must(browser.get(authorization_url).send().await, "authorize");
        let status = response.status();
        let body = must(response.text().await, "authorize body");
        assert_eq!(status, StatusCode::OK, "the stand-in refused: {body}");
        let input = |name: &str| hidden_input(&body, name);
        FormPost {
            action: must(
                attribute(&body, "<form", "action").ok_or("no form action"),
                "form",
            ),
            code: must(input("code").ok_or("no code"), "form"),
            state: must(input("state").ok_or("no state"), "form"),
            user: input("user"),
        }
    }

    /// The client secrets the token endpoint accepted, oldest first.
    pub fn accepted_client_secrets(&self) -> Vec<String> {
        self.shared.inner().secrets.clone()
    }

    /// How many token requests were refused `invalid_client`.
    pub fn refused_clients(&self) -> usize {
        self.shared.inner().refused_clients
    }
}

async fn discovery(State(shared): State<Arc<Shared>>) -> Json<Value> {
    let issuer = &shared.issuer;
    Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/auth/authorize"),
        "token_endpoint": format!("{issuer}/auth/token"),
        "revocation_endpoint": format!("{issuer}/auth/revoke"),
        "jwks_uri": format!("{issuer}/auth/keys"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "scopes_supported": ["openid", "email", "name"],
        "token_endpoint_auth_methods_supported": ["client_secret_post"],
        "claims_supported": [
            "aud", "email", "email_verified", "exp", "iat", "is_private_email",
            "iss", "nonce", "nonce_supported", "real_user_status", "sub", "transfer_sub"
        ],
    }))
}

async fn keys(State(shared): State<Arc<Shared>>) -> Json<Value> {
    Json(shared.jwks.clone())
}

/// Apple's error answer: `{"error": …}` with 400.
fn oauth_error(error: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": error }))).into_response()
}

async fn authorize(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let param = |name: &str| query.get(name).map(String::as_str).unwrap_or_default();
    let client = &shared.client;
    if param("client_id") != client.client_id {
        return oauth_error("invalid_client");
    }
    let redirect_uri = param("redirect_uri");
    if !client.redirect_uris.iter().any(|u| u == redirect_uri) {
        return oauth_error("invalid_request: redirect_uri");
    }
    if param("response_type") != "code" {
        return oauth_error("unsupported_response_type");
    }
    let scopes: Vec<&str> = param("scope").split(' ').collect();
    let wants_user = scopes.contains(&"name") || scopes.contains(&"email");
    if wants_user && param("response_mode") != "form_post" {
        return oauth_error("invalid_request: response_mode must be form_post");
    }
    if param("code_challenge_method") != "S256" || param("code_challenge").is_empty() {
        return oauth_error("invalid_request: code_challenge");
    }
    let mut inner = shared.inner();
    let Some(account) = inner.next.take() else {
        return oauth_error("access_denied: nobody signed in");
    };
    let code = random_token();
    let first = inner.authorized.insert(account.sub.clone());
    let user = (first && wants_user).then(|| {
        json!({
            "name": { "firstName": account.first_name, "lastName": account.last_name },
            "email": account.email,
        })
        .to_string()
    });
    inner.codes.insert(
        code.clone(),
        Grant {
            account,
            redirect_uri: redirect_uri.to_owned(),
            challenge: param("code_challenge").to_owned(),
            nonce: query.get("nonce").cloned(),
        },
    );
    let mut fields = vec![("state", param("state").to_owned()), ("code", code)];
    if let Some(user) = user {
        fields.push(("user", user));
    }
    let inputs: String = fields
        .iter()
        .map(|(name, value)| {
            format!(
                "<input type=\"hidden\" name=\"{name}\" value=\"{}\" />\n",
                escape(value)
            )
        })
        .collect();
    Html(format!(
        "<!DOCTYPE html>\n<html><body onload=\"document.forms[0].submit()\">\n\
         <form method=\"post\" action=\"{}\">\n{inputs}</form>\n</body></html>\n",
        escape(redirect_uri)
    ))
    .into_response()
}

async fn token(
    State(shared): State<Arc<Shared>>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let param = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
    let client = &shared.client;
    let secret = param("client_secret");
    if param("client_id") != client.client_id || !client_secret_valid(&shared, secret) {
        shared.inner().refused_clients += 1;
        return oauth_error("invalid_client");
    }
    if param("grant_type") != "authorization_code" {
        return oauth_error("unsupported_grant_type");
    }
    let grant = {
        let mut inner = shared.inner();
        inner.secrets.push(secret.to_owned());
        inner.codes.remove(param("code"))
    };
    let Some(grant) = grant else {
        return oauth_error("invalid_grant");
    };
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(param("code_verifier").as_bytes()));
    if param("redirect_uri") != grant.redirect_uri || challenge != grant.challenge {
        return oauth_error("invalid_grant");
    }
    let now = now();
    let account = &grant.account;
    let mut claims = json!({
        "iss": shared.issuer,
        "aud": client.client_id,
        "exp": now + ID_TOKEN_LIFETIME,
        "iat": now,
        "sub": account.sub,
        "email": account.email,
        // Strings, as Apple's tokens have carried them.
        "email_verified": account.email_verified.to_string(),
        "is_private_email": account.is_private_email.to_string(),
        "auth_time": now,
        "nonce_supported": true,
        "real_user_status": 2,
    });
    if let (Some(nonce), Some(fields)) = (grant.nonce, claims.as_object_mut()) {
        fields.insert("nonce".to_owned(), json!(nonce));
    }
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(STANDIN_KID.to_owned());
    let id_token = must(
        jsonwebtoken::encode(&header, &claims, &shared.key),
        "ID token",
    );
    Json(json!({
        "access_token": random_token(),
        "token_type": "Bearer",
        "expires_in": 3600,
        "refresh_token": random_token(),
        "id_token": id_token,
    }))
    .into_response()
}

/// Apple's checks of a client secret.
fn client_secret_valid(shared: &Shared, secret: &str) -> bool {
    let client = &shared.client;
    let Ok(header) = jsonwebtoken::decode_header(secret) else {
        return false;
    };
    if header.alg != Algorithm::ES256 || header.kid.as_deref() != Some(client.key_id.as_str()) {
        return false;
    }
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_issuer(&[&client.team_id]);
    validation.set_audience(&[&shared.issuer]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.leeway = 0;
    match jsonwebtoken::decode::<Value>(secret, &client.public_key, &validation) {
        Ok(data) => {
            data.claims["sub"].as_str() == Some(client.client_id.as_str())
                && data.claims["iat"]
                    .as_i64()
                    .is_some_and(|iat| iat <= now() + 60)
        }
        Err(_) => false,
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

fn random_token() -> String {
    let mut bytes = [0u8; 24];
    must(getrandom::fill(&mut bytes), "random");
    URL_SAFE_NO_PAD.encode(bytes)
}

fn escape(raw: &str) -> String {
    raw.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\'', "&#39;")
}

fn unescape(raw: &str) -> String {
    raw.replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// The value of `attribute` in the first tag starting with `tag`.
fn attribute(html: &str, tag: &str, attribute: &str) -> Option<String> {
    let start = html.find(tag)?;
    let end = start + html[start..].find('>')?;
    value_of(&html[start..end], attribute)
}

fn value_of(tag: &str, attribute: &str) -> Option<String> {
    let key = format!("{attribute}=\"");
    let from = tag.find(&key)? + key.len();
    let to = from + tag[from..].find('"')?;
    Some(unescape(&tag[from..to]))
}

/// The value of the hidden input named `name`, if the form has one.
fn hidden_input(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\"");
    html.split("<input")
        .skip(1)
        .filter_map(|rest| rest.split('>').next())
        .find(|tag| tag.contains(&marker))
        .and_then(|tag| value_of(tag, "value"))
}

/// The query parameter `name` of `url`.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    let url = Url::parse(url).ok()?;
    url.query_pairs()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}
