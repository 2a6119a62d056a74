//! The connection to Latch and who latchctl calls as: the signed-in admin
//! (a bearer access token, refreshed when it nears its expiry or the
//! server says it expired, the rotated refresh token stored before it is
//! used) or a service account (`x-latch-service-account`). Latch's own
//! service token is never sent: latchctl has no way to send it.

use std::{future::Future, time::Duration};

use chrono::Utc;
use latch_proto::latch::{
    authorization::v1::authorization_service_client::AuthorizationServiceClient,
    common::v1::AuthResult,
    identity::v1::identity_service_client::IdentityServiceClient,
    session::v1::session_service_client::SessionServiceClient,
    token::v1::{RefreshTokensRequest, token_service_client::TokenServiceClient},
};
use tonic::{
    Code, Request, Response, Status,
    metadata::MetadataValue,
    transport::{Channel, Endpoint},
};
use tonic_types::StatusExt;

use crate::{
    account::ServiceAccount,
    failure::Failure,
    store::{Credentials, Store},
};

/// Refresh this long before the access token expires, so a call never
/// races the expiry (and small clock differences are absorbed).
const REFRESH_MARGIN: chrono::Duration = chrono::Duration::seconds(60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

const SERVICE_ACCOUNT_HEADER: &str = "x-latch-service-account";

/// A lazily connected channel to `server`; nothing listening shows as
/// `UNAVAILABLE` on the first call.
pub(crate) fn channel(server: &str) -> Result<Channel, Failure> {
    // Latch listens in plaintext (TLS ends at the mesh or the gateway), so
    // latchctl speaks plaintext too; a remote Latch is reached through a
    // port-forward rather than across a network in the clear.
    if !server.starts_with("http://") {
        return Err(Failure::usage(format!(
            "--server {server:?}: expected http://host:port (plaintext gRPC; use a port-forward for a remote Latch)"
        )));
    }
    let endpoint = Endpoint::from_shared(server.to_owned())
        .and_then(|e| e.user_agent(concat!("latchctl/", env!("CARGO_PKG_VERSION"))))
        .map_err(|e| Failure::usage(format!("--server {server:?}: {e}")))?;
    Ok(endpoint
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(CALL_TIMEOUT)
        .connect_lazy())
}

/// The key a server's sign-in is kept under.
pub(crate) fn server_key(server: &str) -> String {
    server.trim().trim_end_matches('/').to_owned()
}

enum Identity {
    Admin {
        store: Store,
        credentials: Credentials,
    },
    Account(ServiceAccount),
}

/// Calls to Latch as one caller.
pub(crate) struct Api {
    channel: Channel,
    server: String,
    identity: Identity,
}

impl Api {
    /// As the service account when one is given, else as the admin signed
    /// in to `server`; neither is exit 3.
    pub(crate) fn open(
        server: &str,
        store: Store,
        account: Option<ServiceAccount>,
    ) -> Result<Self, Failure> {
        let channel = channel(server)?;
        let server = server_key(server);
        let identity = match account {
            Some(account) => Identity::Account(account),
            None => {
                let credentials = store.load(&server)?.ok_or_else(|| {
                    Failure::not_signed_in(format!(
                        "not signed in to {server}: run `latchctl login --email …` \
                         (or give a service account)"
                    ))
                })?;
                Identity::Admin { store, credentials }
            }
        };
        Ok(Self {
            channel,
            server,
            identity,
        })
    }

    pub(crate) fn identity(&self) -> IdentityServiceClient<Channel> {
        IdentityServiceClient::new(self.channel.clone())
    }

    pub(crate) fn session(&self) -> SessionServiceClient<Channel> {
        SessionServiceClient::new(self.channel.clone())
    }

    pub(crate) fn authorization(&self) -> AuthorizationServiceClient<Channel> {
        AuthorizationServiceClient::new(self.channel.clone())
    }

    pub(crate) fn token(&self) -> TokenServiceClient<Channel> {
        TokenServiceClient::new(self.channel.clone())
    }

    /// Calls `rpc` on `client` with `message` as this caller. An access
    /// token that expired is refreshed and the call made once more: the
    /// auth layer refused it before any handler ran, so nothing happened.
    pub(crate) async fn call<C, T, R, F, Fut>(
        &mut self,
        what: &str,
        client: &C,
        message: T,
        rpc: F,
    ) -> Result<R, Failure>
    where
        C: Clone,
        T: Clone,
        F: Fn(C, Request<T>) -> Fut,
        Fut: Future<Output = Result<Response<R>, Status>>,
    {
        self.refresh_if_due().await?;
        match rpc(client.clone(), self.request(message.clone())?).await {
            Ok(response) => Ok(response.into_inner()),
            Err(status) if self.is_admin() && token_expired(&status) => {
                self.refresh().await?;
                rpc(client.clone(), self.request(message)?)
                    .await
                    .map(Response::into_inner)
                    .map_err(|status| Failure::from_status(what, &status))
            }
            Err(status) => Err(Failure::from_status(what, &status)),
        }
    }

    /// The signed-in admin's sign-in, if latchctl calls as one.
    pub(crate) fn credentials(&self) -> Option<&Credentials> {
        match &self.identity {
            Identity::Admin { credentials, .. } => Some(credentials),
            Identity::Account(_) => None,
        }
    }

    pub(crate) fn server(&self) -> &str {
        &self.server
    }

    fn is_admin(&self) -> bool {
        matches!(self.identity, Identity::Admin { .. })
    }

    fn request<T>(&self, message: T) -> Result<Request<T>, Failure> {
        let mut request = Request::new(message);
        let (key, value) = match &self.identity {
            Identity::Admin { credentials, .. } => (
                "authorization",
                format!("Bearer {}", credentials.access_token),
            ),
            Identity::Account(account) => (SERVICE_ACCOUNT_HEADER, account.expose().to_owned()),
        };
        let value = MetadataValue::try_from(value)
            .map_err(|_| Failure::usage("the credential holds characters a header cannot"))?;
        request.metadata_mut().insert(key, value);
        Ok(request)
    }

    async fn refresh_if_due(&mut self) -> Result<(), Failure> {
        let due = self
            .credentials()
            .is_some_and(|c| c.access_token_expires_at - Utc::now() < REFRESH_MARGIN);
        if due { self.refresh().await } else { Ok(()) }
    }

    /// Spends the refresh token for a new pair and stores the pair before
    /// anything uses it. A refused refresh ends the sign-in (exit 3); an
    /// outage keeps it for the next try.
    async fn refresh(&mut self) -> Result<(), Failure> {
        let mut token = self.token();
        let Identity::Admin { store, credentials } = &mut self.identity else {
            return Ok(());
        };
        let request = RefreshTokensRequest {
            refresh_token: credentials.refresh_token.clone(),
            client: None,
        };
        let auth = match token.refresh_tokens(request).await {
            Ok(response) => response.into_inner().auth,
            Err(status) => {
                let failure = Failure::from_sign_in("refresh the sign-in", &status);
                if failure.exit() == crate::failure::Exit::Auth {
                    store.forget(&self.server)?;
                    return Err(Failure::not_signed_in(format!(
                        "{failure}; signed out of {}: log in again",
                        self.server
                    )));
                }
                return Err(failure);
            }
        };
        let auth = auth.ok_or_else(|| Failure::other("RefreshTokens answered no tokens"))?;
        apply(credentials, &auth);
        store.save(&self.server, credentials)
    }
}

/// `credentials` after a rotation to `auth`.
pub(crate) fn apply(credentials: &mut Credentials, auth: &AuthResult) {
    credentials.access_token.clone_from(&auth.access_token);
    credentials.refresh_token.clone_from(&auth.refresh_token);
    credentials.session_id.clone_from(&auth.session_id);
    credentials.access_token_expires_at = auth
        .access_token_expires_at
        .as_ref()
        .and_then(crate::view::time)
        .unwrap_or_else(Utc::now);
    credentials.refresh_token_expires_at = auth
        .refresh_token_expires_at
        .as_ref()
        .and_then(crate::view::time);
}

fn token_expired(status: &Status) -> bool {
    status.code() == Code::Unauthenticated
        && status
            .get_details_error_info()
            .is_some_and(|info| info.reason == "TOKEN_EXPIRED")
}
