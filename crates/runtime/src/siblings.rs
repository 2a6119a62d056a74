//! Where the per-service binaries find each other: `LATCH_<SERVICE>_URL`.
//! Channels connect lazily, so start order does not matter.

use std::sync::Arc;

use latch_domain::{
    Clock, Error, Result,
    ports::{RateLimiter, RoleDirectory, SessionDirectory},
    secret::Secret,
};

use crate::{
    auth::{AccessTokenAuthenticator, MachineCallers, PublicRateLimits, remote_verifier},
    clients::{
        AuthorizationClient, IdentityClient, ProfileClient, SessionClient, TokenClient,
        sibling_channel,
    },
    config::ConfigSource,
    server::Guard,
};

pub const IDENTITY_URL: &str = "LATCH_IDENTITY_URL";
pub const TOKEN_URL: &str = "LATCH_TOKEN_URL";
pub const SESSION_URL: &str = "LATCH_SESSION_URL";
pub const AUTHORIZATION_URL: &str = "LATCH_AUTHORIZATION_URL";
pub const PROFILE_URL: &str = "LATCH_PROFILE_URL";

/// Reads sibling URLs on demand; a binary asks only for the siblings it uses,
/// and a missing one stops the start with its key named.
pub struct Siblings<'a> {
    source: &'a dyn ConfigSource,
    token: Secret<String>,
}

impl<'a> Siblings<'a> {
    pub fn new(source: &'a dyn ConfigSource, token: Secret<String>) -> Self {
        Self { source, token }
    }

    fn url(&self, key: &str) -> Result<String> {
        self.source.get(key).ok_or_else(|| {
            Error::internal_msg(format!(
                "{key} must name the sibling service, e.g. http://127.0.0.1:50052"
            ))
        })
    }

    pub fn identity(&self) -> Result<Arc<IdentityClient>> {
        Ok(Arc::new(IdentityClient::new(sibling_channel(
            self.source,
            &self.url(IDENTITY_URL)?,
            &self.token,
        )?)))
    }

    pub fn token(&self) -> Result<Arc<TokenClient>> {
        Ok(Arc::new(TokenClient::new(sibling_channel(
            self.source,
            &self.url(TOKEN_URL)?,
            &self.token,
        )?)))
    }

    pub fn session(&self) -> Result<Arc<SessionClient>> {
        Ok(Arc::new(SessionClient::new(sibling_channel(
            self.source,
            &self.url(SESSION_URL)?,
            &self.token,
        )?)))
    }

    pub fn authorization(&self) -> Result<Arc<AuthorizationClient>> {
        Ok(Arc::new(AuthorizationClient::new(sibling_channel(
            self.source,
            &self.url(AUTHORIZATION_URL)?,
            &self.token,
        )?)))
    }

    pub fn profile(&self) -> Result<Arc<ProfileClient>> {
        Ok(Arc::new(ProfileClient::new(sibling_channel(
            self.source,
            &self.url(PROFILE_URL)?,
            &self.token,
        )?)))
    }

    /// The token service's URL, for fetching its JWKS.
    pub fn token_url(&self) -> Result<String> {
        self.url(TOKEN_URL)
    }

    /// The guard of a binary that is not the token service: access tokens
    /// verified against the token service's keys, their sessions checked
    /// through `sessions` (in process in the session binary, a sibling
    /// elsewhere), Latch's own callers by the service credential, and the
    /// service accounts of `LATCH_SERVICE_ACCOUNTS`; public RPCs limited by
    /// `limiter` at the rates of `LATCH_RATE_LIMIT_*`.
    pub fn guard(
        &self,
        clock: Arc<dyn Clock>,
        sessions: Arc<dyn SessionDirectory>,
        limiter: Arc<dyn RateLimiter>,
        roles: Arc<dyn RoleDirectory>,
    ) -> Result<Guard> {
        let verifier = remote_verifier(self.source, &self.token_url()?, clock.clone())?;
        Ok(Guard {
            authenticator: AccessTokenAuthenticator::from_source(
                self.source,
                verifier,
                sessions,
                clock,
            )?,
            machines: MachineCallers::from_source(self.source, &self.token)?,
            rate_limits: PublicRateLimits::from_source(self.source, limiter)?,
            roles,
        })
    }
}
