use async_trait::async_trait;

use crate::{Result, secret::Secret};

/// A started authorization at a provider: where to send the browser, and
/// what must stay on the server until the code comes back.
#[derive(Debug, Clone)]
pub struct AuthorizationStart {
    /// The provider's authorization endpoint with every parameter set
    /// (client, redirect URI, scopes, `state`, `nonce`, PKCE S256 challenge).
    pub url: String,
    /// The `state` sent; unguessable, it names the pending flow.
    pub state: Secret<String>,
    /// The PKCE verifier of the challenge sent.
    pub pkce_verifier: Secret<String>,
    /// The `nonce` sent; the ID token must carry it (unused by a provider
    /// without ID tokens, such as GitHub).
    pub nonce: Secret<String>,
}

/// The code's exchange, with what the start kept.
#[derive(Debug, Clone)]
pub struct CodeExchange {
    pub redirect_uri: String,
    pub code: Secret<String>,
    pub pkce_verifier: Secret<String>,
    pub nonce: Secret<String>,
}

/// Who signed in at the provider, as the adapter established it: from an
/// ID token the provider signed and the adapter checked (issuer, audience,
/// signature by the provider's keys, nonce, expiry, `azp` where present),
/// or, for a provider without ID tokens (GitHub), read from its API with
/// the access token the code was exchanged for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedClaims {
    /// `sub`: the user's stable identifier at the issuer (GitHub: the
    /// numeric account id).
    pub subject: String,
    /// `email`, lowercased by the adapter, if the provider gave one.
    pub email: Option<String>,
    /// `email_verified` as the provider said it; false when absent.
    pub email_verified: bool,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    /// `name`, for providers that give no split names.
    pub name: Option<String>,
}

/// The configured sign-in providers (OpenID Connect, or OAuth 2.0 with a
/// user API), by name.
///
/// Errors: `INVALID_ARGUMENT` naming `provider` (not configured) or
/// `redirect_uri` (not one of the provider's allowed URIs);
/// `UNAVAILABLE` while the provider cannot be reached (discovery, keys,
/// token endpoint, user API); `INVALID_CREDENTIALS` when the provider
/// refused the code or its ID token did not pass the checks.
#[async_trait]
pub trait OAuthProviders: Send + Sync + 'static {
    /// Starts an authorization with PKCE S256, a fresh `state` and `nonce`.
    async fn start(&self, provider: &str, redirect_uri: &str) -> Result<AuthorizationStart>;

    /// Exchanges the code with the PKCE verifier and checks the ID token
    /// (or, without one, reads the user from the provider's API).
    async fn exchange(&self, provider: &str, exchange: CodeExchange) -> Result<VerifiedClaims>;
}
