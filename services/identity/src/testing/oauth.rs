//! A stand-in for the provider port ([`OAuthProviders`]), documented as
//! such: it keeps the promises the openidconnect adapter keeps (the
//! provider and redirect URI must be configured; a code is single use and
//! bound to the PKCE verifier, nonce and redirect URI of its start) without
//! a provider over HTTP. The real adapter is exercised against a real
//! provider by the end-to-end tests (`tests/tests/oauth.rs`).

use std::{
    collections::HashMap,
    sync::{
        Mutex,
        atomic::{AtomicBool, Ordering},
    },
};

use async_trait::async_trait;
use latch_domain::{
    Error, Reason, Result,
    ports::{AuthorizationStart, CodeExchange, OAuthProviders, VerifiedClaims},
    secret::{Secret, random_token},
};

use super::lock;

pub(crate) const PROVIDER: &str = "corp";
pub(crate) const REDIRECT: &str = "https://app.example.test/callback";

/// What a start left with the "provider".
struct Started {
    provider: String,
    redirect_uri: String,
    pkce_verifier: String,
    nonce: String,
}

pub(crate) struct FakeProviders {
    /// Provider name → allowed redirect URIs.
    configured: HashMap<&'static str, Vec<&'static str>>,
    started: Mutex<HashMap<String, Started>>,
    /// Codes the user "authorized", each with its start and claims.
    codes: Mutex<HashMap<String, (Started, VerifiedClaims)>>,
    /// Discovery failing: every call UNAVAILABLE.
    pub(crate) down: AtomicBool,
}

impl Default for FakeProviders {
    fn default() -> Self {
        Self {
            configured: HashMap::from([(PROVIDER, vec![REDIRECT]), ("google", vec![REDIRECT])]),
            started: Mutex::default(),
            codes: Mutex::default(),
            down: AtomicBool::new(false),
        }
    }
}

impl FakeProviders {
    /// The user signs in at the provider for the authorization `state`
    /// names: the code the provider would redirect back with.
    pub(crate) fn authorize(&self, state: &str, claims: VerifiedClaims) -> String {
        let started = lock(&self.started)
            .remove(state)
            .expect("a state the fake provider handed out");
        let code = random_token(16).expect("random");
        lock(&self.codes).insert(code.clone(), (started, claims));
        code
    }

    fn up(&self) -> Result<()> {
        if self.down.load(Ordering::SeqCst) {
            return Err(Error::new(Reason::Unavailable, "provider unreachable"));
        }
        Ok(())
    }
}

fn refused() -> Error {
    Error::new(Reason::InvalidCredentials, "the provider refused the code")
}

#[async_trait]
impl OAuthProviders for FakeProviders {
    async fn start(&self, provider: &str, redirect_uri: &str) -> Result<AuthorizationStart> {
        let Some(allowed) = self.configured.get(provider) else {
            return Err(Error::invalid_field(
                "provider",
                "is not a configured provider",
            ));
        };
        if !allowed.contains(&redirect_uri) {
            return Err(Error::invalid_field("redirect_uri", "is not allowed"));
        }
        self.up()?;
        let state = random_token(16)?;
        let started = Started {
            provider: provider.to_owned(),
            redirect_uri: redirect_uri.to_owned(),
            pkce_verifier: random_token(32)?,
            nonce: random_token(16)?,
        };
        let start = AuthorizationStart {
            url: format!("https://{provider}.example.test/authorize?state={state}"),
            state: Secret::new(state.clone()),
            pkce_verifier: Secret::new(started.pkce_verifier.clone()),
            nonce: Secret::new(started.nonce.clone()),
        };
        lock(&self.started).insert(state, started);
        Ok(start)
    }

    async fn exchange(&self, provider: &str, exchange: CodeExchange) -> Result<VerifiedClaims> {
        self.up()?;
        let Some((started, claims)) = lock(&self.codes).remove(exchange.code.expose()) else {
            return Err(refused());
        };
        let bound = started.provider == provider
            && started.redirect_uri == exchange.redirect_uri
            && started.pkce_verifier == *exchange.pkce_verifier.expose()
            && started.nonce == *exchange.nonce.expose();
        if !bound {
            return Err(refused());
        }
        Ok(claims)
    }
}
