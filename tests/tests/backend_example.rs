//! The example backend (`examples/backend`) against a real latchd: its API
//! takes a signed-in user's access token, and after that user logs out it
//! refuses the same, still unexpired, token within a second, whether it
//! polls ListRevokedSessions (both backends) or follows `session:revoked`
//! on Redis (PostgreSQL + Redis only).
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::{path::PathBuf, sync::OnceLock, time::Duration};

use latch_domain::secret::sha256;
use latch_example_backend::{
    RevocationSource, Settings,
    pb::{WhoAmIRequest, who_am_i_service_client::WhoAmIServiceClient},
    protect, serve,
};
use latch_runtime::{auth::SERVICE_ACCOUNTS, config::MapSource};
use latch_tests::{Backend, TestLatchd, bearer, e2e, must, reason, run};
use tokio::{net::TcpListener, sync::oneshot, time::Instant};
use tonic::{Code, transport::Channel};

e2e!(settings = accounts_settings; a_polling_backend_refuses_a_logged_out_token_within_a_second);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_backend_refuses_a_logged_out_token_within_a_second() {
    run(
        Backend::PostgresRedis,
        accounts_settings(),
        |latchd| async move {
            let key_prefix = latchd.redis_prefix.clone().expect("latchd on Redis");
            let url = std::env::var("LATCH_TEST_REDIS_URL").expect("the Redis URL");
            refused_within_a_second(latchd, RevocationSource::Redis { url, key_prefix }).await;
        },
    )
    .await;
}

async fn a_polling_backend_refuses_a_logged_out_token_within_a_second(latchd: TestLatchd) {
    refused_within_a_second(latchd, RevocationSource::Poll).await;
}

const SECRET: &str = "bk-Lp4Xw8Rt2Vn6Ya0Gd3Mf7Hs1Kc5Qz9Ju2Be6Ti8";

/// The example backend's account: it may read the revocation list only.
fn accounts_settings() -> MapSource {
    static FILE: OnceLock<PathBuf> = OnceLock::new();
    let path = FILE.get_or_init(|| {
        let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "latch-backend-accounts-{}.toml",
            std::process::id()
        ));
        let text = format!(
            "[[account]]\nname = \"example-backend\"\nsecret_sha256 = [\"{}\"]\n\
             rpcs = [\"latch.session.v1.SessionService/ListRevokedSessions\"]\n",
            hex::encode(sha256(SECRET))
        );
        must(std::fs::write(&path, text), "write accounts file");
        path
    });
    MapSource::new().with(SERVICE_ACCOUNTS, path.display().to_string())
}

/// The example backend on `127.0.0.1:0`, trusting `latchd`; it stops when
/// the returned sender is dropped.
async fn start_backend(
    latchd: &TestLatchd,
    source: RevocationSource,
) -> (WhoAmIServiceClient<Channel>, oneshot::Sender<()>) {
    let settings = Settings::new(
        latchd.channel(),
        format!("example-backend.{SECRET}"),
        source,
    );
    let layer = must(protect(&settings).await, "protect the backend");
    let listener = must(TcpListener::bind("127.0.0.1:0").await, "bind");
    let addr = must(listener.local_addr(), "local addr");
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(serve(listener, layer, async {
        let _ = stopped.await;
    }));
    let channel = must(
        Channel::from_shared(format!("http://{addr}")).map(|e| e.connect_lazy()),
        "channel",
    );
    (WhoAmIServiceClient::new(channel), stop)
}

async fn refused_within_a_second(latchd: TestLatchd, source: RevocationSource) {
    latchd.sign_up("ada@example.com").await;
    let laptop = latchd.login("ada@example.com").await;
    let phone = latchd.login("ada@example.com").await;
    let (mut backend, _stop) = start_backend(&latchd, source).await;

    let me = must(
        backend
            .who_am_i(bearer(WhoAmIRequest {}, &laptop.access_token))
            .await,
        "who am I",
    )
    .into_inner();
    assert_eq!(
        (me.user_id.as_str(), me.session_id.as_str()),
        (laptop.user_id.as_str(), laptop.session_id.as_str())
    );
    let anonymous = backend.who_am_i(WhoAmIRequest {}).await;
    assert_eq!(
        anonymous.map(|_| ()).map_err(|s| s.code()),
        Err(Code::Unauthenticated)
    );

    latchd.logout(&laptop.access_token).await;
    let logged_out = Instant::now();
    loop {
        match backend
            .who_am_i(bearer(WhoAmIRequest {}, &laptop.access_token))
            .await
        {
            Err(status) => {
                // Refused for its session, not its age: it is unexpired.
                assert_eq!(
                    (status.code(), reason(&status).as_str()),
                    (Code::Unauthenticated, "SESSION_REVOKED"),
                    "{status:?}"
                );
                break;
            }
            Ok(_) => assert!(
                logged_out.elapsed() < Duration::from_secs(1),
                "the logged-out token still passes a second after the logout"
            ),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(logged_out.elapsed() < Duration::from_secs(1));

    // The user's other session is untouched.
    let me = must(
        backend
            .who_am_i(bearer(WhoAmIRequest {}, &phone.access_token))
            .await,
        "the other session",
    )
    .into_inner();
    assert_eq!(me.session_id, phone.session_id);
}
