//! The identity binary's wiring: its own tables, siblings over gRPC, and
//! the outbox worker that sends the mail and SMS identity queues.

use std::sync::Arc;

use latch_domain::{Result, ports::OutboxRepository};
use latch_runtime::{
    binary::{Assembled, Context},
    outbox::{OutboxConfig, OutboxWorker},
    server::ServiceSet,
    siblings::Siblings,
};
use latch_store::sql::{SqlLoginHistory, SqlOutbox, SqlPasswordResets, SqlSecondFactors, SqlUsers};

use crate::{
    Argon2Hasher, Identity, IdentityConfig, IdentityDeps, IdentitySecrets, Outbound, grpc,
};

pub async fn assemble(ctx: Context) -> Result<Assembled> {
    let source = ctx.source.as_ref();
    let siblings = Siblings::new(source, ctx.secrets.service_token.clone());
    let sessions = siblings.session()?;
    let roles = siblings.authorization()?;
    let secrets = IdentitySecrets::derive(ctx.secrets.encryption_key.clone());
    let outbound = Outbound::from_source(source, &secrets, ctx.clock.clone()).await?;
    let outbox: Arc<dyn OutboxRepository> = Arc::new(SqlOutbox::new(ctx.infra.db.clone()));
    OutboxWorker::new(
        outbox.clone(),
        ctx.clock.clone(),
        OutboxConfig::from_source(source)?,
        outbound.handlers,
    )?
    .spawn();
    let identity = Identity::new(
        IdentityDeps {
            users: Arc::new(SqlUsers::new(ctx.infra.db.clone())),
            login_history: Arc::new(SqlLoginHistory::new(ctx.infra.db.clone())),
            second_factors: Arc::new(SqlSecondFactors::new(ctx.infra.db.clone())),
            password_resets: Arc::new(SqlPasswordResets::new(ctx.infra.db.clone())),
            hasher: Argon2Hasher::from_source(source)?,
            sessions: sessions.clone(),
            tokens: siblings.token()?,
            roles: roles.clone(),
            profiles: siblings.profile()?,
            bus: ctx.infra.bus.clone(),
            rate_limiter: ctx.infra.rate_limiter.clone(),
            clock: ctx.clock.clone(),
            outbox,
            messages: outbound.composer,
            flow_state: ctx.infra.flow_state.clone(),
            secrets,
        },
        IdentityConfig::from_source(source)?,
    );
    let mut services = ServiceSet::new();
    services.add(grpc::server(identity, roles), grpc::POLICY);
    Ok(Assembled {
        services,
        guard: siblings.guard(ctx.clock, sessions)?,
    })
}
