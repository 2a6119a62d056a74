//! The session binary's wiring: its own table and cache, siblings over
//! gRPC, and the outbox worker that revokes revoked sessions' families
//! through the token service.

use std::sync::Arc;

use latch_domain::Result;
use latch_runtime::{
    authz_cache::AuthzCache,
    binary::{Assembled, Context},
    server::ServiceSet,
    siblings::Siblings,
};
use latch_store::sql::SqlSessions;

use crate::{SessionConfig, SessionDeps, Sessions, follow_up::RevokeFamilies, geo, grpc};

pub async fn assemble(ctx: Context) -> Result<Assembled> {
    let source = ctx.source.as_ref();
    let siblings = Siblings::new(source, ctx.secrets.service_token.clone());
    let sessions = Sessions::new(
        SessionDeps {
            repo: Arc::new(SqlSessions::new(ctx.infra.db.clone())),
            cache: ctx.infra.cache.clone(),
            bus: ctx.infra.bus.clone(),
            clock: ctx.clock.clone(),
            // A bad LATCH_GEOIP_DB stops the start.
            geoip: geo::from_source(source).await?,
        },
        SessionConfig::from_source(source)?,
    );
    sessions.spawn_revocation_listener();
    sessions.spawn_cleanup();
    ctx.spawn_outbox_worker(vec![RevokeFamilies::new(siblings.token()?)])?;
    let mut services = ServiceSet::new();
    let roles = AuthzCache::start(source, ctx.infra.bus.clone(), ctx.clock.clone())?
        .roles(siblings.authorization()?);
    services.add(grpc::server(sessions.clone(), roles.clone()), grpc::POLICY);
    Ok(Assembled {
        services,
        guard: siblings.guard(ctx.clock, sessions, ctx.infra.rate_limiter.clone(), roles)?,
    })
}
