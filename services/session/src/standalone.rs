//! The session binary's wiring: its own table and cache, siblings over
//! gRPC, and the outbox worker that revokes revoked sessions' families
//! through the token service.

use std::sync::Arc;

use latch_domain::Result;
use latch_runtime::{
    authz_cache::AuthzCache,
    binary::{Assembled, Context},
    outbox::{OutboxConfig, OutboxWorker},
    server::ServiceSet,
    siblings::Siblings,
};
use latch_store::sql::{SqlOutbox, SqlSessions};

use crate::{SessionConfig, SessionDeps, Sessions, follow_up::RevokeFamilies, grpc};

pub async fn assemble(ctx: Context) -> Result<Assembled> {
    let source = ctx.source.as_ref();
    let siblings = Siblings::new(source, ctx.secrets.service_token.clone());
    let sessions = Sessions::new(
        SessionDeps {
            repo: Arc::new(SqlSessions::new(ctx.infra.db.clone())),
            cache: ctx.infra.cache.clone(),
            bus: ctx.infra.bus.clone(),
            clock: ctx.clock.clone(),
        },
        SessionConfig::from_source(source)?,
    );
    sessions.spawn_revocation_listener();
    sessions.spawn_cleanup();
    OutboxWorker::new(
        Arc::new(SqlOutbox::new(ctx.infra.db.clone())),
        ctx.clock.clone(),
        OutboxConfig::from_source(source)?,
        vec![RevokeFamilies::new(siblings.token()?)],
    )?
    .spawn();
    let mut services = ServiceSet::new();
    let roles = AuthzCache::start(source, ctx.infra.bus.clone(), ctx.clock.clone())?
        .roles(siblings.authorization()?);
    services.add(grpc::server(sessions.clone(), roles.clone()), grpc::POLICY);
    Ok(Assembled {
        services,
        guard: siblings.guard(ctx.clock, sessions, ctx.infra.rate_limiter.clone(), roles)?,
    })
}
