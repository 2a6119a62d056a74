//! The session binary's wiring: its own table and cache, siblings over gRPC.

use std::sync::Arc;

use latch_domain::Result;
use latch_runtime::{
    binary::{Assembled, Context},
    server::ServiceSet,
    siblings::Siblings,
};
use latch_store::sql::SqlSessions;

use crate::{SessionConfig, SessionDeps, Sessions, grpc};

pub async fn assemble(ctx: Context) -> Result<Assembled> {
    let source = ctx.source.as_ref();
    let siblings = Siblings::new(source, ctx.secrets.service_token.clone());
    let sessions = Sessions::new(
        SessionDeps {
            repo: Arc::new(SqlSessions::new(ctx.infra.db.clone())),
            cache: ctx.infra.cache.clone(),
            bus: ctx.infra.bus.clone(),
            tokens: siblings.token()?,
            clock: ctx.clock.clone(),
        },
        SessionConfig::from_source(source)?,
    );
    sessions.spawn_revocation_listener();
    let mut services = ServiceSet::new();
    services.add(
        grpc::server(sessions.clone(), siblings.authorization()?),
        grpc::POLICY,
    );
    Ok(Assembled {
        services,
        guard: siblings.guard(ctx.clock, sessions)?,
    })
}
