//! The revocation-aware mode polling a stand-in SessionService over real
//! gRPC: a revoked session's token is refused within a poll, and a list
//! that cannot be polled refuses everything (or nothing, when told).

#![allow(clippy::unwrap_used)]

mod common;

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use common::{AUDIENCE, ISSUER, NOW, TestKey, claims, jwks};
use latch_client::{
    DenylistRpc, OnSourceLost, RevocationOptions, Revocations, StaticKeySource, Verifier,
    VerifyError,
};
use latch_proto::latch::session::v1::{
    ListRevokedSessionsRequest, ListRevokedSessionsResponse, RevokedSession,
    session_service_client::SessionServiceClient,
    session_service_server::{SessionService, SessionServiceServer},
};
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Request, Response, Status};

const CREDENTIAL: &str = "billing.be-Qw3Er5Ty7Ui9Op1As3Df5Gh7Jk9Lz2Xc4Vb6Nm8";

/// Answers with every entry it holds, or UNAVAILABLE while down; refuses
/// a caller without the account credential.
#[derive(Default)]
struct State {
    revoked: Mutex<Vec<String>>,
    down: Mutex<bool>,
}

struct StandIn(Arc<State>);

#[tonic::async_trait]
impl SessionService for StandIn {
    async fn list_revoked_sessions(
        &self,
        request: Request<ListRevokedSessionsRequest>,
    ) -> Result<Response<ListRevokedSessionsResponse>, Status> {
        let credential = request.metadata().get("x-latch-service-account");
        if credential.and_then(|v| v.to_str().ok()) != Some(CREDENTIAL) {
            return Err(Status::unauthenticated("no account"));
        }
        if *self.0.down.lock().unwrap() {
            return Err(Status::unavailable("down"));
        }
        let sessions = self
            .0
            .revoked
            .lock()
            .unwrap()
            .iter()
            .map(|id| RevokedSession {
                session_id: id.clone(),
                revoked_at: Some(prost_types::Timestamp {
                    seconds: NOW,
                    nanos: 0,
                }),
                expires_at: Some(prost_types::Timestamp {
                    seconds: NOW + 960,
                    nanos: 0,
                }),
            })
            .collect();
        Ok(Response::new(ListRevokedSessionsResponse {
            sessions,
            next_cursor: "opaque".to_owned(),
            more: false,
        }))
    }
}

async fn serve(state: Arc<State>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(SessionServiceServer::new(StandIn(state)))
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    addr
}

async fn rpc(addr: SocketAddr, credential: &str) -> DenylistRpc {
    let client = SessionServiceClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    DenylistRpc::new(client, credential).unwrap()
}

fn options(on_source_lost: OnSourceLost) -> RevocationOptions {
    RevocationOptions {
        interval: Duration::from_millis(50),
        max_staleness: Duration::from_millis(300),
        on_source_lost,
        ..RevocationOptions::default()
    }
}

fn verifier(key: &TestKey, revocations: Arc<Revocations>) -> Verifier {
    Verifier::new(Arc::new(StaticKeySource(jwks(&[key]))), ISSUER, AUDIENCE)
        .with_cache(16)
        .with_revocations(revocations)
}

/// Polls `verifier` until it answers `expected`, for at most a second.
async fn within_a_second(verifier: &Verifier, token: &str, expected: Result<(), VerifyError>) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
    loop {
        let got = verifier.verify_at(token, NOW).await.map(|_| ());
        if got == expected {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still {got:?}, expected {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_revoked_session_is_refused_within_a_poll_and_a_lost_list_refuses_all() {
    let stand_in = Arc::new(State::default());
    let addr = serve(stand_in.clone()).await;
    let revocations = Arc::new(Revocations::poll(
        rpc(addr, CREDENTIAL).await,
        options(OnSourceLost::Refuse),
    ));
    revocations.ready(Duration::from_secs(2)).await.unwrap();
    let key = TestKey::new("k1", 1);
    let verifier = verifier(&key, revocations.clone());
    let token = key.sign(&claims());
    let other = key.sign(&latch_client::Claims {
        sid: "BBBBBBBBBBBBBBBBBBBBBB".to_owned(),
        ..claims()
    });
    assert_eq!(verifier.verify_at(&token, NOW).await, Ok(claims()));

    stand_in.revoked.lock().unwrap().push(claims().sid);
    within_a_second(&verifier, &token, Err(VerifyError::SessionRevoked)).await;
    assert!(verifier.verify_at(&other, NOW).await.is_ok(), "others pass");
    assert_eq!(revocations.len(), 1);

    *stand_in.down.lock().unwrap() = true;
    within_a_second(
        &verifier,
        &other,
        Err(VerifyError::RevocationsUnavailable(
            "the revocation list is not current",
        )),
    )
    .await;
    *stand_in.down.lock().unwrap() = false;
    within_a_second(&verifier, &other, Ok(())).await;
}

#[tokio::test]
async fn accepting_when_lost_keeps_refusing_known_revocations() {
    let stand_in = Arc::new(State::default());
    stand_in.revoked.lock().unwrap().push(claims().sid);
    let addr = serve(stand_in.clone()).await;
    let revocations = Arc::new(Revocations::poll(
        rpc(addr, CREDENTIAL).await,
        options(OnSourceLost::Accept),
    ));
    revocations.ready(Duration::from_secs(2)).await.unwrap();
    let key = TestKey::new("k1", 1);
    let verifier = verifier(&key, revocations.clone());
    let token = key.sign(&claims());
    let other = key.sign(&latch_client::Claims {
        sid: "BBBBBBBBBBBBBBBBBBBBBB".to_owned(),
        ..claims()
    });
    *stand_in.down.lock().unwrap() = true;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!revocations.is_current());
    assert!(verifier.verify_at(&other, NOW).await.is_ok());
    assert_eq!(
        verifier.verify_at(&token, NOW).await,
        Err(VerifyError::SessionRevoked)
    );
}

#[tokio::test]
async fn a_wrong_credential_never_makes_the_list_current() {
    let addr = serve(Arc::new(State::default())).await;
    let revocations = Revocations::poll(
        rpc(addr, "billing.wrong").await,
        options(OnSourceLost::Refuse),
    );
    assert_eq!(
        revocations.ready(Duration::from_millis(300)).await,
        Err(VerifyError::RevocationsUnavailable(
            "no revocation list yet"
        ))
    );
    assert!(matches!(
        DenylistRpc::new(
            SessionServiceClient::new(
                tonic::transport::Channel::from_static("http://127.0.0.1:1").connect_lazy()
            ),
            "line\nbreak"
        ),
        Err(VerifyError::RevocationsUnavailable(_))
    ));
}
