//! Activity keeps a session alive, over gRPC on both backends: a refresh
//! and every authenticated call move the idle expiry, so a user who only
//! refreshes is not logged out after seven idle-looking days, while a
//! session nobody uses still ends.

#![allow(clippy::expect_used, clippy::unwrap_used)] // a failing test should panic

use std::time::Duration;

use chrono::TimeDelta;
use latch_domain::Clock;
use latch_proto::latch::{
    common::v1::AuthResult, identity::v1::GetUserRequest, session::v1::GetSessionRequest,
    session::v1::ListSessionsRequest, token::v1::RefreshTokensRequest,
};
use latch_runtime::config::MapSource;
use latch_tests::{TestLatchd, bearer, e2e, must, reason};

async fn refresh(latchd: &TestLatchd, auth: &AuthResult) -> AuthResult {
    let request = RefreshTokensRequest {
        refresh_token: auth.refresh_token.clone(),
        client: None,
    };
    must(latchd.token().refresh_tokens(request).await, "refresh")
        .into_inner()
        .auth
        .unwrap()
}

async fn get_user(latchd: &TestLatchd, auth: &AuthResult) -> Result<(), tonic::Status> {
    latchd
        .identity()
        .get_user(bearer(GetUserRequest::default(), &auth.access_token))
        .await
        .map(drop)
}

/// The live sessions of `auth`'s user, by id.
async fn live_sessions(latchd: &TestLatchd, auth: &AuthResult) -> Vec<String> {
    let request = bearer(ListSessionsRequest::default(), &auth.access_token);
    let mut ids: Vec<String> = must(latchd.session().list_sessions(request).await, "list")
        .into_inner()
        .sessions
        .into_iter()
        .map(|s| s.id)
        .collect();
    ids.sort();
    ids
}

e2e!(a_user_who_only_refreshes_outlives_the_idle_ttl);

async fn a_user_who_only_refreshes_outlives_the_idle_ttl(latchd: TestLatchd) {
    latchd.sign_up("ada@example.com").await;
    let mut kept = latchd.login("ada@example.com").await;
    let forgotten = latchd.login("ada@example.com").await;

    // Six days at a time: twelve days after sign-in, five past the 7-day
    // idle TTL, the refreshed session lives.
    for _ in 0..2 {
        latchd.clock.advance(TimeDelta::days(6));
        kept = refresh(&latchd, &kept).await;
    }
    must(
        get_user(&latchd, &kept).await,
        "the refreshed session signs calls",
    );
    assert_eq!(
        live_sessions(&latchd, &kept).await,
        [kept.session_id.clone()],
        "the session nobody used ended as idle"
    );
    assert_ne!(kept.session_id, forgotten.session_id);
}

fn short_idle() -> MapSource {
    MapSource::new()
        .with("LATCH_SESSION_IDLE_TTL", "10m")
        .with("LATCH_SESSION_TOUCH_INTERVAL", "1m")
}

e2e!(settings = short_idle; every_authenticated_call_is_activity);

/// With a 10-minute idle TTL, a call at minute 6 carries a session to
/// minute 12 (an access token lives 15); the same session unused ends.
async fn every_authenticated_call_is_activity(latchd: TestLatchd) {
    latchd.sign_up("ada@example.com").await;
    let used = latchd.login("ada@example.com").await;
    let unused = latchd.login("ada@example.com").await;

    latchd.clock.advance(TimeDelta::minutes(6));
    must(get_user(&latchd, &used).await, "a call at minute 6");
    // The touch runs beside the request, not in it: wait until it lands.
    let touched_at = latchd.clock.now();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let request = bearer(
            GetSessionRequest {
                session_id: used.session_id.clone(),
            },
            &used.access_token,
        );
        let session = must(latchd.session().get_session(request).await, "get session")
            .into_inner()
            .session
            .unwrap();
        let last = session.last_active_at.unwrap();
        if last.seconds == touched_at.timestamp() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "activity never recorded"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    latchd.clock.advance(TimeDelta::minutes(6));
    must(get_user(&latchd, &used).await, "alive at minute 12");
    let refused = get_user(&latchd, &unused).await.unwrap_err();
    assert_eq!(reason(&refused), "SESSION_REVOKED");
}
