//! The adapter against a small HTTP peer on 127.0.0.1 serving a discovery
//! document, keys and a token endpoint: the authorization URL, the cache
//! and backoff of discovery, and what the HTTP client refuses (redirects,
//! oversized bodies). Signed ID tokens are checked end to end against a
//! real provider in `tests/tests/oauth.rs`.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use latch_domain::{Reason, ports::OAuthProviders, secret};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};

use super::{
    OidcProviders,
    config::{ProviderConfig, ProviderKind},
};
use crate::oauth::providers::config::parse;

const REDIRECT: &str = "http://127.0.0.1:9/callback";

/// What the peer does for the discovery document.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Discovery {
    Serve,
    Fail,
    Redirect,
    Huge,
}

struct Peer {
    issuer: String,
    hits: Arc<Mutex<HashMap<String, usize>>>,
    mode: Arc<Mutex<Discovery>>,
    /// Offer only `client_secret_post` at the token endpoint.
    post_only: Arc<AtomicBool>,
    /// The last token request, head and body.
    token_request: Arc<Mutex<String>>,
}

impl Peer {
    async fn start() -> Peer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let issuer = format!("http://{}", listener.local_addr().expect("addr"));
        let peer = Peer {
            issuer: issuer.clone(),
            hits: Arc::default(),
            mode: Arc::new(Mutex::new(Discovery::Serve)),
            post_only: Arc::default(),
            token_request: Arc::default(),
        };
        let (hits, mode) = (peer.hits.clone(), peer.mode.clone());
        let (post_only, token_request) = (peer.post_only.clone(), peer.token_request.clone());
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let (hits, mode, issuer) = (hits.clone(), mode.clone(), issuer.clone());
                let (post_only, token_request) = (post_only.clone(), token_request.clone());
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 16 * 1024];
                    let mut read = 0;
                    while !buf[..read].windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf[read..]).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => read += n,
                        }
                    }
                    let mut head = String::from_utf8_lossy(&buf[..read]).to_string();
                    let path = head.split(' ').nth(1).unwrap_or("/").to_owned();
                    if path == "/token" {
                        // The form body may follow the head.
                        let length: usize = head
                            .lines()
                            .find_map(|l| {
                                l.to_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        let body_start = head.find("\r\n\r\n").map_or(head.len(), |i| i + 4);
                        while head.len() - body_start < length {
                            match stream.read(&mut buf).await {
                                Ok(0) | Err(_) => break,
                                Ok(n) => head.push_str(&String::from_utf8_lossy(&buf[..n])),
                            }
                        }
                        *token_request.lock().unwrap() = head.clone();
                    }
                    *hits.lock().unwrap().entry(path.clone()).or_default() += 1;
                    let mode = *mode.lock().unwrap();
                    let response = respond(&issuer, &path, mode, post_only.load(Ordering::SeqCst));
                    let _ = stream.write_all(response.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        peer
    }

    fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    fn set(&self, mode: Discovery) {
        *self.mode.lock().unwrap() = mode;
    }

    fn config(&self, kind: ProviderKind, hd: Option<&str>) -> ProviderConfig {
        let mut text = format!(
            "[[provider]]\nname = \"corp\"\nkind = \"{}\"\nissuer = \"{}\"\n\
             client_id = \"latch\"\nclient_secret = \"secret\"\n\
             redirect_uris = [\"{REDIRECT}\"]\n",
            if kind == ProviderKind::Google {
                "google"
            } else {
                "oidc"
            },
            self.issuer
        );
        if let Some(hd) = hd {
            text.push_str(&format!("hd = \"{hd}\"\n"));
        }
        parse(&text, &|_| unreachable!()).expect("config").remove(0)
    }
}

const DISCOVERY: &str = "/.well-known/openid-configuration";

fn respond(issuer: &str, path: &str, mode: Discovery, post_only: bool) -> String {
    let auth_methods = if post_only {
        serde_json::json!(["client_secret_post"])
    } else {
        serde_json::json!(["client_secret_basic", "client_secret_post"])
    };
    let (status, extra, body) = match (path, mode) {
        (DISCOVERY, Discovery::Fail) => ("500 Internal Server Error", String::new(), String::new()),
        (DISCOVERY, Discovery::Redirect) => (
            "302 Found",
            format!("Location: {issuer}/elsewhere\r\n"),
            String::new(),
        ),
        (DISCOVERY, Discovery::Huge) => ("200 OK", String::new(), " ".repeat(300 * 1024)),
        (DISCOVERY, Discovery::Serve) | ("/elsewhere", _) => (
            "200 OK",
            String::new(),
            serde_json::json!({
                "issuer": issuer,
                "authorization_endpoint": format!("{issuer}/auth"),
                "token_endpoint": format!("{issuer}/token"),
                "jwks_uri": format!("{issuer}/jwks"),
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": auth_methods,
            })
            .to_string(),
        ),
        ("/jwks", _) => ("200 OK", String::new(), r#"{"keys":[]}"#.to_owned()),
        ("/token", _) => (
            "400 Bad Request",
            String::new(),
            r#"{"error":"invalid_grant"}"#.to_owned(),
        ),
        _ => ("404 Not Found", String::new(), String::new()),
    };
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\n{extra}\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn query(url: &str) -> HashMap<String, String> {
    let url = openidconnect::url::Url::parse(url).expect("url");
    url.query_pairs().into_owned().collect()
}

#[tokio::test]
async fn start_asks_for_code_with_pkce_s256_state_and_nonce() {
    let peer = Peer::start().await;
    let providers = OidcProviders::new(vec![peer.config(ProviderKind::Oidc, None)]).unwrap();

    let started = providers.start("corp", REDIRECT).await.expect("start");

    assert!(started.url.starts_with(&format!("{}/auth?", peer.issuer)));
    let q = query(&started.url);
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], "latch");
    assert_eq!(q["redirect_uri"], REDIRECT);
    assert_eq!(q["scope"], "openid email profile");
    assert_eq!(&q["state"], started.state.expose());
    assert_eq!(&q["nonce"], started.nonce.expose());
    assert_eq!(q["code_challenge_method"], "S256");
    let challenge = URL_SAFE_NO_PAD.encode(secret::sha256(started.pkce_verifier.expose()));
    assert_eq!(q["code_challenge"], challenge);
    assert!(!q.contains_key("hd"));
    // The verifier never leaves the server.
    assert!(
        !started
            .url
            .contains(started.pkce_verifier.expose().as_str())
    );

    let again = providers.start("corp", REDIRECT).await.expect("start");
    assert_ne!(again.state.expose(), started.state.expose());
    assert_eq!(peer.hits(DISCOVERY), 1, "discovery is cached");
    assert_eq!(peer.hits("/jwks"), 1, "keys are cached");
}

#[tokio::test]
async fn google_asks_for_the_hosted_domain() {
    let peer = Peer::start().await;
    let providers =
        OidcProviders::new(vec![peer.config(ProviderKind::Google, Some("example.com"))]).unwrap();
    let started = providers.start("corp", REDIRECT).await.expect("start");
    assert_eq!(query(&started.url)["hd"], "example.com");
}

#[tokio::test]
async fn unknown_providers_and_redirects_are_bad_input() {
    let peer = Peer::start().await;
    let providers = OidcProviders::new(vec![peer.config(ProviderKind::Oidc, None)]).unwrap();
    let err = providers.start("other", REDIRECT).await.unwrap_err();
    assert_eq!(err.violation().map(|v| v.field.as_str()), Some("provider"));
    let err = providers
        .start("corp", "http://127.0.0.1:9/callback/other")
        .await
        .unwrap_err();
    assert_eq!(
        err.violation().map(|v| v.field.as_str()),
        Some("redirect_uri")
    );
    assert_eq!(peer.hits(DISCOVERY), 0, "refused before any request");
}

#[tokio::test]
async fn an_unreachable_provider_is_unavailable_and_retried_with_backoff() {
    let peer = Peer::start().await;
    peer.set(Discovery::Fail);
    let providers = OidcProviders::new(vec![peer.config(ProviderKind::Oidc, None)]).unwrap();

    let err = providers.start("corp", REDIRECT).await.unwrap_err();
    assert_eq!(err.reason(), Reason::Unavailable);
    let err = providers.start("corp", REDIRECT).await.unwrap_err();
    assert_eq!(err.reason(), Reason::Unavailable);
    assert_eq!(peer.hits(DISCOVERY), 1, "no second try inside the backoff");

    peer.set(Discovery::Serve);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    providers.start("corp", REDIRECT).await.expect("back");
    assert_eq!(peer.hits(DISCOVERY), 2);
}

#[tokio::test]
async fn redirects_are_not_followed_and_bodies_are_bounded() {
    for mode in [Discovery::Redirect, Discovery::Huge] {
        let peer = Peer::start().await;
        peer.set(mode);
        let providers = OidcProviders::new(vec![peer.config(ProviderKind::Oidc, None)]).unwrap();
        let err = providers.start("corp", REDIRECT).await.unwrap_err();
        assert_eq!(err.reason(), Reason::Unavailable);
        assert_eq!(peer.hits("/elsewhere"), 0);
    }
}

#[tokio::test]
async fn a_code_the_provider_refuses_is_invalid_credentials() {
    for post_only in [false, true] {
        let peer = Peer::start().await;
        peer.post_only.store(post_only, Ordering::SeqCst);
        let providers = OidcProviders::new(vec![peer.config(ProviderKind::Oidc, None)]).unwrap();
        let started = providers.start("corp", REDIRECT).await.expect("start");
        let verifier = started.pkce_verifier.expose().clone();

        let err = providers
            .exchange(
                "corp",
                latch_domain::ports::CodeExchange {
                    redirect_uri: REDIRECT.to_owned(),
                    code: latch_domain::secret::Secret::new("used-code".to_owned()),
                    pkce_verifier: started.pkce_verifier,
                    nonce: started.nonce,
                },
            )
            .await
            .unwrap_err();

        assert_eq!(err.reason(), Reason::InvalidCredentials);
        let request = peer.token_request.lock().unwrap().clone();
        assert!(
            request.contains(&format!("code_verifier={verifier}")),
            "{request}"
        );
        assert!(request.contains("code=used-code"), "{request}");
        // The client secret: in the header (basic) unless only post is offered.
        let basic = request.to_lowercase().contains("authorization: basic");
        assert_eq!(basic, !post_only, "{request}");
        assert_eq!(
            request.contains("client_secret=secret"),
            post_only,
            "{request}"
        );
    }
}

#[test]
fn hosted_domain_is_read_from_the_payload() {
    let payload = URL_SAFE_NO_PAD.encode(br#"{"sub":"1","hd":"Example.com"}"#);
    assert_eq!(
        super::hosted_domain(&format!("h.{payload}.s")).as_deref(),
        Some("example.com")
    );
    let payload = URL_SAFE_NO_PAD.encode(br#"{"sub":"1"}"#);
    assert_eq!(super::hosted_domain(&format!("h.{payload}.s")), None);
}
