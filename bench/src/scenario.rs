//! What a scenario is: a name, what it is compared with, and an async setup
//! that seeds what it needs and returns the one request the load loop
//! repeats. Adding a scenario is adding one entry to [`all`].

use std::sync::Arc;

use futures::future::BoxFuture;
use tokio::sync::OnceCell;
use tonic::{Request, metadata::MetadataValue, transport::Channel};

use crate::{
    baselines,
    error::{Context as _, Result},
    ext_authz, latchd_scenarios,
    load::Call,
    passkey_login,
    seed::{self, SeededUser},
};

/// Builds a scenario's request: seeds what it needs first.
pub(crate) type Setup = for<'a> fn(&'a Ctx) -> BoxFuture<'a, Result<Call>>;

/// One measured row of the report.
#[derive(Clone, Copy)]
pub(crate) struct Scenario {
    /// Its name on the command line and in the report.
    pub(crate) name: &'static str,
    /// How a ratio to it reads when it is a baseline ("argon2 floor").
    pub(crate) label: &'static str,
    /// The scenario it is measured against, if any.
    pub(crate) baseline: Option<&'static str>,
    pub(crate) target: Option<Target>,
    /// Which server process does the work (for its RSS), if any.
    pub(crate) server: Server,
    /// Whether `--scale` runs it again on the large tables.
    pub(crate) rerun_at_scale: bool,
    pub(crate) setup: Setup,
}

/// Where a scenario's work happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Server {
    Latchd,
    Echo,
    /// In the bench process (raw verify, client verifier) or in
    /// PostgreSQL/Redis themselves.
    None,
}

/// A goal from the issue: the least ratio to the baseline and, for some, the
/// most p99 latency.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target {
    pub(crate) min_ratio: f64,
    pub(crate) max_p99_ms: Option<f64>,
}

impl Target {
    pub(crate) const fn ratio(min_ratio: f64) -> Option<Self> {
        Some(Self {
            min_ratio,
            max_p99_ms: None,
        })
    }
}

/// Every scenario, baselines first, in report order.
pub(crate) fn all() -> Vec<Scenario> {
    let mut scenarios = baselines::scenarios();
    scenarios.extend(latchd_scenarios::scenarios());
    scenarios.push(passkey_login::scenario());
    scenarios.push(ext_authz::scenario());
    scenarios
}

/// What scenarios reach: the servers, the backends and the seeded users.
pub(crate) struct Ctx {
    pub(crate) latchd: Vec<Channel>,
    pub(crate) echo: Vec<Channel>,
    pub(crate) service_token: String,
    pub(crate) pg: sea_orm::sqlx::PgPool,
    pub(crate) redis: deadpool_redis::Pool,
    pub(crate) redis_prefix: String,
    /// Requests in flight, so also the number of seeded users.
    pub(crate) concurrency: usize,
    users: OnceCell<Arc<Vec<SeededUser>>>,
}

impl Ctx {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        latchd: Vec<Channel>,
        echo: Vec<Channel>,
        service_token: String,
        pg: sea_orm::sqlx::PgPool,
        redis: deadpool_redis::Pool,
        redis_prefix: String,
        concurrency: usize,
    ) -> Self {
        Self {
            latchd,
            echo,
            service_token,
            pg,
            redis,
            redis_prefix,
            concurrency,
            users: OnceCell::new(),
        }
    }

    /// One signed-up user per worker (with its session, access and refresh
    /// token), signed up on first use and shared by the scenarios after.
    pub(crate) async fn users(&self) -> Result<Arc<Vec<SeededUser>>> {
        self.users
            .get_or_try_init(|| async {
                seed::sign_up_users(&self.latchd, self.concurrency)
                    .await
                    .map(Arc::new)
            })
            .await
            .cloned()
    }

    /// The service credential header value, for internal RPCs.
    pub(crate) fn service_credential(&self) -> Result<MetadataValue<tonic::metadata::Ascii>> {
        MetadataValue::try_from(self.service_token.as_str()).context("service token header")
    }
}

/// Worker `worker`'s channel of `channels` (a few connections, shared).
pub(crate) fn pick(channels: &[Channel], worker: usize) -> Channel {
    channels[worker % channels.len()].clone()
}

/// A request with `authorization: Bearer <token>`.
pub(crate) fn bearer<T>(message: T, token: &MetadataValue<tonic::metadata::Ascii>) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", token.clone());
    request
}
