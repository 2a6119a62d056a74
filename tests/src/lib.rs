//! The end-to-end harness: latchd served on `127.0.0.1:0` over a fresh
//! database, reached through real gRPC clients. Each scenario runs twice:
//! embedded (SQLite + in-memory) and production-shaped (PostgreSQL +
//! Redis, when `LATCH_TEST_DATABASE_URL` and `LATCH_TEST_REDIS_URL` are set;
//! an unreachable server then fails the test). [`separate`] runs the five
//! services as separate servers instead.

pub mod apple_standin;
pub mod github_standin;
pub mod mail;
pub mod oidc;
pub mod separate;

use std::{net::SocketAddr, sync::Arc};

use latch_domain::{Clock, ManualClock};
use latch_proto::latch::{
    authorization::v1::{
        AssignRoleRequest, authorization_service_client::AuthorizationServiceClient,
    },
    common::v1::{AuthResult, User},
    identity::v1::{
        GetUserRequest, LoginRequest, LoginResponse, LogoutRequest, SendEmailVerificationRequest,
        SignUpRequest, SignUpResponse, VerifyEmailRequest,
        identity_service_client::IdentityServiceClient, login_response,
    },
    profile::v1::profile_service_client::ProfileServiceClient,
    session::v1::session_service_client::SessionServiceClient,
    token::v1::token_service_client::TokenServiceClient,
};
use latch_runtime::{
    auth::{SERVICE_TOKEN_HEADER, ServicePolicy},
    config::MapSource,
    http::{HttpConfig, HttpListener},
    infra::Infra,
    secrets::Secrets,
    server,
};
use latch_testkit::{SmtpSink, TestDatabase, TestRedis};
use tokio::{net::TcpListener, sync::oneshot};
use tonic::{Code, Request, Response, Status, metadata::MetadataValue, transport::Channel};

/// The policy tables of the five services, as latchd serves them.
pub const POLICIES: [ServicePolicy; 5] = [
    latch_identity::grpc::POLICY,
    latch_token::grpc::POLICY,
    latch_session::grpc::POLICY,
    latch_authorization::grpc::POLICY,
    latch_profile::grpc::POLICY,
];

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
    /// The HTTP port (JWKS, discovery), served only when the settings
    /// name `LATCH_HTTP_ADDR` (e.g. `127.0.0.1:0`).
    pub http_addr: Option<SocketAddr>,
    pub clock: ManualClock,
    pub infra: Infra,
    /// On PostgreSQL + Redis, the prefix of this latchd's Redis keys and
    /// channels (its `LATCH_REDIS_PREFIX`), e.g. to follow its events.
    pub redis_prefix: Option<String>,
    service_token: String,
    channel: Channel,
    shutdown: Option<oneshot::Sender<()>>,
    _db: TestDatabase,
    _data_dir: tempfile::TempDir,
}

impl TestLatchd {
    /// Starts latchd on `backend`, or `None` when the PostgreSQL + Redis
    /// environment is not configured.
    pub async fn start(backend: Backend) -> Option<Self> {
        Self::start_with(backend, MapSource::new()).await
    }

    /// As [`Self::start`], with extra `LATCH_*` settings.
    pub async fn start_with(backend: Backend, mut settings: MapSource) -> Option<Self> {
        // Whatever latchd writes to its data directory (mail files when no
        // SMTP is set) goes to a directory of this test's, not the tree.
        let data_dir = must(tempfile::tempdir(), "data dir");
        if latch_runtime::config::ConfigSource::get(&settings, "LATCH_DATA_DIR").is_none() {
            settings.set("LATCH_DATA_DIR", data_dir.path().display().to_string());
        }
        let clock = ManualClock::starting_now();
        let shared_clock: Arc<dyn Clock> = Arc::new(clock.clone());
        let mut redis_prefix = None;
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
                redis_prefix = Some(redis.prefix().to_owned());
                let infra = must(
                    Infra::with_redis(db.db().clone(), redis, &url, shared_clock.clone()),
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
        let stop = futures::FutureExt::shared(async {
            let _ = rx.await;
        });
        let http_config = must(HttpConfig::from_source(&settings, None), "http settings");
        let http_listener = must(HttpListener::bind(&http_config).await, "bind http");
        let http_addr = http_listener.as_ref().map(HttpListener::local_addr);
        if let Some(http_listener) = http_listener {
            let routes = latchd.http_routes(http_listener.public_url());
            latch_runtime::http::spawn(routes, http_listener, stop.clone());
        }
        tokio::spawn(async move {
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
            http_addr,
            clock,
            infra,
            redis_prefix,
            service_token: secrets.service_token.expose().clone(),
            channel,
            shutdown: Some(tx),
            _db: db,
            _data_dir: data_dir,
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
    pub async fn sign_up(&self, email: &str) -> SignUpResponse {
        sign_up(self.identity(), email).await
    }

    /// Signs up a user and returns their tokens.
    pub async fn signed_up(&self, email: &str) -> AuthResult {
        must(
            self.sign_up(email).await.auth.ok_or("no tokens"),
            "signed in",
        )
    }

    /// Signs `email` up and gives it `role` through the internal
    /// AssignRole, as a bootstrap would.
    pub async fn with_role(&self, email: &str, role: &str) -> AuthResult {
        let auth = self.signed_up(email).await;
        must(
            self.authorization()
                .assign_role(self.internal(AssignRoleRequest {
                    user_id: auth.user_id.clone(),
                    role: role.into(),
                }))
                .await,
            "assign",
        );
        auth
    }

    /// Logs in with [`PASSWORD`] and returns the tokens.
    pub async fn login(&self, email: &str) -> AuthResult {
        log_in(self.identity(), email).await
    }

    /// Logs out the session of `access_token`.
    pub async fn logout(&self, access_token: &str) {
        log_out(self.identity(), access_token).await;
    }

    /// The caller's account, read with their access token.
    pub async fn me(&self, access_token: &str) -> User {
        let request = bearer(GetUserRequest::default(), access_token);
        let user = must(self.identity().get_user(request).await, "get user")
            .into_inner()
            .user;
        must(user.ok_or("no user in the answer"), "get user")
    }

    /// Signs `email` up with a password and verifies the address with the
    /// code mailed to `smtp`; returns a fresh password sign-in.
    pub async fn verified_password_user(&self, smtp: &SmtpSink, email: &str) -> AuthResult {
        self.signed_up(email).await;
        let mut identity = self.identity();
        must(
            identity
                .send_email_verification(SendEmailVerificationRequest {
                    email: email.to_owned(),
                    client: None,
                })
                .await,
            "send verification",
        );
        let mail = mail::mails_to(smtp, email, "Verify your email address", 1).await;
        assert_eq!(mail.len(), 1, "the code arrives");
        must(
            identity
                .verify_email(VerifyEmailRequest {
                    code: mail::code_in(&mail[0].text()),
                    email: email.to_owned(),
                    client: None,
                })
                .await,
            "verify email",
        );
        let auth = self.login(email).await;
        assert!(self.me(&auth.access_token).await.email_verified);
        auth
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

/// Signs up a user through `identity` with [`sign_up_request`].
pub async fn sign_up(mut identity: IdentityServiceClient<Channel>, email: &str) -> SignUpResponse {
    must(identity.sign_up(sign_up_request(email)).await, "sign up").into_inner()
}

/// A password login of `email` through `identity`, as answered: tokens, a
/// second-factor challenge or a refusal.
pub async fn password_login(
    mut identity: IdentityServiceClient<Channel>,
    email: &str,
    password: &str,
) -> Result<LoginResponse, Status> {
    let request = LoginRequest {
        email: email.to_owned(),
        password: password.to_owned(),
        client: None,
    };
    identity.login(request).await.map(Response::into_inner)
}

/// Logs in with [`PASSWORD`] through `identity` and returns the tokens;
/// panics on a refusal or a second-factor challenge.
pub async fn log_in(identity: IdentityServiceClient<Channel>, email: &str) -> AuthResult {
    let response = must(password_login(identity, email, PASSWORD).await, "login");
    match response.result {
        Some(login_response::Result::Auth(auth)) => auth,
        other => panic!("expected tokens, got {other:?}"),
    }
}

/// Logs out the session of `access_token` through `identity`.
pub async fn log_out(mut identity: IdentityServiceClient<Channel>, access_token: &str) {
    let request = bearer(LogoutRequest {}, access_token);
    must(identity.logout(request).await, "logout");
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

/// Asserts that `result` was refused with `code` and the stable reason
/// `why`.
#[track_caller]
pub fn assert_refused<T: std::fmt::Debug>(result: Result<T, Status>, code: Code, why: &str) {
    match result {
        Err(status) => assert_eq!(
            (status.code(), reason(&status).as_str()),
            (code, why),
            "{status:?}"
        ),
        Ok(value) => panic!("expected {why}, got Ok({value:?})"),
    }
}

/// The field a `BadRequest` detail names.
pub fn bad_field(status: &Status) -> Option<String> {
    use tonic_types::StatusExt;
    status
        .get_details_bad_request()
        .and_then(|b| b.field_violations.first().map(|v| v.field.clone()))
}

/// The code an authenticator shows for `secret` (base32) at `unix_seconds`:
/// RFC 6238 with SHA-1, 6 digits, 30-second steps.
pub fn totp_code_at(secret: &str, unix_seconds: i64) -> String {
    let secret = must(totp_rs::Secret::try_from_base32(secret), "base32 secret");
    let totp = must(
        totp_rs::Builder::new()
            .with_secret(secret.as_bytes().to_vec())
            .build(),
        "TOTP",
    );
    totp.generate(u64::try_from(unix_seconds).unwrap_or_default())
        .to_string()
}

/// Unwraps in the harness, with what failed in the panic message.
pub fn must<T, E: std::fmt::Debug>(result: Result<T, E>, what: &str) -> T {
    match result {
        Ok(value) => value,
        Err(err) => panic!("{what}: {err:?}"),
    }
}

/// Runs `scenario` against latchd on `backend` with `settings`; on
/// PostgreSQL + Redis when not configured, says so and returns (or fails,
/// under `LATCH_TEST_REQUIRE_BACKENDS`).
pub async fn run<F, Fut>(backend: Backend, settings: MapSource, scenario: F)
where
    F: FnOnce(TestLatchd) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    match TestLatchd::start_with(backend, settings).await {
        Some(latchd) => scenario(latchd).await,
        None => eprintln!("LATCH_TEST_DATABASE_URL unset: PostgreSQL + Redis run skipped"),
    }
}

/// As [`run`], with latchd's mail going to a real SMTP sink the scenario
/// reads ([`start_with_mail`]).
pub async fn run_with_mail<F, Fut>(backend: Backend, settings: MapSource, scenario: F)
where
    F: FnOnce(TestLatchd, latch_testkit::SmtpSink) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    match start_with_mail(backend, settings).await {
        Some((latchd, smtp)) => scenario(latchd, smtp).await,
        None => eprintln!("LATCH_TEST_DATABASE_URL unset: PostgreSQL + Redis run skipped"),
    }
}

/// Runs each scenario on both backends as two tests:
/// - `e2e!(name, …)` for `async fn name(latchd: TestLatchd)`;
/// - `e2e!(settings = f; name, …)` with the `MapSource` that `f()` returns;
/// - `e2e!(mail; name, …)` / `e2e!(mail, settings = f; name, …)` for
///   `async fn name(latchd: TestLatchd, smtp: SmtpSink)`, latchd mailing
///   the sink;
/// - `e2e!(world = run; name, …)` for a file with its own world: each test
///   calls `run(backend, name)` of that file.
#[macro_export]
macro_rules! e2e {
    (@case $runner:ident, $scenario:ident, $settings:expr) => {
        mod $scenario {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn embedded() {
                $crate::$runner($crate::Backend::Embedded, $settings, super::$scenario).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres_redis() {
                $crate::$runner($crate::Backend::PostgresRedis, $settings, super::$scenario).await;
            }
        }
    };
    (world = $run:ident; $($scenario:ident),* $(,)?) => {
        $(
            mod $scenario {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn embedded() {
                    super::$run($crate::Backend::Embedded, super::$scenario).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres_redis() {
                    super::$run($crate::Backend::PostgresRedis, super::$scenario).await;
                }
            }
        )*
    };
    (settings = $settings:ident; $($scenario:ident),* $(,)?) => {
        $( $crate::e2e!(@case run, $scenario, super::$settings()); )*
    };
    (mail, settings = $settings:ident; $($scenario:ident),* $(,)?) => {
        $( $crate::e2e!(@case run_with_mail, $scenario, super::$settings()); )*
    };
    (mail; $($scenario:ident),* $(,)?) => {
        $( $crate::e2e!(@case run_with_mail, $scenario, latch_runtime::config::MapSource::new()); )*
    };
    ($($scenario:ident),* $(,)?) => {
        $( $crate::e2e!(@case run, $scenario, latch_runtime::config::MapSource::new()); )*
    };
}

/// Starts latchd on `backend` with `settings` and its mail going to a
/// fresh, real SMTP sink (the outbox polled every 20 ms), or `None` as
/// [`TestLatchd::start`].
pub async fn start_with_mail(
    backend: Backend,
    settings: MapSource,
) -> Option<(TestLatchd, latch_testkit::SmtpSink)> {
    let smtp = latch_testkit::SmtpSink::start().await;
    let settings = settings
        .with("LATCH_SMTP_URL", smtp.url())
        .with("LATCH_SMTP_FROM", "latch@example.com")
        .with("LATCH_OUTBOX_POLL_INTERVAL", "20ms");
    let latchd = TestLatchd::start_with(backend, settings).await?;
    Some((latchd, smtp))
}

/// `url` with its query parameter `key` set to `value` (which must be
/// there): an authorization request tampered with on its way.
pub fn replacing_query(url: &str, key: &str, value: &str) -> String {
    let mut url = must(reqwest::Url::parse(url), "authorization URL");
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == key {
                value.to_owned()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    assert!(pairs.iter().any(|(k, _)| k == key), "Latch sends {key}");
    url.query_pairs_mut().clear().extend_pairs(pairs);
    url.to_string()
}
