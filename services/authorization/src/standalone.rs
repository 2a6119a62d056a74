//! The authorization binary's wiring: its own tables, siblings over gRPC.

use std::sync::Arc;

use latch_domain::Result;
use latch_runtime::{
    binary::{Assembled, Context},
    server::ServiceSet,
    siblings::Siblings,
};
use latch_store::sql::SqlRoles;

use crate::{Roles, grpc};

pub async fn assemble(ctx: Context) -> Result<Assembled> {
    let source = ctx.source.as_ref();
    let siblings = Siblings::new(source, ctx.secrets.service_token.clone());
    let roles = Roles::new(
        Arc::new(SqlRoles::new(ctx.infra.db.clone())),
        ctx.clock.clone(),
    );
    let mut services = ServiceSet::new();
    services.add(grpc::server(roles), grpc::POLICY);
    Ok(Assembled {
        services,
        guard: siblings.guard(
            ctx.clock,
            siblings.session()?,
            ctx.infra.rate_limiter.clone(),
        )?,
    })
}
