//! Sign-in with an OpenID Connect provider: the start of every round trip.
//!
//! StartOAuth asks the provider port
//! ([`OAuthProviders`](latch_domain::ports::OAuthProviders)) for an
//! authorization URL with PKCE S256, a fresh `state` and `nonce`, and keeps
//! what the return needs (provider, redirect URI, PKCE verifier, nonce, and
//! the signed-in user when one started it) sealed in the flow state under
//! `oauth_state:{sha256(state)}` for ten minutes. The return takes it
//! (read-and-delete), so a state works once; the record outlives its
//! validity by five minutes only to tell a late return (`TOKEN_EXPIRED`)
//! from an unknown one (`TOKEN_INVALID`). The redirect URI is never taken
//! from the return: the exchange uses the one the state was bound to.
//!
//! What follows the return: `oauth_sign_in` (CompleteOAuth) and
//! `oauth_identities` (List, Link, Unlink). The openidconnect adapter of
//! the port and its configuration are in [`providers`].

pub(crate) mod first_login;
pub mod providers;

use chrono::{DateTime, Duration, Utc};
use latch_domain::{Error, Reason, Result, UserId, secret, secret::Secret};
use serde::{Deserialize, Serialize};

use crate::Identity;

/// How long a started authorization may come back.
const STATE_TTL: Duration = Duration::minutes(10);
/// How long after that an expired state is still told apart from an
/// unknown one.
const EXPIRED_GRACE: Duration = Duration::minutes(5);
/// Longer than any state Latch hands out: not worth a lookup.
const STATE_MAX_LEN: usize = 128;
/// Longer than any configured name or URI could be.
const PROVIDER_MAX_LEN: usize = 64;
const REDIRECT_URI_MAX_LEN: usize = 2048;
const CODE_MAX_LEN: usize = 4096;

/// The login-history method of a sign-in through `provider`.
pub(crate) fn method(provider: &str) -> String {
    format!("oauth:{provider}")
}

/// Where to send the browser, and the state that comes back with it.
#[derive(Debug, Clone)]
pub struct OAuthStart {
    pub authorization_url: String,
    pub state: Secret<String>,
}

/// A started authorization, as the flow state keeps it (sealed).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PendingAuthorization {
    pub(crate) provider: String,
    pub(crate) redirect_uri: String,
    /// Who started it, when signed in: only they may link with it.
    pub(crate) user: Option<UserId>,
    pub(crate) pkce_verifier: String,
    pub(crate) nonce: String,
    pub(crate) expires_at: DateTime<Utc>,
}

impl Identity {
    /// Starts a sign-in (or, with `user`, a link) at `provider`, whose
    /// browser comes back to `redirect_uri`.
    ///
    /// Errors: `INVALID_ARGUMENT` naming `provider` (empty or not
    /// configured) or `redirect_uri` (not one the provider allows);
    /// `UNAVAILABLE` while the provider's discovery fails.
    pub async fn start_oauth(
        &self,
        provider: &str,
        redirect_uri: &str,
        user: Option<UserId>,
    ) -> Result<OAuthStart> {
        check_provider(provider)?;
        if redirect_uri.is_empty() || redirect_uri.len() > REDIRECT_URI_MAX_LEN {
            return Err(Error::invalid_field("redirect_uri", "is not allowed"));
        }
        let started = self.deps.oauth.start(provider, redirect_uri).await?;
        let now = self.deps.clock.now();
        let pending = PendingAuthorization {
            provider: provider.to_owned(),
            redirect_uri: redirect_uri.to_owned(),
            user,
            pkce_verifier: started.pkce_verifier.expose().clone(),
            nonce: started.nonce.expose().clone(),
            expires_at: now + STATE_TTL,
        };
        self.put_record(
            &state_key(started.state.expose()),
            &pending,
            pending.expires_at + EXPIRED_GRACE,
        )
        .await?;
        Ok(OAuthStart {
            authorization_url: started.url,
            state: started.state,
        })
    }

    /// Takes the authorization `state` names, for a return from
    /// `provider` with `code`. Single use: taken before anything is
    /// checked, so a replay finds nothing.
    ///
    /// Errors: `INVALID_ARGUMENT` naming `provider` or `code`;
    /// `TOKEN_INVALID` (unknown, used, or started with another provider);
    /// `TOKEN_EXPIRED` (older than ten minutes).
    pub(crate) async fn take_authorization(
        &self,
        provider: &str,
        code: &str,
        state: &str,
    ) -> Result<PendingAuthorization> {
        check_provider(provider)?;
        if code.is_empty() || code.len() > CODE_MAX_LEN {
            return Err(Error::invalid_field("code", "is required"));
        }
        if state.is_empty() || state.len() > STATE_MAX_LEN {
            return Err(state_invalid());
        }
        let Some(pending) = self
            .take_record::<PendingAuthorization>(&state_key(state))
            .await?
        else {
            return Err(state_invalid());
        };
        if pending.expires_at <= self.deps.clock.now() {
            return Err(Error::new(
                Reason::TokenExpired,
                "the sign-in took too long; start again",
            ));
        }
        if pending.provider != provider {
            return Err(state_invalid());
        }
        Ok(pending)
    }
}

fn check_provider(provider: &str) -> Result<()> {
    if provider.is_empty() || provider.len() > PROVIDER_MAX_LEN {
        return Err(Error::invalid_field(
            "provider",
            "is not a configured provider",
        ));
    }
    Ok(())
}

pub(crate) fn state_invalid() -> Error {
    Error::new(
        Reason::TokenInvalid,
        "unknown or used state; start the sign-in again",
    )
}

fn state_key(state: &str) -> String {
    format!("oauth_state:{}", hex::encode(secret::sha256(state)))
}

#[cfg(test)]
mod tests;
