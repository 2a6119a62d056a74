//! An example backend: a tiny gRPC API (`WhoAmI`) whose every call needs a
//! Latch access token, checked in process by `latch-client` in the
//! revocation-aware mode, so that a token of a session revoked in Latch
//! (Logout) is refused within about a second, not at its expiry.
//!
//! [`protect`] holds the few lines a real backend copies; [`serve`] puts the
//! layer in front of the API; `main.rs` reads the settings from the
//! environment.

use std::{future::Future, sync::Arc, time::Duration};

use latch_client::{
    Claims, ClientAuthLayer, DenylistRpc, GrpcKeySource, RevocationOptions, Revocations, Verifier,
    VerifyError,
};
use latch_proto::latch::{
    session::v1::session_service_client::SessionServiceClient,
    token::v1::token_service_client::TokenServiceClient,
};
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Request, Response, Status, transport::Channel};

/// The example's own API (`proto/whoami.proto`).
#[allow(unreachable_pub, clippy::all)]
pub mod pb {
    tonic::include_proto!("example.backend.v1");
}

/// Where the revocations come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevocationSource {
    /// Poll `SessionService.ListRevokedSessions`.
    Poll,
    /// Follow `session:revoked` on Latch's Redis (`key_prefix` is Latch's
    /// `LATCH_REDIS_PREFIX`), with one read of the list after each
    /// (re)subscription.
    Redis { url: String, key_prefix: String },
}

/// What the backend needs to know about Latch.
#[derive(Debug, Clone)]
pub struct Settings {
    /// A channel to Latch (latchd, or a balancer in front of the token and
    /// session services).
    pub latch: Channel,
    /// This backend's service account, `<name>.<secret>`; its list names
    /// `latch.session.v1.SessionService/ListRevokedSessions`.
    pub credential: String,
    pub source: RevocationSource,
    /// Latch's `LATCH_TOKEN_ISSUER` and `LATCH_TOKEN_AUDIENCE`.
    pub issuer: String,
    pub audience: String,
    pub revocation: RevocationOptions,
}

impl Settings {
    /// Latch's defaults: issuer and audience `latch`, the list polled every
    /// 500 ms, refusing while it cannot be.
    pub fn new(latch: Channel, credential: impl Into<String>, source: RevocationSource) -> Self {
        Self {
            latch,
            credential: credential.into(),
            source,
            issuer: "latch".to_owned(),
            audience: "latch".to_owned(),
            revocation: RevocationOptions::default(),
        }
    }
}

/// The few lines: a revocation-aware verifier of Latch access tokens (keys
/// from GetJwks), as a tower layer for the backend's tonic server. Fails
/// when Latch cannot be reached within a few seconds.
pub async fn protect(settings: &Settings) -> Result<ClientAuthLayer, VerifyError> {
    let rpc = DenylistRpc::new(
        SessionServiceClient::new(settings.latch.clone()),
        &settings.credential,
    )?;
    let revocations = Arc::new(match &settings.source {
        RevocationSource::Poll => Revocations::poll(rpc, settings.revocation),
        RevocationSource::Redis { url, key_prefix } => {
            Revocations::subscribe(url, key_prefix, Some(rpc), settings.revocation)?
        }
    });
    revocations.ready(Duration::from_secs(5)).await?;
    let keys = GrpcKeySource::new(TokenServiceClient::new(settings.latch.clone()));
    let verifier = Verifier::new(Arc::new(keys), &settings.issuer, &settings.audience)
        .with_cache(Verifier::DEFAULT_CACHE_CAPACITY)
        .with_revocations(revocations);
    verifier.refresh().await?;
    Ok(ClientAuthLayer::new(Arc::new(verifier)))
}

/// Serves the API behind `layer` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    layer: ClientAuthLayer,
    shutdown: impl Future<Output = ()>,
) -> Result<(), tonic::transport::Error> {
    tonic::transport::Server::builder()
        .layer(layer)
        .add_service(pb::who_am_i_service_server::WhoAmIServiceServer::new(
            WhoAmI,
        ))
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown)
        .await
}

/// The API: it reads the claims the layer left in the request.
struct WhoAmI;

#[tonic::async_trait]
impl pb::who_am_i_service_server::WhoAmIService for WhoAmI {
    async fn who_am_i(
        &self,
        request: Request<pb::WhoAmIRequest>,
    ) -> Result<Response<pb::WhoAmIResponse>, Status> {
        // The layer refuses every call without verified claims.
        let claims = request
            .extensions()
            .get::<Claims>()
            .ok_or_else(|| Status::unauthenticated("no verified access token"))?;
        Ok(Response::new(pb::WhoAmIResponse {
            user_id: claims.sub.clone(),
            session_id: claims.sid.clone(),
        }))
    }
}
