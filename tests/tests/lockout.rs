//! Lockout with backoff over gRPC: failed sign-ins counted per account in
//! one atomic step, so twenty parallel guesses spread over two latchd
//! replicas sharing Redis and PostgreSQL let exactly the threshold reach
//! the password check; a throttled address answers alike, known or not.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::{sync::Arc, time::Duration};

use latch_domain::{
    Clock, ManualClock, UserId,
    ports::{FailureRecords, LoginHistoryRepository},
};
use latch_proto::latch::identity::v1::{
    LoginRequest, identity_service_client::IdentityServiceClient,
};
use latch_runtime::{config::MapSource, infra::Infra, secrets::Secrets, server};
use latch_store::{
    redis::Redis,
    sql::{SqlLoginHistory, SqlUsers},
};
use latch_testkit::{TestDatabase, TestRedis};
use latch_tests::{PASSWORD, TestLatchd, e2e, must, reason, sign_up};
use tokio::{net::TcpListener, sync::oneshot};
use tonic::{Code, Status, transport::Channel};
use tonic_types::StatusExt;

e2e!(a_throttled_address_answers_alike_known_or_not);

const WRONG: &str = "not the password at all";

fn login(email: &str, password: &str) -> LoginRequest {
    LoginRequest {
        email: email.to_owned(),
        password: password.to_owned(),
        client: None,
    }
}

/// What a refusal looks like to a client: code, reason, message, wait.
fn shape(status: &Status) -> (Code, String, String, Option<Duration>) {
    (
        status.code(),
        reason(status),
        status.message().to_owned(),
        status.get_details_retry_info().and_then(|r| r.retry_delay),
    )
}

async fn a_throttled_address_answers_alike_known_or_not(latchd: TestLatchd) {
    latchd.sign_up("ada@example.com").await;
    let mut identity = latchd.identity();
    let mut shapes = Vec::new();
    for email in ["ada@example.com", "nobody@example.com"] {
        for _ in 0..5 {
            let err = identity
                .login(login(email, WRONG))
                .await
                .expect_err("wrong");
            assert_eq!(reason(&err), "INVALID_CREDENTIALS", "{email}");
        }
        // The right password too waits: the address is throttled.
        let err = identity
            .login(login(email, PASSWORD))
            .await
            .expect_err("throttled");
        shapes.push(shape(&err));
    }
    assert_eq!(
        shapes[0],
        (
            Code::ResourceExhausted,
            "LOGIN_THROTTLED".to_owned(),
            shapes[0].2.clone(),
            Some(Duration::from_secs(1))
        )
    );
    assert_eq!(shapes[0], shapes[1], "a known and an unknown address");
    // Never a permanent lock: the wait over, the right password signs in.
    latchd.clock.advance(chrono::Duration::seconds(1));
    latchd.login("ada@example.com").await;
}

/// Two latchd replicas on one PostgreSQL database and one Redis prefix,
/// with the same secrets and (for a deterministic count) one clock.
struct Replicas {
    clients: [IdentityServiceClient<Channel>; 2],
    db: TestDatabase,
    _stops: Vec<oneshot::Sender<()>>,
    _data_dir: tempfile::TempDir,
}

impl Replicas {
    async fn start() -> Option<Replicas> {
        let db = TestDatabase::postgres().await?;
        let url = TestRedis::url().expect("LATCH_TEST_REDIS_URL with LATCH_TEST_DATABASE_URL");
        let prefix = format!("test:{}:", uuid_like());
        let secrets = must(Secrets::generate(), "secrets");
        let clock = ManualClock::starting_now();
        let data_dir = tempfile::tempdir().unwrap();
        let settings =
            MapSource::new().with("LATCH_DATA_DIR", data_dir.path().display().to_string());
        let mut clients = Vec::new();
        let mut stops = Vec::new();
        for _ in 0..2 {
            // Each replica has pools of its own.
            let redis = must(Redis::connect(&url, &prefix).await, "redis");
            let shared: Arc<dyn Clock> = Arc::new(clock.clone());
            let infra = must(
                Infra::with_redis(db.db().clone(), redis, &url, shared.clone()),
                "infra",
            );
            let latchd = must(
                latchd::assemble(&settings, &secrets, &infra, shared).await,
                "assemble",
            );
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let (tx, rx) = oneshot::channel::<()>();
            tokio::spawn(async move {
                let stop = async {
                    let _ = rx.await;
                };
                if let Err(err) = server::serve(latchd.services, listener, latchd.guard, stop).await
                {
                    eprintln!("replica stopped: {err}");
                }
            });
            let channel = Channel::from_shared(format!("http://{addr}"))
                .unwrap()
                .connect_lazy();
            clients.push(IdentityServiceClient::new(channel));
            stops.push(tx);
        }
        let clients: [IdentityServiceClient<Channel>; 2] = clients.try_into().ok()?;
        Some(Replicas {
            clients,
            db,
            _stops: stops,
            _data_dir: data_dir,
        })
    }
}

fn uuid_like() -> String {
    let bytes = latch_domain::secret::random_bytes(16).unwrap();
    hex::encode(bytes)
}

/// Twenty wrong passwords at once, alternating between the replicas:
/// exactly five reach the password check (each leaves an
/// `INVALID_CREDENTIALS` history row), fifteen are throttled without it.
/// Before, a per-email limit of ten counted every attempt: ten hashes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_parallel_guesses_on_two_replicas_pass_the_threshold_once() {
    let Some(replicas) = Replicas::start().await else {
        eprintln!("LATCH_TEST_DATABASE_URL unset: the two-replica lockout test is skipped");
        return;
    };
    let ada = sign_up(replicas.clients[0].clone(), "ada@example.com").await;
    let ada = UserId::parse("user_id", &ada.user.expect("a user").id).unwrap();

    let guesses = (0..20).map(|n| {
        let mut client = replicas.clients[n % 2].clone();
        tokio::spawn(async move {
            client
                .login(login("ada@example.com", WRONG))
                .await
                .expect_err("a wrong password")
        })
    });
    let answers: Vec<Status> = futures::future::join_all(guesses)
        .await
        .into_iter()
        .map(|joined| joined.unwrap())
        .collect();
    let count = |why: &str| answers.iter().filter(|s| reason(s) == why).count();
    assert_eq!(
        (count("INVALID_CREDENTIALS"), count("LOGIN_THROTTLED")),
        (5, 15),
        "{answers:?}"
    );
    for throttled in answers.iter().filter(|s| reason(s) == "LOGIN_THROTTLED") {
        assert_eq!(throttled.code(), Code::ResourceExhausted);
        assert_eq!(
            throttled
                .get_details_retry_info()
                .and_then(|r| r.retry_delay),
            Some(Duration::from_secs(1))
        );
    }

    // Every attempt is in the history; five reached the password check.
    let history = SqlLoginHistory::new(replicas.db.db().clone());
    let mut rows = Vec::new();
    for _ in 0..300 {
        rows = history.list(ada, 100).await.unwrap();
        if rows.len() >= 20 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let rows_of = |why: &str| {
        rows.iter()
            .filter(|r| r.failure_reason.as_deref() == Some(why))
            .count()
    };
    assert_eq!(
        (rows_of("INVALID_CREDENTIALS"), rows_of("LOGIN_THROTTLED")),
        (5, 15)
    );
    // The durable copy in PostgreSQL.
    let users = SqlUsers::new(replicas.db.db().clone());
    let mut copy = users.failures(ada).await.unwrap();
    for _ in 0..100 {
        if copy.count == 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        copy = users.failures(ada).await.unwrap();
    }
    assert_eq!(copy.count, 5);

    // The other replica sees the same wait, for the right password too.
    let mut other = replicas.clients[1].clone();
    let err = other
        .login(login("ada@example.com", PASSWORD))
        .await
        .expect_err("throttled on the other replica");
    assert_eq!(reason(&err), "LOGIN_THROTTLED");
}
