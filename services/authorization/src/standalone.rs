//! The authorization binary's wiring: its own tables, siblings over gRPC.

use std::sync::Arc;

use latch_domain::Result;
use latch_runtime::{
    authz_cache::AuthzCacheConfig,
    binary::{Assembled, Context},
    server::ServiceSet,
    siblings::Siblings,
};
use latch_store::sql::SqlRoles;

use crate::{
    RoleCache, Roles,
    ext_authz::{self, ExtAuthz},
    grpc,
};

pub async fn assemble(ctx: Context) -> Result<Assembled> {
    let source = ctx.source.as_ref();
    let siblings = Siblings::new(source, ctx.secrets.service_token.clone());
    let cache = RoleCache::new(
        ctx.infra.bus.clone(),
        AuthzCacheConfig::from_source(source)?,
    );
    cache.spawn_listener();
    let roles = Roles::with_cache(
        Arc::new(SqlRoles::new(ctx.infra.db.clone())),
        ctx.clock.clone(),
        cache,
    );
    ctx.spawn_outbox_worker(Vec::new())?;
    let mut services = ServiceSet::new();
    // An administrator's AssignRole names a user identity knows.
    services.add(
        grpc::server(roles.clone(), siblings.identity()?),
        grpc::POLICY,
    );
    let guard = siblings.guard(
        ctx.clock,
        siblings.session()?,
        ctx.infra.rate_limiter.clone(),
        roles,
    )?;
    // Envoy's check trusts a token and a permission exactly as Latch's own
    // RPCs do: the guard's authenticator and role directory.
    let rules = ext_authz::Rules::from_source(source)?;
    let check = ExtAuthz::new(guard.authenticator.clone(), guard.roles.clone(), rules);
    services.add(ext_authz::server(check), ext_authz::POLICY);
    Ok(Assembled { services, guard })
}
