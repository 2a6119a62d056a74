//! [`OidcProviders`]: the [`OAuthProviders`] port on the `openidconnect`
//! crate, for providers of kind `oidc` and `google` (see [`config`]); kind
//! `github` (plain OAuth 2.0, no discovery) goes to [`github`].
//!
//! Each provider's discovery document and keys (JWKS) are fetched from its
//! issuer and cached for an hour. A provider that cannot be reached does
//! not stop Latch: its calls answer `UNAVAILABLE` while discovery fails,
//! retried on use no more often than a backoff allows (1 s doubling to a
//! minute); a cached document past its hour keeps serving while a refresh
//! fails. An ID token whose signature does not check against the cached
//! keys makes one refresh (the provider may have rotated its keys).
//!
//! openidconnect checks the ID token: issuer, audience, signature by the
//! provider's JWKS, nonce, expiry, and `azp` when present. For Google
//! with `hd` configured, the token's `hd` claim must name that domain.
//!
//! Kind `apple` is this path with three differences: the client secret is
//! a short-lived ES256 JWT made from the team's key ([`apple`]), sent in
//! the form body (client_secret_post, all Apple accepts); the browser comes
//! back with a form POST (`response_mode=form_post`, which Apple requires
//! when names or email are asked); and its `email_verified` may be the
//! string "true" or "false" (openidconnect's `accept-string-booleans`).

pub mod apple;
pub mod config;
mod github;
mod http;

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use async_trait::async_trait;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use latch_domain::{
    Error, Reason, Result,
    clock::{Clock, SystemClock},
    ports::{AuthorizationStart, CodeExchange, OAuthProviders, VerifiedClaims},
    secret::Secret,
};
use latch_runtime::config::ConfigSource;
use openidconnect::{
    AuthType, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken,
    EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope, TokenResponse,
    core::{
        CoreAuthenticationFlow, CoreClient, CoreClientAuthMethod, CoreProviderMetadata,
        CoreTokenResponse,
    },
};
use tokio::sync::Mutex;

use self::{
    config::{ProviderConfig, ProviderKind},
    http::Http,
};

/// How long a discovery document (with its keys) is used before a refresh.
const REFRESH_AFTER: Duration = Duration::from_secs(3600);
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// The configured providers, by name.
pub struct OidcProviders {
    providers: HashMap<String, Provider>,
    http: Http,
}

struct Provider {
    config: ProviderConfig,
    /// Kind `apple`: its client secrets, made and renewed here.
    apple: Option<apple::ClientSecrets>,
    discovery: Mutex<Discovery>,
}

#[derive(Default)]
struct Discovery {
    cached: Option<(Arc<CoreProviderMetadata>, Instant)>,
    /// No discovery before this instant, and the wait after the next failure.
    retry_at: Option<Instant>,
    backoff: Option<Duration>,
}

impl OidcProviders {
    /// The providers of `LATCH_OAUTH_PROVIDERS` (none when unset); a bad
    /// file stops the start. Nothing is fetched here: see
    /// [`OidcProviders::discover_all`].
    pub fn from_source(source: &dyn ConfigSource) -> Result<Arc<Self>> {
        Self::new(config::from_source(source)?)
    }

    pub fn new(configs: Vec<ProviderConfig>) -> Result<Arc<Self>> {
        let providers = configs
            .into_iter()
            .map(|config| {
                let name = config.name.clone();
                let apple = config
                    .apple
                    .clone()
                    .map(|key| apple::ClientSecrets::new(key, &config.client_id, &config.issuer));
                let provider = Provider {
                    config,
                    apple,
                    discovery: Mutex::default(),
                };
                (name, provider)
            })
            .collect();
        Ok(Arc::new(Self {
            providers,
            http: Http::new()?,
        }))
    }

    /// Fetches every provider's discovery document (GitHub has none) in the background, so
    /// the first sign-in does not wait for it; one that fails is logged
    /// and tried again on use.
    pub fn discover_all(self: &Arc<Self>) {
        let discovered = self
            .providers
            .iter()
            .filter(|(_, p)| p.config.github.is_none());
        for name in discovered.map(|(name, _)| name) {
            let this = Arc::clone(self);
            let name = name.clone();
            tokio::spawn(async move {
                if let Ok(provider) = this.provider(&name) {
                    let _ = this.metadata(provider, false).await;
                }
            });
        }
    }

    fn provider(&self, name: &str) -> Result<&Provider> {
        self.providers
            .get(name)
            .ok_or_else(|| Error::invalid_field("provider", "is not a configured provider"))
    }

    /// The provider's discovery document: cached, or fetched when older
    /// than an hour or when `refresh` (keys that did not check), within
    /// the backoff.
    async fn metadata(
        &self,
        provider: &Provider,
        refresh: bool,
    ) -> Result<Arc<CoreProviderMetadata>> {
        let mut discovery = provider.discovery.lock().await;
        let now = Instant::now();
        let stale = match &discovery.cached {
            Some((metadata, fetched)) if !refresh && now - *fetched < REFRESH_AFTER => {
                return Ok(Arc::clone(metadata));
            }
            cached => cached.as_ref().map(|(metadata, _)| Arc::clone(metadata)),
        };
        if discovery.retry_at.is_some_and(|at| now < at) {
            return stale.ok_or_else(|| unreachable_provider(&provider.config.name));
        }
        let issuer = IssuerUrl::new(provider.config.issuer.clone()).map_err(Error::internal)?;
        match CoreProviderMetadata::discover_async(issuer, &self.http).await {
            Ok(metadata) => {
                let metadata = Arc::new(metadata);
                discovery.cached = Some((Arc::clone(&metadata), Instant::now()));
                discovery.retry_at = None;
                discovery.backoff = None;
                tracing::info!(provider = %provider.config.name, "provider discovery fetched");
                Ok(metadata)
            }
            Err(error) => {
                let wait = discovery
                    .backoff
                    .map_or(FIRST_BACKOFF, |last| (last * 2).min(MAX_BACKOFF));
                discovery.backoff = Some(wait);
                discovery.retry_at = Some(Instant::now() + wait);
                tracing::warn!(
                    provider = %provider.config.name,
                    %error,
                    retry_in = ?wait,
                    serving_cached = stale.is_some(),
                    "provider discovery failed"
                );
                stale.ok_or_else(|| unreachable_provider(&provider.config.name))
            }
        }
    }

    fn client(
        provider: &Provider,
        metadata: &CoreProviderMetadata,
        redirect_uri: &str,
    ) -> Result<Client> {
        let redirect = RedirectUrl::new(redirect_uri.to_owned()).map_err(Error::internal)?;
        // The secret goes in the Authorization header (client_secret_basic,
        // the default) unless the provider accepts only client_secret_post.
        let methods = metadata.token_endpoint_auth_methods_supported();
        let post_only = provider.apple.is_some()
            || methods.is_some_and(|methods| {
                methods.contains(&CoreClientAuthMethod::ClientSecretPost)
                    && !methods.contains(&CoreClientAuthMethod::ClientSecretBasic)
            });
        let auth_type = if post_only {
            AuthType::RequestBody
        } else {
            AuthType::BasicAuth
        };
        let secret = match &provider.apple {
            // Wall time, not the Clock port: Apple checks `iat` and `exp`
            // against its own clock.
            Some(secrets) => secrets.current(SystemClock.now())?,
            None => provider.config.client_secret.clone(),
        };
        Ok(CoreClient::from_provider_metadata(
            metadata.clone(),
            ClientId::new(provider.config.client_id.clone()),
            Some(ClientSecret::new(secret.expose().clone())),
        )
        .set_auth_type(auth_type)
        .set_redirect_uri(redirect))
    }

    async fn verified_claims(
        &self,
        provider: &Provider,
        exchange: &CodeExchange,
        metadata: Arc<CoreProviderMetadata>,
    ) -> Result<VerifiedClaims> {
        let client = Self::client(provider, &metadata, &exchange.redirect_uri)?;
        let response = exchange_code(
            &client,
            exchange.code.expose(),
            exchange.pkce_verifier.expose(),
            &self.http,
        )
        .await?;
        let nonce = Nonce::new(exchange.nonce.expose().clone());
        let id_token = response
            .id_token()
            .ok_or_else(|| refused("the provider's token response has no ID token"))?;
        let claims = match id_token.claims(&client.id_token_verifier(), &nonce) {
            Ok(claims) => claims.clone(),
            Err(ClaimsVerificationError::SignatureVerification(_)) => {
                // Perhaps new keys: one refresh, then the same checks.
                let fresh = self.metadata(provider, true).await?;
                let client = Self::client(provider, &fresh, &exchange.redirect_uri)?;
                id_token
                    .claims(&client.id_token_verifier(), &nonce)
                    .map_err(|err| token_refused(&provider.config.name, &err))?
                    .clone()
            }
            Err(err) => return Err(token_refused(&provider.config.name, &err)),
        };
        if let Some(hd) = &provider.config.hd {
            // Read from the token just verified: openidconnect's core
            // claims do not carry Google's `hd`.
            if hosted_domain(&id_token.to_string()).as_deref() != Some(hd.as_str()) {
                return Err(refused("the account is not of the allowed domain"));
            }
        }
        Ok(VerifiedClaims {
            subject: claims.subject().as_str().to_owned(),
            email: claims.email().map(|e| e.as_str().to_lowercase()),
            email_verified: claims.email_verified().unwrap_or(false),
            given_name: claims
                .given_name()
                .and_then(|n| n.get(None))
                .map(|n| n.as_str().to_owned()),
            family_name: claims
                .family_name()
                .and_then(|n| n.get(None))
                .map(|n| n.as_str().to_owned()),
            name: claims
                .name()
                .and_then(|n| n.get(None))
                .map(|n| n.as_str().to_owned()),
        })
    }
}

/// A client configured from a discovery document (authorization URL set,
/// token and user-info URLs as the document has them).
type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// URL, state, PKCE verifier, nonce of a new authorization.
fn authorize(client: &Client, config: &ProviderConfig) -> (String, String, String, String) {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scopes(config.scopes.iter().cloned().map(Scope::new))
        .set_pkce_challenge(challenge);
    if let Some(hd) = &config.hd {
        request = request.add_extra_param("hd", hd.clone());
    }
    if config.kind == ProviderKind::Apple {
        // The code, state (and, the first time, the user's name) come
        // back as a form POST to the redirect URI.
        request = request.add_extra_param("response_mode", "form_post");
    }
    let (url, state, nonce) = request.url();
    (
        url.to_string(),
        state.secret().clone(),
        verifier.secret().clone(),
        nonce.secret().clone(),
    )
}

async fn exchange_code(
    client: &Client,
    code: &str,
    verifier: &str,
    http: &Http,
) -> Result<CoreTokenResponse> {
    let request = client
        .exchange_code(AuthorizationCode::new(code.to_owned()))
        .map_err(|_| Error::new(Reason::Unavailable, "the provider has no token endpoint"))?
        .set_pkce_verifier(PkceCodeVerifier::new(verifier.to_owned()));
    request.request_async(http).await.map_err(|err| match err {
        // The provider answered: it refused the code (used, expired,
        // another client's, a wrong verifier).
        RequestTokenError::ServerResponse(response) => {
            tracing::info!(error = %response, "provider refused the code");
            refused("the provider refused the code")
        }
        // Only the error's own words: a Parse error carries the body.
        other => {
            tracing::warn!(error = %other, "provider token request failed");
            Error::new(Reason::Unavailable, "the provider could not be reached")
        }
    })
}

#[async_trait]
impl OAuthProviders for OidcProviders {
    async fn start(&self, name: &str, redirect_uri: &str) -> Result<AuthorizationStart> {
        let provider = self.provider(name)?;
        if !provider
            .config
            .redirect_uris
            .iter()
            .any(|u| u == redirect_uri)
        {
            return Err(Error::invalid_field("redirect_uri", "is not allowed"));
        }
        if let Some(endpoints) = &provider.config.github {
            return github::start(&provider.config, endpoints, redirect_uri);
        }
        let metadata = self.metadata(provider, false).await?;
        let client = Self::client(provider, &metadata, redirect_uri)?;
        let (url, state, pkce_verifier, nonce) = authorize(&client, &provider.config);
        Ok(AuthorizationStart {
            url,
            state: Secret::new(state),
            pkce_verifier: Secret::new(pkce_verifier),
            nonce: Secret::new(nonce),
        })
    }

    async fn exchange(&self, name: &str, exchange: CodeExchange) -> Result<VerifiedClaims> {
        let provider = self.provider(name)?;
        if let Some(endpoints) = &provider.config.github {
            return github::exchange(&self.http, &provider.config, endpoints, &exchange).await;
        }
        let metadata = self.metadata(provider, false).await?;
        self.verified_claims(provider, &exchange, metadata).await
    }
}

/// The `hd` claim of a JWT (already verified), if any.
fn hosted_domain(jwt: &str) -> Option<String> {
    let payload = jwt.split('.').nth(1)?;
    let json = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let value: serde_json::Value = serde_json::from_slice(&json).ok()?;
    value.get("hd")?.as_str().map(str::to_lowercase)
}

fn unreachable_provider(name: &str) -> Error {
    Error::new(
        Reason::Unavailable,
        format!("provider {name} cannot be reached; try again later"),
    )
}

fn refused(message: &'static str) -> Error {
    Error::new(Reason::InvalidCredentials, message)
}

fn token_refused(provider: &str, err: &ClaimsVerificationError) -> Error {
    tracing::warn!(provider, error = %err, "provider ID token refused");
    refused("the provider's ID token did not pass its checks")
}

#[cfg(test)]
mod tests;
