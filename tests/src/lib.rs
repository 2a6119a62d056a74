//! The end-to-end harness: latchd served on `127.0.0.1:0` over a fresh
//! database, reached through real gRPC clients. Each scenario runs twice:
//! embedded (SQLite + in-memory) and production-shaped (PostgreSQL +
//! Redis, when `LATCH_TEST_DATABASE_URL` and `LATCH_TEST_REDIS_URL` are set;
//! an unreachable server then fails the test).

use std::{net::SocketAddr, sync::Arc};

use latch_domain::{Clock, ManualClock};
use latch_proto::latch::{
    authorization::v1::authorization_service_client::AuthorizationServiceClient,
    identity::v1::{SignUpRequest, identity_service_client::IdentityServiceClient},
    profile::v1::profile_service_client::ProfileServiceClient,
    session::v1::session_service_client::SessionServiceClient,
    token::v1::token_service_client::TokenServiceClient,
};
use latch_runtime::{
    auth::SERVICE_TOKEN_HEADER, config::MapSource, infra::Infra, secrets::Secrets, server,
};
use latch_testkit::{TestDatabase, TestRedis};
use tokio::{net::TcpListener, sync::oneshot};
use tonic::{Request, Status, metadata::MetadataValue, transport::Channel};

/// Which infrastructure a scenario runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite and in-memory cache, bus and limiter.
    Embedded,
    /// PostgreSQL and Redis, from the test environment.
    PostgresRedis,
}

/// A running latchd and clients to it.
pub struct TestLatchd {
    pub addr: SocketAddr,
    pub clock: ManualClock,
    pub infra: Infra,
    service_token: String,
    channel: Channel,
    shutdown: Option<oneshot::Sender<()>>,
    _db: TestDatabase,
}

impl TestLatchd {
    /// Starts latchd on `backend`, or `None` when the PostgreSQL + Redis
    /// environment is not configured.
    pub async fn start(backend: Backend) -> Option<Self> {
        Self::start_with(backend, MapSource::new()).await
    }

    /// As [`Self::start`], with extra `LATCH_*` settings.
    pub async fn start_with(backend: Backend, settings: MapSource) -> Option<Self> {
        let clock = ManualClock::starting_now();
        let shared_clock: Arc<dyn Clock> = Arc::new(clock.clone());
        let (db, infra) = match backend {
            Backend::Embedded => {
                let db = TestDatabase::sqlite().await;
                let infra = Infra::in_memory(db.db().clone(), shared_clock.clone());
                (db, infra)
            }
            Backend::PostgresRedis => {
                let db = TestDatabase::postgres().await?;
                let redis = TestRedis::from_env().await.unwrap_or_else(|| {
                    panic!("LATCH_TEST_DATABASE_URL is set but LATCH_TEST_REDIS_URL is not")
                });
                let url = std::env::var("LATCH_TEST_REDIS_URL").unwrap_or_default();
                let infra = must(
                    Infra::with_redis(db.db().clone(), redis, &url),
                    "redis infra",
                );
                (db, infra)
            }
        };
        let secrets = must(Secrets::generate(), "secrets");
        let latchd = must(
            latchd::assemble(&settings, &secrets, &infra, shared_clock).await,
            "assemble latchd",
        );
        let listener = must(TcpListener::bind("127.0.0.1:0").await, "bind");
        let addr = must(listener.local_addr(), "local addr");
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let stop = async {
                let _ = rx.await;
            };
            if let Err(err) = server::serve(latchd.services, listener, latchd.guard, stop).await {
                eprintln!("latchd stopped: {err}");
            }
        });
        let channel = must(
            Channel::from_shared(format!("http://{addr}")).map(|e| e.connect_lazy()),
            "channel",
        );
        Some(Self {
            addr,
            clock,
            infra,
            service_token: secrets.service_token.expose().clone(),
            channel,
            shutdown: Some(tx),
            _db: db,
        })
    }

    pub fn channel(&self) -> Channel {
        self.channel.clone()
    }

    pub fn identity(&self) -> IdentityServiceClient<Channel> {
        IdentityServiceClient::new(self.channel())
    }

    pub fn token(&self) -> TokenServiceClient<Channel> {
        TokenServiceClient::new(self.channel())
    }

    pub fn session(&self) -> SessionServiceClient<Channel> {
        SessionServiceClient::new(self.channel())
    }

    pub fn authorization(&self) -> AuthorizationServiceClient<Channel> {
        AuthorizationServiceClient::new(self.channel())
    }

    pub fn profile(&self) -> ProfileServiceClient<Channel> {
        ProfileServiceClient::new(self.channel())
    }

    /// Latch's own service credential (`LATCH_SERVICE_TOKEN`).
    pub fn service_token(&self) -> &str {
        &self.service_token
    }

    /// A request carrying Latch's own service credential, as a sibling sends.
    pub fn internal<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        let value = must(
            MetadataValue::try_from(self.service_token.as_str()),
            "token metadata",
        );
        request.metadata_mut().insert(SERVICE_TOKEN_HEADER, value);
        request
    }

    /// Signs up a user with a strong password and returns the response.
    pub async fn sign_up(&self, email: &str) -> latch_proto::latch::identity::v1::SignUpResponse {
        must(
            self.identity().sign_up(sign_up_request(email)).await,
            "sign up",
        )
        .into_inner()
    }
}

impl Drop for TestLatchd {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

pub const PASSWORD: &str = "correct horse battery staple 42";

pub fn sign_up_request(email: &str) -> SignUpRequest {
    SignUpRequest {
        email: email.to_owned(),
        password: PASSWORD.to_owned(),
        first_name: "Ada".to_owned(),
        last_name: "Lovelace".to_owned(),
        ..Default::default()
    }
}

/// A request with `authorization: Bearer <token>`.
pub fn bearer<T>(message: T, access_token: &str) -> Request<T> {
    let mut request = Request::new(message);
    let value = must(
        MetadataValue::try_from(format!("Bearer {access_token}")),
        "bearer metadata",
    );
    request.metadata_mut().insert("authorization", value);
    request
}

/// `request` with one more metadata entry, e.g. a service account's
/// `x-latch-service-account`.
pub fn with_header<T>(mut request: Request<T>, key: &'static str, value: &str) -> Request<T> {
    let value = must(MetadataValue::try_from(value), "metadata value");
    request.metadata_mut().insert(key, value);
    request
}

/// The stable reason code a refused call carries.
pub fn reason(status: &Status) -> String {
    latch_runtime::status::reason_of(status).unwrap_or_else(|| format!("<no reason: {status:?}>"))
}

/// The field a `BadRequest` detail names.
pub fn bad_field(status: &Status) -> Option<String> {
    use tonic_types::StatusExt;
    status
        .get_details_bad_request()
        .and_then(|b| b.field_violations.first().map(|v| v.field.clone()))
}

/// Unwraps in the harness, with what failed in the panic message.
pub fn must<T, E: std::fmt::Debug>(result: Result<T, E>, what: &str) -> T {
    match result {
        Ok(value) => value,
        Err(err) => panic!("{what}: {err:?}"),
    }
}

/// Runs one scenario on both backends as two tests:
/// `e2e!(name)` for `async fn name(latchd: TestLatchd)`.
/// `e2e!(settings = f; name, …)` starts latchd with the `MapSource` that
/// `f()` returns.
#[macro_export]
macro_rules! e2e {
    (settings = $settings:ident; $($scenario:ident),* $(,)?) => {
        $(
            mod $scenario {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn embedded() {
                    let settings = super::$settings();
                    if let Some(latchd) = $crate::TestLatchd::start_with($crate::Backend::Embedded, settings).await {
                        super::$scenario(latchd).await;
                    }
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres_redis() {
                    let settings = super::$settings();
                    match $crate::TestLatchd::start_with($crate::Backend::PostgresRedis, settings).await {
                        Some(latchd) => super::$scenario(latchd).await,
                        None => eprintln!("LATCH_TEST_DATABASE_URL unset: PostgreSQL + Redis run skipped"),
                    }
                }
            }
        )*
    };
    ($($scenario:ident),* $(,)?) => {
        $(
            mod $scenario {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn embedded() {
                    if let Some(latchd) = $crate::TestLatchd::start($crate::Backend::Embedded).await {
                        super::$scenario(latchd).await;
                    }
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres_redis() {
                    match $crate::TestLatchd::start($crate::Backend::PostgresRedis).await {
                        Some(latchd) => super::$scenario(latchd).await,
                        None => eprintln!("LATCH_TEST_DATABASE_URL unset: PostgreSQL + Redis run skipped"),
                    }
                }
            }
        )*
    };
}
