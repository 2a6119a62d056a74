//! The first SUPERADMIN over gRPC, on both backends: made at start from
//! `LATCH_BOOTSTRAP_ADMIN_*`, idempotent across restarts, one user and one
//! assignment when two replicas start together, a weak password stopping
//! the start with the reason (and never the password). The
//! `latchd bootstrap-admin` command is run as a process by
//! services/latchd/tests/bootstrap_admin.rs.

#![allow(clippy::expect_used, clippy::unwrap_used)] // a failing test should panic

use std::sync::Arc;

use latch_domain::{
    Clock, ManualClock, model::UserStatus, ports::RoleRepository, ports::UserRepository,
};
use latch_proto::latch::{authorization::v1::ListUserRolesRequest, identity::v1::GetUserRequest};
use latch_runtime::{config::MapSource, infra::Infra, secrets::Secrets};
use latch_store::sql::{SqlRoles, SqlUsers};
use latch_testkit::{TestDatabase, TestRedis};
use latch_tests::{PASSWORD, TestLatchd, bearer, e2e, must};

const EMAIL: &str = "root@example.com";

fn bootstrap_settings() -> MapSource {
    MapSource::new()
        .with("LATCH_BOOTSTRAP_ADMIN_EMAIL", EMAIL)
        .with("LATCH_BOOTSTRAP_ADMIN_PASSWORD", PASSWORD)
}

e2e!(settings = bootstrap_settings; the_settings_make_a_verified_superadmin_who_signs_in);

async fn the_settings_make_a_verified_superadmin_who_signs_in(latchd: TestLatchd) {
    let auth = latchd.login(EMAIL).await;
    let user = must(
        latchd
            .identity()
            .get_user(bearer(GetUserRequest::default(), &auth.access_token))
            .await,
        "get user",
    )
    .into_inner()
    .user
    .unwrap();
    assert!(user.email_verified, "the operator vouched for the address");
    let roles = must(
        latchd
            .authorization()
            .list_user_roles(bearer(ListUserRolesRequest::default(), &auth.access_token))
            .await,
        "list roles",
    )
    .into_inner()
    .roles;
    let mut names: Vec<String> = roles.into_iter().map(|r| r.name).collect();
    names.sort();
    assert_eq!(names, ["SUPERADMIN", "USER"]);
}

/// Two latchd replicas assembled at once over one database (PostgreSQL +
/// Redis when configured, else SQLite), both told to bootstrap the same
/// admin; then a restart.
async fn replicas_start_together(db: TestDatabase, redis: Option<latch_store::redis::Redis>) {
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::starting_now());
    let secrets = Secrets::generate().unwrap();
    let infra = || match &redis {
        Some(redis) => {
            let url = std::env::var("LATCH_TEST_REDIS_URL").unwrap();
            Infra::with_redis(db.db().clone(), redis.clone(), &url, clock.clone()).unwrap()
        }
        None => Infra::in_memory(db.db().clone(), clock.clone()),
    };
    let dir = tempfile::tempdir().unwrap();
    let settings = bootstrap_settings().with("LATCH_DATA_DIR", dir.path().display().to_string());
    let (one, two) = (infra(), infra());
    let (a, b) = tokio::join!(
        latchd::assemble(&settings, &secrets, &one, clock.clone()),
        latchd::assemble(&settings, &secrets, &two, clock.clone()),
    );
    let (a, b) = (a.expect("first replica"), b.expect("second replica"));

    let users = SqlUsers::new(db.db().clone());
    let user = users
        .find_by_email(EMAIL)
        .await
        .unwrap()
        .expect("the admin");
    assert_eq!(user.status, UserStatus::Active);
    assert!(user.email_verified);
    let roles = SqlRoles::new(db.db().clone());
    let superadmin = |roles: Vec<latch_domain::model::Role>| {
        roles.iter().filter(|r| r.name == "SUPERADMIN").count()
    };
    assert_eq!(superadmin(roles.roles_of_user(user.id).await.unwrap()), 1);

    // A restart changes nothing.
    drop((a, b));
    let again = infra();
    must(
        latchd::assemble(&settings, &secrets, &again, clock.clone()).await,
        "restart",
    );
    assert_eq!(
        users.find_by_email(EMAIL).await.unwrap().map(|u| u.id),
        Some(user.id)
    );
    assert_eq!(superadmin(roles.roles_of_user(user.id).await.unwrap()), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_starting_together_make_one_admin_on_postgres() {
    let Some(db) = TestDatabase::postgres().await else {
        eprintln!("LATCH_TEST_DATABASE_URL unset: PostgreSQL + Redis run skipped");
        return;
    };
    let redis = TestRedis::from_env().await.expect("LATCH_TEST_REDIS_URL");
    replicas_start_together(db, Some(redis)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_starting_together_make_one_admin_on_sqlite() {
    replicas_start_together(TestDatabase::sqlite().await, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_weak_bootstrap_password_stops_the_start_with_the_reason() {
    let db = TestDatabase::sqlite().await;
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::starting_now());
    let infra = Infra::in_memory(db.db().clone(), clock.clone());
    let dir = tempfile::tempdir().unwrap();
    let settings = MapSource::new()
        .with("LATCH_DATA_DIR", dir.path().display().to_string())
        .with("LATCH_BOOTSTRAP_ADMIN_EMAIL", EMAIL)
        .with("LATCH_BOOTSTRAP_ADMIN_PASSWORD", "iloveyou2");
    let err = latchd::assemble(&settings, &Secrets::generate().unwrap(), &infra, clock)
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(
        err.contains("LATCH_BOOTSTRAP_ADMIN_PASSWORD") && err.contains("too weak"),
        "{err}"
    );
    assert!(!err.contains("iloveyou2"), "never the password: {err}");
    let users = SqlUsers::new(db.db().clone());
    assert_eq!(users.find_by_email(EMAIL).await.unwrap(), None);
}

/// The identity binary, its siblings separate servers: the bootstrap runs
/// in the background at start (retried while a sibling is not serving).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_identity_binary_bootstraps_the_admin_at_start() {
    use latch_proto::latch::{
        authorization::v1::authorization_service_client::AuthorizationServiceClient,
        identity::v1::LoginRequest,
    };
    use latch_tests::separate::{FiveServers, Service};

    let Some(servers) = FiveServers::start(bootstrap_settings()).await else {
        return;
    };
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    let auth = loop {
        let login = servers
            .identity()
            .login(LoginRequest {
                email: EMAIL.to_owned(),
                password: PASSWORD.to_owned(),
                client: None,
            })
            .await;
        match login.map(|r| r.into_inner().result) {
            Ok(Some(latch_proto::latch::identity::v1::login_response::Result::Auth(auth))) => {
                break auth;
            }
            other => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "the admin never appeared: {other:?}"
                );
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    };
    let roles = must(
        AuthorizationServiceClient::new(servers.channel(Service::Authorization))
            .list_user_roles(bearer(ListUserRolesRequest::default(), &auth.access_token))
            .await,
        "list roles",
    )
    .into_inner()
    .roles;
    assert!(roles.iter().any(|r| r.name == "SUPERADMIN"), "{roles:?}");
    let users = SqlUsers::new(servers.db().clone());
    assert!(
        users
            .find_by_email(EMAIL)
            .await
            .unwrap()
            .unwrap()
            .email_verified
    );
}
