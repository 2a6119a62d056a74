//! The authorization binary's wiring: its own tables, siblings over gRPC.

use std::sync::Arc;

use latch_domain::Result;
use latch_runtime::{
    auth::{AccessTokenAuthenticator, remote_verifier},
    binary::{Assembled, Context},
    server::{Guard, ServiceSet},
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
    let verifier = remote_verifier(source, &siblings.token_url()?, ctx.clock)?;
    Ok(Assembled {
        services,
        guard: Guard {
            authenticator: AccessTokenAuthenticator::new(verifier, siblings.session()?),
            service_token: ctx.secrets.service_token,
        },
    })
}
