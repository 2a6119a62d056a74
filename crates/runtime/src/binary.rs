//! The body of every per-service binary: read settings, connect PostgreSQL
//! and Redis (required: replicas share cache and events), assemble the
//! service, serve until SIGTERM.

use std::{future::Future, process::ExitCode, sync::Arc};

use latch_domain::{Clock, Error, Result, SystemClock};

use crate::{
    config::{ConfigSource, EnvSource},
    infra::{Infra, RedisRequirement},
    secrets::Secrets,
    server::{self, Guard, ServiceSet},
    settings::CommonConfig,
    telemetry,
};

/// What a service's assembly hands to a server.
pub struct Assembled {
    pub services: ServiceSet,
    pub guard: Guard,
}

/// Everything a service is assembled from.
pub struct Context {
    pub source: Arc<dyn ConfigSource>,
    pub secrets: Secrets,
    pub infra: Infra,
    pub clock: Arc<dyn Clock>,
}

impl Context {
    /// Starts this binary's outbox worker for `handlers` plus event
    /// delivery, which every binary runs (the events a binary commits are
    /// then delivered by its own worker at once), and beside it the purge
    /// of finished rows past their retention.
    pub fn spawn_outbox_worker(
        &self,
        mut handlers: Vec<Arc<dyn latch_domain::ports::OutboxHandler>>,
    ) -> Result<()> {
        handlers.push(crate::outbox::DeliverEvent::new(self.infra.bus.clone()));
        crate::outbox::OutboxWorker::new(
            Arc::new(latch_store::sql::SqlOutbox::new(self.infra.db.clone())),
            self.clock.clone(),
            crate::outbox::OutboxConfig::from_source(self.source.as_ref())?,
            handlers,
        )?
        .spawn();
        crate::outbox_purge::OutboxPurge::spawn_for(self)?;
        Ok(())
    }
}

/// Runs one service binary; `name` is for logs.
pub async fn run<F, Fut>(name: &'static str, assemble: F) -> ExitCode
where
    F: FnOnce(Context) -> Fut,
    Fut: Future<Output = Result<Assembled>>,
{
    match try_run(name, assemble).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("latch-{name}: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn try_run<F, Fut>(name: &'static str, assemble: F) -> Result<()>
where
    F: FnOnce(Context) -> Fut,
    Fut: Future<Output = Result<Assembled>>,
{
    let source: Arc<dyn ConfigSource> = Arc::new(EnvSource);
    let common = CommonConfig::from_source(source.as_ref())?;
    let telemetry = telemetry::init(&telemetry::TelemetryConfig::new(
        &common,
        &format!("latch-{name}"),
    ))?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let secrets = Secrets::load(source.as_ref(), &common).await?;
    // Migrations belong to `latchd migrate` (a Kubernetes Job), not to replicas.
    let infra = Infra::connect(&common, clock.clone(), RedisRequirement::Required, false).await?;
    let assembled = assemble(Context {
        source,
        secrets,
        infra,
        clock,
    })
    .await?;
    let listener = tokio::net::TcpListener::bind(common.grpc_addr)
        .await
        .map_err(|e| Error::internal_msg(format!("cannot listen on {}: {e}", common.grpc_addr)))?;
    tracing::info!(service = name, addr = %common.grpc_addr, "serving");
    let served = server::serve_with_limits(
        assembled.services,
        listener,
        assembled.guard,
        &common.limits,
        server::shutdown_signal(),
    )
    .await;
    telemetry.shutdown().await;
    served
}
