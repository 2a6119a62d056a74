//! The profile binary's wiring: its own table, siblings over gRPC.

use std::sync::Arc;

use latch_domain::Result;
use latch_runtime::{
    authz_cache::AuthzCache,
    binary::{Assembled, Context},
    config::{ConfigSource, duration_in},
    server::ServiceSet,
    siblings::Siblings,
};
use latch_store::sql::SqlProfiles;

use crate::{Profiles, avatar::Avatars, grpc};

pub async fn assemble(ctx: Context) -> Result<Assembled> {
    let source = ctx.source.as_ref();
    let siblings = Siblings::new(source, ctx.secrets.service_token.clone());
    let profiles = Profiles::new(
        Arc::new(SqlProfiles::new(ctx.infra.db.clone())),
        ctx.infra.bus.clone(),
        ctx.clock.clone(),
        cache_ttl(source)?,
    );
    profiles.spawn_update_listener();
    ctx.spawn_outbox_worker(Vec::new())?;
    let avatars = Avatars::start(
        source,
        profiles.clone(),
        Arc::new(SqlProfiles::new(ctx.infra.db.clone())),
        ctx.clock.clone(),
    )
    .await?;
    let mut services = ServiceSet::new();
    services.add(grpc::server(profiles, avatars), grpc::POLICY);
    let roles = AuthzCache::start(source, ctx.infra.bus.clone(), ctx.clock.clone())?
        .roles(siblings.authorization()?);
    Ok(Assembled {
        services,
        guard: siblings.guard(
            ctx.clock,
            siblings.session()?,
            ctx.infra.rate_limiter.clone(),
            roles,
        )?,
    })
}

/// `LATCH_PROFILE_CACHE_TTL` (default 30 s; 0 turns the cache off).
pub fn cache_ttl(source: &dyn ConfigSource) -> Result<std::time::Duration> {
    // Longer than a few minutes would let a stale copy outlive what a
    // lost `user:updated` should cost.
    duration_in(
        source,
        "LATCH_PROFILE_CACHE_TTL",
        Profiles::DEFAULT_CACHE_TTL,
        std::time::Duration::ZERO..=std::time::Duration::from_secs(300),
    )
}
