//! The identity binary's wiring: its own tables, siblings over gRPC.

use std::sync::Arc;

use latch_domain::Result;
use latch_runtime::{
    binary::{Assembled, Context},
    server::ServiceSet,
    siblings::Siblings,
};
use latch_store::sql::{SqlLoginHistory, SqlUsers};

use crate::{Argon2Hasher, Identity, IdentityConfig, IdentityDeps, grpc};

pub async fn assemble(ctx: Context) -> Result<Assembled> {
    let source = ctx.source.as_ref();
    let siblings = Siblings::new(source, ctx.secrets.service_token.clone());
    let sessions = siblings.session()?;
    let roles = siblings.authorization()?;
    let identity = Identity::new(
        IdentityDeps {
            users: Arc::new(SqlUsers::new(ctx.infra.db.clone())),
            login_history: Arc::new(SqlLoginHistory::new(ctx.infra.db.clone())),
            hasher: Argon2Hasher::from_source(source)?,
            sessions: sessions.clone(),
            tokens: siblings.token()?,
            roles: roles.clone(),
            profiles: siblings.profile()?,
            bus: ctx.infra.bus.clone(),
            rate_limiter: ctx.infra.rate_limiter.clone(),
            clock: ctx.clock.clone(),
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
