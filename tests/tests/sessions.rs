//! Devices: listing, revoking one or all, and what another user may see.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use futures::StreamExt;
use latch_domain::events::{Channel, EventPayload};
use latch_proto::latch::{
    identity::v1::{LoginRequest, login_response},
    session::v1::{
        GetSessionRequest, ListSessionsRequest, RevokeAllSessionsRequest, RevokeSessionRequest,
        ValidateSessionRequest,
    },
    token::v1::RefreshTokensRequest,
};
use latch_tests::{PASSWORD, TestLatchd, bearer, e2e, must, reason};
use tonic::Code;

e2e!(
    devices_are_listed_and_revocable,
    another_users_session_is_off_limits,
    revoke_all_keeps_the_current_one,
    revocation_is_published
);

async fn login(
    latchd: &TestLatchd,
    email: &str,
    user_agent: &str,
) -> latch_proto::latch::common::v1::AuthResult {
    let response = must(
        latchd
            .identity()
            .login(latchd.internal(LoginRequest {
                email: email.into(),
                password: PASSWORD.into(),
                client: Some(latch_proto::latch::common::v1::ClientInfo {
                    ip: "203.0.113.7".into(),
                    user_agent: user_agent.into(),
                }),
            }))
            .await,
        "login",
    )
    .into_inner();
    match response.result {
        Some(login_response::Result::Auth(auth)) => auth,
        other => panic!("expected tokens, got {other:?}"),
    }
}

const FIREFOX_LINUX: &str =
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

async fn devices_are_listed_and_revocable(latchd: TestLatchd) {
    let first = latchd
        .sign_up("devices@example.com")
        .await
        .auth
        .expect("auth");
    let laptop = login(&latchd, "devices@example.com", FIREFOX_LINUX).await;

    let sessions = must(
        latchd
            .session()
            .list_sessions(bearer(ListSessionsRequest::default(), &first.access_token))
            .await,
        "list",
    )
    .into_inner()
    .sessions;
    assert_eq!(sessions.len(), 2);
    let current: Vec<&str> = sessions
        .iter()
        .filter(|s| s.current)
        .map(|s| s.id.as_str())
        .collect();
    assert_eq!(current, [first.session_id.as_str()]);
    let other = sessions
        .iter()
        .find(|s| s.id == laptop.session_id)
        .expect("laptop listed");
    assert_eq!(
        other.browser, "Firefox",
        "parsed from the gateway-provided user agent"
    );
    assert_eq!(
        other.ip, "203.0.113.7",
        "client info trusted from a service-credential caller"
    );

    must(
        latchd
            .session()
            .revoke_session(bearer(
                RevokeSessionRequest {
                    session_id: laptop.session_id.clone(),
                    reason: "lost laptop".into(),
                },
                &first.access_token,
            ))
            .await,
        "revoke",
    );
    let valid = must(
        latchd
            .session()
            .validate_session(latchd.internal(ValidateSessionRequest {
                session_id: laptop.session_id.clone(),
            }))
            .await,
        "validate",
    )
    .into_inner();
    assert!(!valid.valid);
    let err = latchd
        .token()
        .refresh_tokens(RefreshTokensRequest {
            refresh_token: laptop.refresh_token,
            client: None,
        })
        .await
        .expect_err("revoked session cannot refresh");
    assert_eq!(err.code(), Code::Unauthenticated);
}

async fn another_users_session_is_off_limits(latchd: TestLatchd) {
    let alice = latchd
        .sign_up("alice@example.com")
        .await
        .auth
        .expect("auth");
    let mallory = latchd
        .sign_up("mallory@example.com")
        .await
        .auth
        .expect("auth");
    let err = latchd
        .session()
        .get_session(bearer(
            GetSessionRequest {
                session_id: alice.session_id.clone(),
            },
            &mallory.access_token,
        ))
        .await
        .expect_err("not hers");
    assert_eq!(err.code(), Code::PermissionDenied);
    assert_eq!(reason(&err), "ACCESS_DENIED");

    let err = latchd
        .session()
        .list_sessions(bearer(
            ListSessionsRequest {
                user_id: alice.user_id.clone(),
                ..Default::default()
            },
            &mallory.access_token,
        ))
        .await
        .expect_err("not her devices");
    assert_eq!(err.code(), Code::PermissionDenied);

    let err = latchd
        .session()
        .get_session(bearer(
            GetSessionRequest {
                session_id: "AAAAAAAAAAAAAAAAAAAAAA".into(),
            },
            &alice.access_token,
        ))
        .await
        .expect_err("unknown");
    assert_eq!(err.code(), Code::NotFound);
    let err = latchd
        .session()
        .get_session(bearer(
            GetSessionRequest {
                session_id: "../x".into(),
            },
            &alice.access_token,
        ))
        .await
        .expect_err("malformed");
    assert_eq!(err.code(), Code::InvalidArgument);

    let err = latchd
        .session()
        .validate_session(ValidateSessionRequest {
            session_id: alice.session_id,
        })
        .await
        .expect_err("internal RPC without the credential");
    assert_eq!(reason(&err), "SERVICE_CREDENTIAL_REQUIRED");
}

async fn revoke_all_keeps_the_current_one(latchd: TestLatchd) {
    let current = latchd.sign_up("many@example.com").await.auth.expect("auth");
    for _ in 0..3 {
        login(&latchd, "many@example.com", FIREFOX_LINUX).await;
    }
    let revoked = must(
        latchd
            .session()
            .revoke_all_sessions(bearer(
                RevokeAllSessionsRequest {
                    user_id: String::new(),
                    except_session_id: current.session_id.clone(),
                    reason: "sign out elsewhere".into(),
                },
                &current.access_token,
            ))
            .await,
        "revoke all",
    )
    .into_inner()
    .revoked;
    assert_eq!(revoked, 3);
    let left = must(
        latchd
            .session()
            .list_sessions(bearer(
                ListSessionsRequest::default(),
                &current.access_token,
            ))
            .await,
        "list",
    )
    .into_inner()
    .sessions;
    assert_eq!(
        left.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        [current.session_id.as_str()]
    );
}

async fn revocation_is_published(latchd: TestLatchd) {
    let auth = latchd
        .sign_up("events@example.com")
        .await
        .auth
        .expect("auth");
    let mut events = must(
        latchd.infra.bus.subscribe(Channel::SessionRevoked).await,
        "subscribe",
    );
    must(
        latchd
            .identity()
            .logout(bearer(
                latch_proto::latch::identity::v1::LogoutRequest {},
                &auth.access_token,
            ))
            .await,
        "logout",
    );
    let event = tokio::time::timeout(std::time::Duration::from_secs(5), events.next())
        .await
        .expect("event within 5 s")
        .expect("stream open");
    match event.payload {
        EventPayload::SessionRevoked {
            session_id, reason, ..
        } => {
            assert_eq!(session_id.as_str(), auth.session_id);
            assert_eq!(reason, "logout");
        }
        other => panic!("unexpected {other:?}"),
    }
}
