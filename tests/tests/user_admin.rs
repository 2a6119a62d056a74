//! User administration over gRPC: ListUsers, SetUserStatus and DeleteUser
//! on both backends (paging, filters, every refusal changing nothing,
//! ADMIN against SUPERADMIN), and a deletion across the five separate
//! servers while one sibling is down.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::time::Duration;

use latch_domain::{
    UserId,
    model::{UserStatus, builtin},
    ports::{
        LoginHistoryRepository, ProfileRepository, RefreshTokenRepository, RoleRepository,
        SessionRepository, UserAdminRepository, UserRepository,
    },
    secret::sha256,
};
use latch_proto::latch::{
    authorization::v1::{
        AssignRoleRequest, authorization_service_client::AuthorizationServiceClient,
    },
    common::v1::{AuthResult, User, UserStatus as PbStatus},
    identity::v1::{
        DeleteUserRequest, GetUserRequest, ListUsersRequest, LoginRequest, SetUserStatusRequest,
    },
    session::v1::ValidateSessionRequest,
    token::v1::RefreshTokensRequest,
};
use latch_runtime::config::MapSource;
use latch_store::{
    Database,
    sql::{SqlLoginHistory, SqlProfiles, SqlRefreshTokens, SqlRoles, SqlSessions, SqlUsers},
};
use latch_tests::{
    PASSWORD, TestLatchd, bad_field, bearer, e2e, must, reason,
    separate::{FiveServers, Service},
    sign_up,
};
use tonic::{Code, Status};

e2e!(settings = fast;
    users_are_listed_newest_first_in_pages_with_filters,
    listing_refusals_change_nothing,
    suspending_ends_every_session_at_once,
    status_refusals_change_nothing,
    a_deleted_user_is_gone_everywhere_and_stays_gone,
    deletion_refusals_change_nothing
);

/// The outbox and the cleanup at a test's pace.
fn fast() -> MapSource {
    MapSource::new()
        .with("LATCH_OUTBOX_POLL_INTERVAL", "20ms")
        .with("LATCH_OUTBOX_RETRY_BACKOFF", "50ms")
        .with("LATCH_IDENTITY_CLEANUP_INTERVAL", "1s")
}

async fn list(
    latchd: &TestLatchd,
    request: ListUsersRequest,
    token: &str,
) -> Result<(Vec<User>, String), Status> {
    latchd
        .identity()
        .list_users(bearer(request, token))
        .await
        .map(|r| {
            let r = r.into_inner();
            (r.users, r.next_page_token)
        })
}

async fn get_user(latchd: &TestLatchd, id: &str) -> Result<User, Status> {
    latchd
        .identity()
        .get_user(latchd.internal(GetUserRequest {
            user_id: id.to_owned(),
        }))
        .await
        .map(|r| r.into_inner().user.expect("user"))
}

async fn status_of(latchd: &TestLatchd, id: &str) -> PbStatus {
    get_user(latchd, id).await.expect("get user").status()
}

async fn session_valid(latchd: &TestLatchd, session: &str) -> bool {
    must(
        latchd
            .session()
            .validate_session(latchd.internal(ValidateSessionRequest {
                session_id: session.to_owned(),
            }))
            .await,
        "validate",
    )
    .into_inner()
    .valid
}

fn set_status(user: &str, status: PbStatus) -> SetUserStatusRequest {
    SetUserStatusRequest {
        user_id: user.to_owned(),
        status: status as i32,
        reason: "e2e".into(),
    }
}

fn delete(user: &str) -> DeleteUserRequest {
    DeleteUserRequest {
        user_id: user.to_owned(),
    }
}

/// Signs `email` up and returns its tokens.
/// SetUserStatus of `user` to `status` with `token`; the user as it is now.
async fn set_user_status(
    latchd: &TestLatchd,
    user: &str,
    status: PbStatus,
    token: &str,
) -> Result<User, Status> {
    latchd
        .identity()
        .set_user_status(bearer(set_status(user, status), token))
        .await
        .map(|r| r.into_inner().user.expect("user"))
}

/// DeleteUser of `user` with `token`.
async fn delete_user(latchd: &TestLatchd, user: &str, token: &str) -> Result<(), Status> {
    latchd
        .identity()
        .delete_user(bearer(delete(user), token))
        .await
        .map(drop)
}

/// The error of a password login to `email`.
async fn login_error(latchd: &TestLatchd, email: &str, what: &str) -> Status {
    latchd
        .identity()
        .login(LoginRequest {
            email: email.into(),
            password: PASSWORD.into(),
            client: None,
        })
        .await
        .expect_err(what)
}

/// The error of a GetUser of oneself with `access_token`.
async fn get_self_error(latchd: &TestLatchd, access_token: &str, what: &str) -> Status {
    latchd
        .identity()
        .get_user(bearer(GetUserRequest::default(), access_token))
        .await
        .expect_err(what)
}

/// Asserts a refresh was refused as a revoked or inactive account's.
#[track_caller]
fn assert_no_refresh<T: std::fmt::Debug>(result: Result<T, Status>, what: &str) {
    let err = result.expect_err(what);
    assert!(
        matches!(err.code(), Code::Unauthenticated | Code::FailedPrecondition),
        "{err:?}"
    );
}

/// A replay of `refresh_token` on `latchd`.
async fn assert_latchd_no_refresh(latchd: &TestLatchd, refresh_token: &str, what: &str) {
    assert_no_refresh(
        latchd
            .token()
            .refresh_tokens(RefreshTokensRequest {
                refresh_token: refresh_token.to_owned(),
                client: None,
            })
            .await,
        what,
    );
}

/// The accounts the refusal tests act with and on.
struct Cast {
    root: AuthResult,
    admin: AuthResult,
    plain: AuthResult,
    other: AuthResult,
}

impl Cast {
    async fn sign_up(latchd: &TestLatchd) -> Self {
        Self {
            root: latchd
                .with_role("root@example.org", builtin::SUPERADMIN)
                .await,
            admin: latchd.with_role("admin@example.org", builtin::ADMIN).await,
            plain: latchd.signed_up("plain@example.com").await,
            other: latchd.signed_up("other@example.com").await,
        }
    }

    fn all(&self) -> [&AuthResult; 4] {
        [&self.root, &self.admin, &self.plain, &self.other]
    }
}

/// Asserts `auth`'s account is active and its session still valid.
async fn assert_untouched(latchd: &TestLatchd, auth: &AuthResult) {
    assert_eq!(status_of(latchd, &auth.user_id).await, PbStatus::Active);
    assert!(
        session_valid(latchd, &auth.session_id).await,
        "refusals revoke nothing"
    );
}

async fn users_are_listed_newest_first_in_pages_with_filters(latchd: TestLatchd) {
    let admin = latchd.with_role("admin@example.org", builtin::ADMIN).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        latchd.clock.advance(chrono::Duration::seconds(1));
        ids.push(
            latchd
                .sign_up(&format!("lu-{i}@example.com"))
                .await
                .user
                .expect("user")
                .id,
        );
    }
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();

    let mut listed = Vec::new();
    let mut page_token = String::new();
    let mut pages = 0;
    loop {
        let request = ListUsersRequest {
            page_size: 2,
            page_token: page_token.clone(),
            email_prefix: "LU-".into(),
            ..Default::default()
        };
        let (users, next) = list(&latchd, request, &admin.access_token)
            .await
            .expect("page");
        assert!(users.len() <= 2);
        listed.extend(users.into_iter().map(|u| u.id));
        pages += 1;
        if next.is_empty() {
            break;
        }
        page_token = next;
    }
    assert_eq!(listed, newest_first, "newest first, each once");
    assert_eq!(pages, 3);

    // A status filter, and a creation window (from inclusive, before exclusive).
    must(
        set_user_status(&latchd, &ids[1], PbStatus::Suspended, &admin.access_token).await,
        "suspend",
    );
    let (suspended, _) = list(
        &latchd,
        ListUsersRequest {
            status: PbStatus::Suspended as i32,
            ..Default::default()
        },
        &admin.access_token,
    )
    .await
    .expect("suspended");
    assert_eq!(
        suspended.iter().map(|u| u.id.clone()).collect::<Vec<_>>(),
        vec![ids[1].clone()]
    );
    let window = ListUsersRequest {
        email_prefix: "lu-".into(),
        created_after: get_user(&latchd, &ids[1]).await.unwrap().created_at,
        created_before: get_user(&latchd, &ids[3]).await.unwrap().created_at,
        ..Default::default()
    };
    let (in_window, _) = list(&latchd, window, &admin.access_token)
        .await
        .expect("window");
    assert_eq!(
        in_window.iter().map(|u| u.id.clone()).collect::<Vec<_>>(),
        vec![ids[2].clone(), ids[1].clone()]
    );

    // More than a page may hold is capped, not refused.
    let (all, next) = list(
        &latchd,
        ListUsersRequest {
            page_size: 100_000,
            email_prefix: "lu-".into(),
            ..Default::default()
        },
        &admin.access_token,
    )
    .await
    .expect("a huge page is capped");
    assert_eq!(all.len(), 5);
    assert!(next.is_empty());
}

async fn listing_refusals_change_nothing(latchd: TestLatchd) {
    let admin = latchd.with_role("admin@example.org", builtin::ADMIN).await;
    let plain = latchd.signed_up("plain@example.com").await;

    let err = list(&latchd, ListUsersRequest::default(), &plain.access_token)
        .await
        .expect_err("a user is no administrator");
    assert_eq!(err.code(), Code::PermissionDenied);
    assert_eq!(reason(&err), "ACCESS_DENIED");
    let err = latchd
        .identity()
        .list_users(ListUsersRequest::default())
        .await
        .expect_err("no token");
    assert_eq!(err.code(), Code::Unauthenticated);

    for (request, field) in [
        (
            ListUsersRequest {
                page_token: "not-a-token".into(),
                ..Default::default()
            },
            "page_token",
        ),
        (
            ListUsersRequest {
                page_size: -1,
                ..Default::default()
            },
            "page_size",
        ),
        (
            ListUsersRequest {
                status: 77,
                ..Default::default()
            },
            "status",
        ),
    ] {
        let err = list(&latchd, request, &admin.access_token)
            .await
            .expect_err(field);
        assert_eq!(err.code(), Code::InvalidArgument, "{field}");
        assert_eq!(bad_field(&err).as_deref(), Some(field));
    }
}

async fn suspending_ends_every_session_at_once(latchd: TestLatchd) {
    let admin = latchd.with_role("admin@example.org", builtin::ADMIN).await;
    let first = latchd.signed_up("sus@example.com").await;
    let second = latchd.login("sus@example.com").await;

    let user = must(
        set_user_status(
            &latchd,
            &first.user_id,
            PbStatus::Suspended,
            &admin.access_token,
        )
        .await,
        "suspend",
    );
    assert_eq!(user.status(), PbStatus::Suspended);
    // At once: no session is valid, no token refreshes, no login passes.
    for auth in [&first, &second] {
        assert!(!session_valid(&latchd, &auth.session_id).await);
        let err = get_self_error(&latchd, &auth.access_token, "revoked").await;
        assert_eq!(reason(&err), "SESSION_REVOKED");
        assert_latchd_no_refresh(&latchd, &auth.refresh_token, "no refresh").await;
    }
    let err = login_error(&latchd, "sus@example.com", "suspended").await;
    assert_eq!(reason(&err), "ACCOUNT_INACTIVE");

    // Active again: signing in works.
    must(
        set_user_status(
            &latchd,
            &first.user_id,
            PbStatus::Active,
            &admin.access_token,
        )
        .await,
        "activate",
    );
    latchd.login("sus@example.com").await;
}

async fn status_refusals_change_nothing(latchd: TestLatchd) {
    let cast = Cast::sign_up(&latchd).await;
    let Cast {
        root,
        admin,
        plain,
        other,
    } = &cast;

    let refusals: Vec<(&str, SetUserStatusRequest, &str, Code)> = vec![
        (
            "unknown user",
            set_status(&UserId::new().to_string(), PbStatus::Suspended),
            &admin.access_token,
            Code::NotFound,
        ),
        (
            "pending",
            set_status(&other.user_id, PbStatus::Pending),
            &admin.access_token,
            Code::InvalidArgument,
        ),
        (
            "unspecified",
            set_status(&other.user_id, PbStatus::Unspecified),
            &admin.access_token,
            Code::InvalidArgument,
        ),
        (
            "unknown status",
            SetUserStatusRequest {
                status: 99,
                ..set_status(&other.user_id, PbStatus::Active)
            },
            &admin.access_token,
            Code::InvalidArgument,
        ),
        (
            "malformed id",
            set_status("nope", PbStatus::Suspended),
            &admin.access_token,
            Code::InvalidArgument,
        ),
        (
            "non-admin",
            set_status(&other.user_id, PbStatus::Suspended),
            &plain.access_token,
            Code::PermissionDenied,
        ),
        (
            "ADMIN over SUPERADMIN",
            set_status(&root.user_id, PbStatus::Suspended),
            &admin.access_token,
            Code::PermissionDenied,
        ),
        (
            "oneself",
            set_status(&admin.user_id, PbStatus::Deactivated),
            &admin.access_token,
            Code::PermissionDenied,
        ),
    ];
    for (what, request, token, code) in refusals {
        let err = latchd
            .identity()
            .set_user_status(bearer(request, token))
            .await
            .expect_err(what);
        assert_eq!(err.code(), code, "{what}: {err:?}");
    }
    let err = set_user_status(
        &latchd,
        &other.user_id,
        PbStatus::Pending,
        &admin.access_token,
    )
    .await
    .expect_err("pending");
    assert_eq!(bad_field(&err).as_deref(), Some("status"));
    for auth in cast.all() {
        assert_untouched(&latchd, auth).await;
    }

    // A SUPERADMIN may suspend an ADMIN.
    must(
        set_user_status(
            &latchd,
            &admin.user_id,
            PbStatus::Suspended,
            &root.access_token,
        )
        .await,
        "SUPERADMIN suspends ADMIN",
    );
    assert_eq!(
        status_of(&latchd, &admin.user_id).await,
        PbStatus::Suspended
    );
}

/// Which of the user's stores still hold something of theirs.
async fn leftovers(db: &Database, user: &str, refresh_tokens: &[&str]) -> Vec<&'static str> {
    let id = UserId::parse("user", user).expect("a user id");
    let mut left = Vec::new();
    let users = SqlUsers::new(db.clone());
    let far = chrono::Utc::now() + chrono::Duration::days(100_000);
    if users.get(id).await.expect("users").is_some()
        || users
            .deleted_before(far, 100_000)
            .await
            .expect("tombstones")
            .contains(&id)
    {
        left.push("users");
    }
    if !SqlLoginHistory::new(db.clone())
        .list(id, 1)
        .await
        .expect("history")
        .is_empty()
    {
        left.push("login_history");
    }
    let sessions = SqlSessions::new(db.clone())
        .list_for_user(id, &latch_testkit::conformance::sessions::everything())
        .await
        .expect("sessions");
    if !sessions.is_empty() {
        left.push("sessions");
    }
    let families = SqlRefreshTokens::new(db.clone());
    for token in refresh_tokens {
        if families
            .find_by_hash(&sha256(token))
            .await
            .expect("tokens")
            .is_some()
        {
            left.push("refresh_tokens");
            break;
        }
    }
    if !SqlRoles::new(db.clone())
        .roles_of_user(id)
        .await
        .expect("roles")
        .is_empty()
    {
        left.push("user_roles");
    }
    if SqlProfiles::new(db.clone())
        .get(id)
        .await
        .expect("profile")
        .is_some()
    {
        left.push("profiles");
    }
    left
}

/// Polls until `leftovers` is `expected`. With latchd's test clock, each
/// poll also moves it a second: an outbox step that failed once (a busy
/// SQLite file under load) is due again only when the clock says so.
async fn eventually_left(
    db: &Database,
    clock: Option<&latch_domain::ManualClock>,
    user: &str,
    tokens: &[&str],
    expected: &[&str],
    within: Duration,
) {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let left = leftovers(db, user, tokens).await;
        if left == expected {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still left: {left:?}, expected {expected:?}"
        );
        if let Some(clock) = clock {
            clock.advance(chrono::Duration::seconds(1));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn a_deleted_user_is_gone_everywhere_and_stays_gone(latchd: TestLatchd) {
    let admin = latchd.with_role("admin@example.org", builtin::ADMIN).await;
    let email = "doomed@example.com";
    let first = latchd.signed_up(email).await;
    let second = latchd.login(email).await;
    let tokens = [first.refresh_token.as_str(), second.refresh_token.as_str()];
    assert_eq!(
        leftovers(&latchd.infra.db, &first.user_id, &tokens).await,
        vec![
            "users",
            "login_history",
            "sessions",
            "refresh_tokens",
            "user_roles",
            "profiles"
        ]
    );

    must(
        delete_user(&latchd, &first.user_id, &admin.access_token).await,
        "delete",
    );

    // Gone at once.
    let err = get_user(&latchd, &first.user_id).await.expect_err("gone");
    assert_eq!(err.code(), Code::NotFound);
    let err = login_error(&latchd, email, "no such account").await;
    assert_eq!(reason(&err), "INVALID_CREDENTIALS");
    for auth in [&first, &second] {
        assert_latchd_no_refresh(
            &latchd,
            &auth.refresh_token,
            "a replayed refresh token of a deleted user",
        )
        .await;
        let err = get_self_error(&latchd, &auth.access_token, "its access token").await;
        assert_eq!(err.code(), Code::Unauthenticated);
    }

    // Every sibling's rows go through the outbox; the tombstone stays.
    eventually_left(
        &latchd.infra.db,
        Some(&latchd.clock),
        &first.user_id,
        &tokens,
        &["users"],
        Duration::from_secs(10),
    )
    .await;
    // The address is free again at once.
    let again = latchd.sign_up(email).await.user.expect("user");
    assert_ne!(again.id, first.user_id);

    // Run again: OK, and nothing comes back.
    must(
        delete_user(&latchd, &first.user_id, &admin.access_token).await,
        "delete again",
    );
    assert!(get_user(&latchd, &first.user_id).await.is_err());

    // After the retention, nothing at all; a third try is NOT_FOUND.
    latchd.clock.advance(chrono::Duration::days(31));
    eventually_left(
        &latchd.infra.db,
        Some(&latchd.clock),
        &first.user_id,
        &tokens,
        &[],
        Duration::from_secs(15),
    )
    .await;
    let admin = latchd.login("admin@example.org").await;
    let err = delete_user(&latchd, &first.user_id, &admin.access_token)
        .await
        .expect_err("purged");
    assert_eq!(err.code(), Code::NotFound);
    assert_eq!(status_of(&latchd, &again.id).await, PbStatus::Active);
}

async fn deletion_refusals_change_nothing(latchd: TestLatchd) {
    let cast = Cast::sign_up(&latchd).await;
    let Cast {
        root,
        admin,
        plain,
        other,
    } = &cast;

    let refusals = [
        (
            "unknown user",
            UserId::new().to_string(),
            &admin.access_token,
            Code::NotFound,
        ),
        (
            "malformed id",
            "nope".to_owned(),
            &admin.access_token,
            Code::InvalidArgument,
        ),
        (
            "non-admin",
            other.user_id.clone(),
            &plain.access_token,
            Code::PermissionDenied,
        ),
        (
            "ADMIN over SUPERADMIN",
            root.user_id.clone(),
            &admin.access_token,
            Code::PermissionDenied,
        ),
        (
            "oneself",
            admin.user_id.clone(),
            &admin.access_token,
            Code::PermissionDenied,
        ),
    ];
    for (what, user, token, code) in refusals {
        let err = delete_user(&latchd, &user, token).await.expect_err(what);
        assert_eq!(err.code(), code, "{what}: {err:?}");
    }
    for auth in cast.all() {
        assert_untouched(&latchd, auth).await;
        assert_eq!(
            leftovers(
                &latchd.infra.db,
                &auth.user_id,
                &[auth.refresh_token.as_str()]
            )
            .await,
            vec![
                "users",
                "sessions",
                "refresh_tokens",
                "user_roles",
                "profiles"
            ]
        );
    }
    // A SUPERADMIN may delete an ADMIN.
    must(
        delete_user(&latchd, &admin.user_id, &root.access_token).await,
        "SUPERADMIN deletes ADMIN",
    );
    assert!(get_user(&latchd, &admin.user_id).await.is_err());
}

/// The production shape: the profile server is down while a user is
/// deleted. The account is gone at once and the other siblings' parts are
/// done; the profile's part waits in the outbox and is done once a
/// profile server is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deletion_across_five_servers_finishes_after_a_sibling_was_down() {
    let settings = MapSource::new()
        .with("LATCH_OUTBOX_POLL_INTERVAL", "50ms")
        .with("LATCH_OUTBOX_RETRY_BACKOFF", "100ms")
        .with("LATCH_SIBLING_TIMEOUT", "1s");
    let Some(mut servers) = FiveServers::start(settings).await else {
        return;
    };
    let admin = sign_up(servers.identity(), "admin@example.org")
        .await
        .auth
        .expect("auth");
    must(
        AuthorizationServiceClient::new(servers.channel(Service::Authorization))
            .assign_role(servers.internal(AssignRoleRequest {
                user_id: admin.user_id.clone(),
                role: builtin::ADMIN.into(),
            }))
            .await,
        "assign",
    );
    let doomed = sign_up(servers.identity(), "split-doomed@example.com")
        .await
        .auth
        .expect("auth");
    let tokens = [doomed.refresh_token.as_str()];

    servers.stop(Service::Profile).await;
    must(
        servers
            .identity()
            .delete_user(bearer(delete(&doomed.user_id), &admin.access_token))
            .await,
        "delete while the profile server is down",
    );
    let err = servers
        .identity()
        .get_user(bearer(
            GetUserRequest {
                user_id: doomed.user_id.clone(),
            },
            &admin.access_token,
        ))
        .await
        .expect_err("gone at once");
    assert_eq!(err.code(), Code::NotFound);
    assert_no_refresh(
        servers
            .token()
            .refresh_tokens(RefreshTokensRequest {
                refresh_token: doomed.refresh_token.clone(),
                client: None,
            })
            .await,
        "a replayed refresh token of a deleted user",
    );

    // Sessions, tokens and roles go; the profile waits for its server.
    eventually_left(
        servers.db(),
        None,
        &doomed.user_id,
        &tokens,
        &["users", "profiles"],
        Duration::from_secs(15),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        leftovers(servers.db(), &doomed.user_id, &tokens).await,
        vec!["users", "profiles"],
        "nothing deletes the profile while its server is down"
    );

    servers.restart(Service::Profile).await;
    eventually_left(
        servers.db(),
        None,
        &doomed.user_id,
        &tokens,
        &["users"],
        Duration::from_secs(30),
    )
    .await;
    // The admin, untouched.
    assert_eq!(
        SqlUsers::new(servers.db().clone())
            .get(UserId::parse("admin", &admin.user_id).unwrap())
            .await
            .unwrap()
            .map(|u| u.status),
        Some(UserStatus::Active)
    );
}
