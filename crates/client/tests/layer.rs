//! The layer in front of a real tonic server, with keys fetched over gRPC
//! from a stand-in token service.

#![allow(clippy::unwrap_used)]

mod common;

use std::{net::SocketAddr, sync::Arc};

use common::{AUDIENCE, ISSUER, TestKey, claims, jwks};
use latch_client::{Claims, ClientAuthLayer, GrpcKeySource, Verifier};
use latch_proto::latch::token::v1::{
    AccessTokenClaims, GetJwksRequest, GetJwksResponse, ValidateAccessTokenRequest,
    ValidateAccessTokenResponse,
    token_service_client::TokenServiceClient,
    token_service_server::{TokenService, TokenServiceServer},
};
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Code, Request, Response, Status, transport::Channel};
use tonic_types::StatusExt;

/// Serves a fixed JWKS, and echoes the claims the layer left in the
/// request extensions back from ValidateAccessToken.
struct StandIn {
    jwks_json: String,
}

#[tonic::async_trait]
impl TokenService for StandIn {
    async fn get_jwks(
        &self,
        _: Request<GetJwksRequest>,
    ) -> Result<Response<GetJwksResponse>, Status> {
        Ok(Response::new(GetJwksResponse {
            jwks_json: self.jwks_json.clone(),
        }))
    }

    async fn validate_access_token(
        &self,
        request: Request<ValidateAccessTokenRequest>,
    ) -> Result<Response<ValidateAccessTokenResponse>, Status> {
        let claims = request
            .extensions()
            .get::<Claims>()
            .ok_or_else(|| Status::internal("no claims in the extensions"))?;
        Ok(Response::new(ValidateAccessTokenResponse {
            claims: Some(AccessTokenClaims {
                sub: claims.sub.clone(),
                sid: claims.sid.clone(),
                roles: claims.roles.clone(),
                ..Default::default()
            }),
        }))
    }
}

async fn serve(service: StandIn, layer: Option<ClientAuthLayer>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let incoming = TcpListenerStream::new(listener);
    let service = TokenServiceServer::new(service);
    tokio::spawn(async move {
        let mut builder = tonic::transport::Server::builder();
        match layer {
            Some(layer) => {
                builder
                    .layer(layer)
                    .add_service(service)
                    .serve_with_incoming(incoming)
                    .await
            }
            None => {
                builder
                    .add_service(service)
                    .serve_with_incoming(incoming)
                    .await
            }
        }
    });
    addr
}

async fn client(addr: SocketAddr) -> TokenServiceClient<Channel> {
    TokenServiceClient::connect(format!("http://{addr}"))
        .await
        .unwrap()
}

/// A backend protected by the layer, whose verifier fetches keys over gRPC.
async fn backend(key: &TestKey) -> TokenServiceClient<Channel> {
    let jwks_json = serde_json::to_string(&jwks(&[key])).unwrap();
    let token_service = serve(
        StandIn {
            jwks_json: jwks_json.clone(),
        },
        None,
    )
    .await;
    let source = GrpcKeySource::new(client(token_service).await);
    // Test tokens carry fixed times; pin the clock so the date does not matter.
    let verifier = Verifier::new(Arc::new(source), ISSUER, AUDIENCE).with_clock(|| common::NOW);
    let layer = ClientAuthLayer::new(Arc::new(verifier))
        .allow_path_prefix("/latch.token.v1.TokenService/GetJwks");
    client(serve(StandIn { jwks_json }, Some(layer)).await).await
}

fn call(token: Option<&str>) -> Request<ValidateAccessTokenRequest> {
    let mut request = Request::new(ValidateAccessTokenRequest::default());
    if let Some(token) = token {
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    request
}

fn reason(status: &Status) -> Option<String> {
    status.get_details_error_info().map(|info| info.reason)
}

#[tokio::test]
async fn a_valid_token_reaches_the_handler_with_its_claims() {
    let key = TestKey::new("k1", 1);
    let mut backend = backend(&key).await;
    let token = key.sign(&claims());
    let seen = backend
        .validate_access_token(call(Some(&token)))
        .await
        .unwrap()
        .into_inner()
        .claims
        .unwrap();
    assert_eq!(seen.sub, claims().sub);
    assert_eq!(seen.sid, claims().sid);
    assert_eq!(seen.roles, claims().roles);
}

#[tokio::test]
async fn missing_forged_and_expired_tokens_are_unauthenticated() {
    let key = TestKey::new("k1", 1);
    let mut backend = backend(&key).await;

    let status = backend.validate_access_token(call(None)).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(reason(&status).as_deref(), Some("TOKEN_INVALID"));

    let forged = TestKey::new("k1", 42).sign(&claims());
    let status = backend
        .validate_access_token(call(Some(&forged)))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(reason(&status).as_deref(), Some("TOKEN_INVALID"));

    let mut old = claims();
    old.exp = common::NOW - 1;
    let status = backend
        .validate_access_token(call(Some(&key.sign(&old))))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(reason(&status).as_deref(), Some("TOKEN_EXPIRED"));
}

#[tokio::test]
async fn public_paths_need_no_token() {
    let key = TestKey::new("k1", 1);
    let mut backend = backend(&key).await;
    let jwks = backend
        .get_jwks(GetJwksRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(jwks.jwks_json.contains(&key.kid));
}
