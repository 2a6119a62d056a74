//! The five services as separate servers on PostgreSQL + Redis, each on a
//! port of its own and reaching the others only over gRPC with the service
//! credential: the production shape, in one test process. A server can be
//! stopped like a killed pod and started again on the same address.

use std::{collections::HashMap, net::SocketAddr, sync::Arc, time::Duration};

use latch_domain::{Clock, SystemClock};
use latch_proto::latch::{
    identity::v1::identity_service_client::IdentityServiceClient,
    profile::v1::profile_service_client::ProfileServiceClient,
    session::v1::session_service_client::SessionServiceClient,
    token::v1::token_service_client::TokenServiceClient,
};
use latch_runtime::{
    auth::SERVICE_TOKEN_HEADER,
    binary::{Assembled, Context},
    config::MapSource,
    infra::Infra,
    secrets::Secrets,
    server,
};
use latch_store::{Database, redis::Redis};
use latch_testkit::{TestDatabase, TestRedis};
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};
use tonic::{Request, transport::Channel};

use crate::{must, with_header};

/// One of the five service binaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    Identity,
    Token,
    Session,
    Authorization,
    Profile,
}

impl Service {
    pub const ALL: [Service; 5] = [
        Service::Identity,
        Service::Token,
        Service::Session,
        Service::Authorization,
        Service::Profile,
    ];

    fn name(self) -> &'static str {
        match self {
            Service::Identity => "identity",
            Service::Token => "token",
            Service::Session => "session",
            Service::Authorization => "authorization",
            Service::Profile => "profile",
        }
    }

    /// Where its siblings find it: `LATCH_<SERVICE>_URL`.
    fn url_key(self) -> String {
        format!("LATCH_{}_URL", self.name().to_uppercase())
    }

    /// What its binary's `standalone::assemble` builds from `ctx`.
    async fn assemble(self, ctx: Context) -> Assembled {
        let assembled = match self {
            Service::Identity => latch_identity::standalone::assemble(ctx).await,
            Service::Token => latch_token::standalone::assemble(ctx).await,
            Service::Session => latch_session::standalone::assemble(ctx).await,
            Service::Authorization => latch_authorization::standalone::assemble(ctx).await,
            Service::Profile => latch_profile::standalone::assemble(ctx).await,
        };
        must(assembled, &format!("assemble {}", self.name()))
    }
}

/// The five servers, each as its own binary would run it, sharing one
/// database, one Redis key prefix and one set of secrets. Dropping it
/// stops them all.
pub struct FiveServers {
    source: Arc<MapSource>,
    secrets: Secrets,
    redis: Redis,
    redis_url: String,
    addrs: HashMap<Service, SocketAddr>,
    running: HashMap<Service, Running>,
    db: TestDatabase,
}

impl FiveServers {
    /// Starts the five servers with `settings` (plus the `LATCH_*_URL` of
    /// each), or `None` when `LATCH_TEST_DATABASE_URL` is unset (a failure
    /// instead when `LATCH_TEST_REQUIRE_BACKENDS` is set). With the
    /// database set, Redis must be too.
    pub async fn start(mut settings: MapSource) -> Option<Self> {
        let Some(db) = TestDatabase::postgres().await else {
            eprintln!(
                "LATCH_TEST_DATABASE_URL unset: the separate-services run needs PostgreSQL + Redis"
            );
            return None;
        };
        let missing = "LATCH_TEST_REDIS_URL must be set with LATCH_TEST_DATABASE_URL";
        let redis = TestRedis::from_env()
            .await
            .unwrap_or_else(|| panic!("{missing}"));
        let redis_url = TestRedis::url().unwrap_or_else(|| panic!("{missing}"));

        let mut listeners = Vec::new();
        let mut addrs = HashMap::new();
        for service in Service::ALL {
            let listener = must(TcpListener::bind("127.0.0.1:0").await, "bind");
            let addr = must(listener.local_addr(), "local addr");
            settings.set(&service.url_key(), format!("http://{addr}"));
            listeners.push((service, listener));
            addrs.insert(service, addr);
        }
        let mut servers = Self {
            source: Arc::new(settings),
            secrets: must(Secrets::generate(), "secrets"),
            redis,
            redis_url,
            addrs,
            running: HashMap::new(),
            db,
        };
        for (service, listener) in listeners {
            servers.serve(service, listener).await;
        }
        Some(servers)
    }

    pub fn addr(&self, service: Service) -> SocketAddr {
        self.addrs[&service]
    }

    /// A lazily connecting channel to `service`, so it may be down.
    pub fn channel(&self, service: Service) -> Channel {
        must(
            Channel::from_shared(format!("http://{}", self.addr(service)))
                .map(|e| e.connect_lazy()),
            "channel",
        )
    }

    pub fn identity(&self) -> IdentityServiceClient<Channel> {
        IdentityServiceClient::new(self.channel(Service::Identity))
    }

    pub fn token(&self) -> TokenServiceClient<Channel> {
        TokenServiceClient::new(self.channel(Service::Token))
    }

    pub fn session(&self) -> SessionServiceClient<Channel> {
        SessionServiceClient::new(self.channel(Service::Session))
    }

    pub fn profile(&self) -> ProfileServiceClient<Channel> {
        ProfileServiceClient::new(self.channel(Service::Profile))
    }

    /// The database the five share.
    pub fn db(&self) -> &Database {
        self.db.db()
    }

    /// A request carrying Latch's own service credential, as a sibling sends.
    pub fn internal<T>(&self, message: T) -> Request<T> {
        with_header(
            Request::new(message),
            SERVICE_TOKEN_HEADER,
            self.secrets.service_token.expose(),
        )
    }

    /// Stops `service` like a killed pod: it stops accepting and closes its
    /// connections. Returns once its port is free.
    pub async fn stop(&mut self, service: Service) {
        let running = self
            .running
            .remove(&service)
            .unwrap_or_else(|| panic!("{} is not running", service.name()));
        running.kill().await;
    }

    /// Starts `service` again, freshly assembled, on the address it had.
    pub async fn restart(&mut self, service: Service) {
        let listener = must(
            TcpListener::bind(self.addr(service)).await,
            &format!("rebind the {} port", service.name()),
        );
        self.serve(service, listener).await;
    }

    async fn serve(&mut self, service: Service, listener: TcpListener) {
        let assembled = service.assemble(self.context()).await;
        let running = Running::spawn(service.name(), assembled, listener);
        self.running.insert(service, running);
    }

    /// What a binary is assembled from: the same settings, secrets and
    /// stores for every server, an infrastructure (pools) of its own.
    fn context(&self) -> Context {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let infra = Infra::with_redis(
            self.db.db().clone(),
            self.redis.clone(),
            &self.redis_url,
            clock.clone(),
        );
        Context {
            source: self.source.clone(),
            secrets: self.secrets.clone(),
            infra: must(infra, "infra"),
            clock,
        }
    }
}

impl Drop for FiveServers {
    fn drop(&mut self) {
        for (_, running) in self.running.drain() {
            let _ = running.stop.send(());
        }
    }
}

/// One server's task and the signal that stops it.
struct Running {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Running {
    fn spawn(name: &'static str, assembled: Assembled, listener: TcpListener) -> Self {
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let stopped = async {
                let _ = stopped.await;
            };
            if let Err(err) =
                server::serve(assembled.services, listener, assembled.guard, stopped).await
            {
                eprintln!("{name} stopped: {err}");
            }
        });
        Self { stop, task }
    }

    /// Stops accepting and closes its connections; returns once the port
    /// is free (aborting a server that takes more than 10 s).
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
