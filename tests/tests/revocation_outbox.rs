//! Revocation through the outbox, end to end.
//!
//! - The five services as separate servers on PostgreSQL + Redis: the token
//!   server is stopped, RevokeSession and Logout still succeed, the session
//!   stays dead once every cache has expired, and when a token server is
//!   back the session server's outbox worker revokes the refresh families.
//! - latchd on both backends: the families of a revoked session are revoked
//!   by the outbox worker; ListSessions pages with a cursor; ended sessions
//!   are deleted after the retention.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::{collections::HashMap, future::Future, net::SocketAddr, sync::Arc, time::Duration};

use latch_domain::{
    Clock, Result, SystemClock,
    model::RefreshFamily,
    ports::{OutboxRepository, OutboxStatus, RefreshTokenRepository},
    secret::sha256,
};
use latch_proto::latch::{
    identity::v1::{
        GetUserRequest, LoginRequest, LogoutRequest,
        identity_service_client::IdentityServiceClient, login_response,
    },
    session::v1::{
        GetSessionRequest, ListSessionsRequest, RevokeSessionRequest, ValidateSessionRequest,
        session_service_client::SessionServiceClient,
    },
    token::v1::{RefreshTokensRequest, token_service_client::TokenServiceClient},
};
use latch_runtime::{
    auth::SERVICE_TOKEN_HEADER,
    binary::{Assembled, Context},
    config::MapSource,
    infra::Infra,
    secrets::Secrets,
    server,
};
use latch_store::{
    Database,
    sql::{SqlOutbox, SqlRefreshTokens},
};
use latch_testkit::{TestDatabase, TestRedis};
use latch_tests::{PASSWORD, TestLatchd, bearer, e2e, must, reason, sign_up_request};
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};
use tonic::{Code, Request, metadata::MetadataValue, transport::Channel};

const SERVICES: [&str; 5] = ["identity", "token", "session", "authorization", "profile"];

/// A server that can be stopped like a killed pod and started again on the
/// same address.
struct Running {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

async fn serve(name: &'static str, assembled: Assembled, listener: TcpListener) -> Running {
    let (stop, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let stopped = async {
            let _ = rx.await;
        };
        if let Err(err) =
            server::serve(assembled.services, listener, assembled.guard, stopped).await
        {
            eprintln!("{name} stopped: {err}");
        }
    });
    Running { stop, task }
}

impl Running {
    /// Stops accepting and closes its connections; returns once the port
    /// is free.
    async fn kill(self) {
        let _ = self.stop.send(());
        let mut task = self.task;
        if tokio::time::timeout(Duration::from_secs(10), &mut task)
            .await
            .is_err()
        {
            task.abort();
        }
    }
}

async fn assembled(assembled: impl Future<Output = Result<Assembled>>) -> Assembled {
    must(assembled.await, "assemble")
}

fn channel(addr: SocketAddr) -> Channel {
    must(
        Channel::from_shared(format!("http://{addr}")).map(|e| e.connect_lazy()),
        "channel",
    )
}

fn internal<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    let value = must(MetadataValue::try_from(token), "token metadata");
    request.metadata_mut().insert(SERVICE_TOKEN_HEADER, value);
    request
}

/// The family of a refresh token, as stored.
async fn family_of(db: &Database, refresh_token: &str) -> RefreshFamily {
    SqlRefreshTokens::new(db.clone())
        .find_by_hash(&sha256(refresh_token))
        .await
        .expect("read the family")
        .expect("the family exists")
        .1
}

/// Polls until the family of `refresh_token` is revoked.
async fn eventually_revoked(db: &Database, refresh_token: &str, within: Duration) -> RefreshFamily {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let family = family_of(db, refresh_token).await;
        if family.revoked_at.is_some() {
            return family;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the family was not revoked within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_while_the_token_service_is_down_holds_and_completes_later() {
    let Some(db) = TestDatabase::postgres().await else {
        eprintln!(
            "LATCH_TEST_DATABASE_URL unset: the separate-services run needs PostgreSQL + Redis"
        );
        return;
    };
    let redis = TestRedis::from_env()
        .await
        .expect("LATCH_TEST_REDIS_URL must be set with LATCH_TEST_DATABASE_URL");
    let redis_url = std::env::var("LATCH_TEST_REDIS_URL").expect("redis url");
    let secrets = must(Secrets::generate(), "secrets");
    let service_token = secrets.service_token.expose().clone();

    let mut listeners = HashMap::new();
    let mut settings = MapSource::new()
        // Short caches, so "after the cache TTL" comes in a test's time.
        .with("LATCH_SESSION_CACHE_TTL", "1s")
        .with("LATCH_SESSION_LOCAL_CACHE_TTL", "0")
        .with("LATCH_OUTBOX_POLL_INTERVAL", "50ms")
        .with("LATCH_OUTBOX_RETRY_BACKOFF", "100ms");
    for name in SERVICES {
        let listener = must(TcpListener::bind("127.0.0.1:0").await, "bind");
        let addr = must(listener.local_addr(), "addr");
        settings.set(
            &format!("LATCH_{}_URL", name.to_uppercase()),
            format!("http://{addr}"),
        );
        listeners.insert(name, (listener, addr));
    }
    let source: Arc<MapSource> = Arc::new(settings);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let context = || Context {
        source: source.clone(),
        secrets: secrets.clone(),
        infra: must(
            Infra::with_redis(db.db().clone(), redis.clone(), &redis_url),
            "infra",
        ),
        clock: clock.clone(),
    };

    let mut servers = HashMap::new();
    let mut addrs = HashMap::new();
    for name in SERVICES {
        let assembled = match name {
            "identity" => assembled(latch_identity::standalone::assemble(context())).await,
            "token" => assembled(latch_token::standalone::assemble(context())).await,
            "session" => assembled(latch_session::standalone::assemble(context())).await,
            "authorization" => {
                assembled(latch_authorization::standalone::assemble(context())).await
            }
            _ => assembled(latch_profile::standalone::assemble(context())).await,
        };
        let (listener, addr) = listeners.remove(name).expect("listener");
        servers.insert(name, serve(name, assembled, listener).await);
        addrs.insert(name, addr);
    }
    let identity = IdentityServiceClient::new(channel(addrs["identity"]));
    let session = SessionServiceClient::new(channel(addrs["session"]));
    let token = TokenServiceClient::new(channel(addrs["token"]));

    let signed_up = must(
        identity
            .clone()
            .sign_up(sign_up_request("outbox@example.com"))
            .await,
        "sign up",
    )
    .into_inner()
    .auth
    .expect("tokens");
    let login = must(
        identity
            .clone()
            .login(LoginRequest {
                email: "outbox@example.com".into(),
                password: PASSWORD.into(),
                client: None,
            })
            .await,
        "login",
    )
    .into_inner();
    let Some(login_response::Result::Auth(second)) = login.result else {
        panic!("expected tokens");
    };
    // Identity verifies bearer tokens against the token service's keys:
    // fetched now, while it is up, as a running deployment has them.
    must(
        identity
            .clone()
            .get_user(bearer(GetUserRequest::default(), &second.access_token))
            .await,
        "get user",
    );

    // The token service goes down.
    servers.remove("token").expect("token server").kill().await;
    let err = token
        .clone()
        .refresh_tokens(RefreshTokensRequest {
            refresh_token: signed_up.refresh_token.clone(),
            client: None,
        })
        .await
        .expect_err("the token service is down");
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");

    // Both revocations succeed without it.
    must(
        session
            .clone()
            .revoke_session(internal(
                RevokeSessionRequest {
                    session_id: signed_up.session_id.clone(),
                    reason: "lost phone".into(),
                },
                &service_token,
            ))
            .await,
        "RevokeSession with the token service down",
    );
    must(
        identity
            .clone()
            .logout(bearer(LogoutRequest {}, &second.access_token))
            .await,
        "Logout with the token service down",
    );

    // Past the cache TTL the sessions are still dead: the database says so.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    for id in [&signed_up.session_id, &second.session_id] {
        let validated = must(
            session
                .clone()
                .validate_session(internal(
                    ValidateSessionRequest {
                        session_id: id.clone(),
                    },
                    &service_token,
                ))
                .await,
            "validate",
        )
        .into_inner();
        assert!(!validated.valid, "revoked for good");
    }
    // The families wait for the token service, with the outbox row retrying.
    for refresh in [&signed_up.refresh_token, &second.refresh_token] {
        assert_eq!(family_of(db.db(), refresh).await.revoked_at, None);
    }
    let outbox = SqlOutbox::new(db.db().clone());
    let pending = must(
        outbox.find_by_key(&signed_up.session_id).await,
        "outbox rows",
    );
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].kind, latch_session::follow_up::REVOKE_FAMILIES);
    assert_eq!(pending[0].status, OutboxStatus::Pending);
    assert!(
        pending[0].attempts >= 1 && pending[0].last_error.is_some(),
        "{pending:?}"
    );

    // A token server comes back on the same address: the outbox delivers.
    let listener = must(
        TcpListener::bind(addrs["token"]).await,
        "rebind the token port",
    );
    let restarted = assembled(latch_token::standalone::assemble(context())).await;
    let _token_server = serve("token", restarted, listener).await;
    for refresh in [&signed_up.refresh_token, &second.refresh_token] {
        let family = eventually_revoked(db.db(), refresh, Duration::from_secs(20)).await;
        assert!(family.revoked_reason.is_some());
        let err = token
            .clone()
            .refresh_tokens(RefreshTokensRequest {
                refresh_token: refresh.clone(),
                client: None,
            })
            .await
            .expect_err("a revoked session's refresh token is dead");
        assert_eq!(reason(&err), "SESSION_REVOKED");
    }
    let done = must(
        outbox.find_by_key(&signed_up.session_id).await,
        "outbox rows",
    );
    assert_eq!(done[0].status, OutboxStatus::Done);
    drop(servers);
}

/// A short cleanup interval and the shortest retention.
fn fast_follow_up() -> MapSource {
    MapSource::new()
        .with("LATCH_OUTBOX_POLL_INTERVAL", "20ms")
        .with("LATCH_SESSION_RETENTION", "1m")
        .with("LATCH_SESSION_CLEANUP_INTERVAL", "1s")
}

e2e!(settings = fast_follow_up;
    revoking_a_session_revokes_its_families_through_the_outbox,
    list_sessions_pages_with_a_cursor,
    ended_sessions_are_deleted_after_the_retention,
);

async fn login(latchd: &TestLatchd, email: &str) -> latch_proto::latch::common::v1::AuthResult {
    let login = must(
        latchd
            .identity()
            .login(LoginRequest {
                email: email.into(),
                password: PASSWORD.into(),
                client: None,
            })
            .await,
        "login",
    )
    .into_inner();
    match login.result {
        Some(login_response::Result::Auth(auth)) => auth,
        other => panic!("expected tokens, got {other:?}"),
    }
}

async fn revoking_a_session_revokes_its_families_through_the_outbox(latchd: TestLatchd) {
    let auth = latchd
        .sign_up("outbox-latchd@example.com")
        .await
        .auth
        .expect("auth");
    must(
        latchd
            .identity()
            .logout(bearer(LogoutRequest {}, &auth.access_token))
            .await,
        "logout",
    );
    let family = eventually_revoked(
        &latchd.infra.db,
        &auth.refresh_token,
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(family.revoked_reason.as_deref(), Some("logout"));
    let rows = must(
        SqlOutbox::new(latchd.infra.db.clone())
            .find_by_key(&auth.session_id)
            .await,
        "outbox",
    );
    assert_eq!(rows.len(), 1);
    // Done is written just after the families are revoked.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let rows = must(
            SqlOutbox::new(latchd.infra.db.clone())
                .find_by_key(&auth.session_id)
                .await,
            "outbox",
        );
        if rows[0].status == OutboxStatus::Done {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{rows:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn list_sessions_pages_with_a_cursor(latchd: TestLatchd) {
    let email = "pages@example.com";
    let first = latchd.sign_up(email).await.auth.expect("auth");
    let mut ids = vec![first.session_id.clone()];
    for _ in 0..4 {
        // Each later session is more recently active.
        latchd.clock.advance(chrono::Duration::seconds(1));
        ids.push(login(&latchd, email).await.session_id);
    }
    ids.reverse();

    let mut listed = Vec::new();
    let mut page_token = String::new();
    let mut pages = 0;
    loop {
        let page = must(
            latchd
                .session()
                .list_sessions(bearer(
                    ListSessionsRequest {
                        page_size: 2,
                        page_token: page_token.clone(),
                        ..Default::default()
                    },
                    &first.access_token,
                ))
                .await,
            "list sessions",
        )
        .into_inner();
        assert!(page.sessions.len() <= 2);
        listed.extend(page.sessions.into_iter().map(|s| s.id));
        pages += 1;
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    assert_eq!(listed, ids, "most recently active first, each once");
    assert_eq!(pages, 3);

    let err = latchd
        .session()
        .list_sessions(bearer(
            ListSessionsRequest {
                page_token: "o2".into(),
                ..Default::default()
            },
            &first.access_token,
        ))
        .await
        .expect_err("not a token this server issued");
    assert_eq!(err.code(), Code::InvalidArgument);
}

async fn ended_sessions_are_deleted_after_the_retention(latchd: TestLatchd) {
    let email = "retention@example.com";
    let keeper = latchd.sign_up(email).await.auth.expect("auth");
    let gone = login(&latchd, email).await;
    must(
        latchd
            .session()
            .revoke_session(bearer(
                RevokeSessionRequest {
                    session_id: gone.session_id.clone(),
                    reason: String::new(),
                },
                &keeper.access_token,
            ))
            .await,
        "revoke",
    );
    let get = |id: String| {
        let mut client = latchd.session();
        let request = bearer(GetSessionRequest { session_id: id }, &keeper.access_token);
        async move { client.get_session(request).await }
    };
    // Kept through the retention, for GetSession and incidents.
    let revoked = must(get(gone.session_id.clone()).await, "get").into_inner();
    assert!(revoked.session.and_then(|s| s.revoked_at).is_some());

    latchd.clock.advance(chrono::Duration::minutes(2));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        match get(gone.session_id.clone()).await {
            Err(status) if status.code() == Code::NotFound => break,
            other => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "still there: {other:?}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    must(
        get(keeper.session_id.clone()).await,
        "the live session stays",
    );
}
