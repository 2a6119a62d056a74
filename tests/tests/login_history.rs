//! Reading login history over gRPC on both backends: one's own newest
//! first in pages, with the parsed device and the method; anyone's for an
//! administrator; the refusals; and old rows gone after the retention.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::time::Duration;

use latch_domain::{UserId, model::builtin};
use latch_proto::latch::{
    authorization::v1::AssignRoleRequest,
    common::v1::{AuthResult, ClientInfo},
    identity::v1::{
        GetUserRequest, ListLoginHistoryRequest, LoginHistoryEntry, LoginMethod, LoginRequest,
        login_response,
    },
};
use latch_runtime::config::MapSource;
use latch_tests::{PASSWORD, TestLatchd, bad_field, bearer, e2e, must, reason};
use tonic::{Code, Status};

e2e!(settings = retention;
    ones_own_history_is_newest_first_in_pages,
    an_administrator_reads_anyones_and_a_user_only_their_own,
    history_older_than_the_retention_is_deleted
);

fn retention() -> MapSource {
    MapSource::new()
        .with("LATCH_LOGIN_HISTORY_RETENTION", "1d")
        .with("LATCH_IDENTITY_CLEANUP_INTERVAL", "1s")
}

const FIREFOX_LINUX: &str =
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

/// A login as a gateway forwards it (its client information believed).
async fn login_from(
    latchd: &TestLatchd,
    email: &str,
    password: &str,
) -> Result<AuthResult, Status> {
    let response = latchd
        .identity()
        .login(latchd.internal(LoginRequest {
            email: email.into(),
            password: password.into(),
            client: Some(ClientInfo {
                ip: "198.51.100.23".into(),
                user_agent: FIREFOX_LINUX.into(),
            }),
        }))
        .await?
        .into_inner();
    match response.result {
        Some(login_response::Result::Auth(auth)) => Ok(auth),
        other => panic!("expected tokens, got {other:?}"),
    }
}

async fn history(
    latchd: &TestLatchd,
    request: ListLoginHistoryRequest,
    token: &str,
) -> Result<(Vec<LoginHistoryEntry>, String), Status> {
    latchd
        .identity()
        .list_login_history(bearer(request, token))
        .await
        .map(|r| {
            let r = r.into_inner();
            (r.entries, r.next_page_token)
        })
}

/// Every entry of `user_id` (empty = the caller), page by page.
async fn all_pages(latchd: &TestLatchd, user_id: &str, token: &str) -> Vec<LoginHistoryEntry> {
    let mut entries = Vec::new();
    let mut page_token = String::new();
    loop {
        let request = ListLoginHistoryRequest {
            user_id: user_id.to_owned(),
            page_size: 2,
            page_token: page_token.clone(),
        };
        let (page, next) = history(latchd, request, token).await.expect("page");
        assert!(page.len() <= 2);
        entries.extend(page);
        if next.is_empty() {
            return entries;
        }
        page_token = next;
    }
}

async fn ones_own_history_is_newest_first_in_pages(latchd: TestLatchd) {
    let email = "history@example.com";
    latchd.sign_up(email).await;
    latchd.clock.advance(chrono::Duration::seconds(1));
    login_from(&latchd, email, PASSWORD).await.expect("login");
    latchd.clock.advance(chrono::Duration::seconds(1));
    let err = login_from(&latchd, email, "wrong password entirely 42")
        .await
        .expect_err("wrong password");
    assert_eq!(reason(&err), "INVALID_CREDENTIALS");
    latchd.clock.advance(chrono::Duration::seconds(1));
    let auth = login_from(&latchd, email, PASSWORD).await.expect("login");

    // The refused attempt is recorded just after its answer.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let entries = loop {
        let entries = all_pages(&latchd, "", &auth.access_token).await;
        if entries.len() >= 3 || tokio::time::Instant::now() > deadline {
            break entries;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(entries.len(), 3, "{entries:?}");
    let times: Vec<_> = entries
        .iter()
        .map(|e| e.time.expect("time").seconds)
        .collect();
    let mut sorted = times.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(times, sorted, "newest first");
    assert_eq!(
        entries.iter().map(|e| e.success).collect::<Vec<_>>(),
        vec![true, false, true]
    );
    assert_eq!(entries[1].failure_reason, "INVALID_CREDENTIALS");
    for entry in &entries {
        assert_eq!(entry.method(), LoginMethod::Password);
        assert_eq!(entry.method_name, "password");
        assert_eq!(entry.ip, "198.51.100.23");
        assert_eq!(entry.user_agent, FIREFOX_LINUX);
        assert_eq!(entry.browser, "Firefox");
        assert_eq!(entry.os, "Linux");
        assert_eq!(entry.device, "desktop");
    }

    // last_login_at is the last successful sign-in.
    let user = must(
        latchd
            .identity()
            .get_user(bearer(GetUserRequest::default(), &auth.access_token))
            .await,
        "get user",
    )
    .into_inner()
    .user
    .expect("user");
    assert_eq!(user.last_login_at, entries[0].time);
}

async fn an_administrator_reads_anyones_and_a_user_only_their_own(latchd: TestLatchd) {
    let admin = latchd
        .sign_up("admin@example.org")
        .await
        .auth
        .expect("auth");
    must(
        latchd
            .authorization()
            .assign_role(latchd.internal(AssignRoleRequest {
                user_id: admin.user_id.clone(),
                role: builtin::ADMIN.into(),
            }))
            .await,
        "assign",
    );
    let alice = latchd
        .sign_up("alice@example.com")
        .await
        .auth
        .expect("auth");
    let bob = latchd.sign_up("bob@example.com").await.auth.expect("auth");
    login_from(&latchd, "alice@example.com", PASSWORD)
        .await
        .expect("login");

    let read = all_pages(&latchd, &alice.user_id, &admin.access_token).await;
    assert_eq!(read.len(), 1, "the administrator reads alice's");
    let own = all_pages(&latchd, &alice.user_id, &alice.access_token).await;
    assert_eq!(own, read);

    let for_alice = |page_size, page_token: &str| ListLoginHistoryRequest {
        user_id: alice.user_id.clone(),
        page_size,
        page_token: page_token.to_owned(),
    };
    let err = history(&latchd, for_alice(0, ""), &bob.access_token)
        .await
        .expect_err("another user's");
    assert_eq!(err.code(), Code::PermissionDenied);
    assert_eq!(reason(&err), "ACCESS_DENIED");
    let err = latchd
        .identity()
        .list_login_history(for_alice(0, ""))
        .await
        .expect_err("no token");
    assert_eq!(err.code(), Code::Unauthenticated);
    let unknown = ListLoginHistoryRequest {
        user_id: UserId::new().to_string(),
        ..Default::default()
    };
    let err = history(&latchd, unknown, &admin.access_token)
        .await
        .expect_err("unknown user");
    assert_eq!(err.code(), Code::NotFound);
    for (request, field) in [
        (for_alice(0, "garbage"), "page_token"),
        (for_alice(-5, ""), "page_size"),
        (
            ListLoginHistoryRequest {
                user_id: "not-a-uuid".into(),
                ..Default::default()
            },
            "user_id",
        ),
    ] {
        let err = history(&latchd, request, &admin.access_token)
            .await
            .expect_err(field);
        assert_eq!(err.code(), Code::InvalidArgument, "{field}");
        assert_eq!(bad_field(&err).as_deref(), Some(field));
    }
    let (capped, _) = history(&latchd, for_alice(1_000_000, ""), &admin.access_token)
        .await
        .expect("a huge page is capped, not refused");
    assert_eq!(capped, read);
}

async fn history_older_than_the_retention_is_deleted(latchd: TestLatchd) {
    let email = "forgotten@example.com";
    latchd.sign_up(email).await;
    login_from(&latchd, email, PASSWORD).await.expect("login");
    latchd.clock.advance(chrono::Duration::days(2));
    let auth = login_from(&latchd, email, PASSWORD).await.expect("login");

    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let entries = all_pages(&latchd, "", &auth.access_token).await;
        if entries.len() == 1 {
            assert_eq!(
                entries[0].time,
                Some(latch_runtime::convert::timestamp(latchd_now(&latchd)))
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the old attempt is still there: {entries:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn latchd_now(latchd: &TestLatchd) -> chrono::DateTime<chrono::Utc> {
    latch_domain::Clock::now(&latchd.clock)
}
