//! The identity binary's wiring: its own tables, siblings over gRPC, the
//! outbox worker that sends the mail and SMS identity queues and runs its
//! administration rows (a suspended user's sessions, each sibling's part
//! of a deletion), and the cleanup job.

use std::sync::Arc;

use latch_domain::{Result, ports::OutboxRepository};
use latch_runtime::{
    authz_cache::AuthzCache,
    binary::{Assembled, Context},
    server::ServiceSet,
    siblings::Siblings,
};
use latch_store::sql::{
    SqlExternalIdentities, SqlLoginHistory, SqlOutbox, SqlPasswordResets, SqlSecondFactors,
    SqlUsers,
};

use crate::{
    Argon2Hasher, CleanupConfig, Identity, IdentityCleanup, IdentityConfig, IdentityDeps,
    IdentitySecrets, Outbound, UserErasers, admin_handlers, bootstrap, grpc,
    oauth::providers::OidcProviders,
};

pub async fn assemble(ctx: Context) -> Result<Assembled> {
    let source = ctx.source.as_ref();
    // Read (and its password judged) before anything starts.
    let bootstrap_admin = bootstrap::BootstrapAdmin::from_source(source)?;
    // A bad providers file stops the start; an unreachable provider does not.
    let oauth = OidcProviders::from_source(source)?;
    oauth.discover_all();
    let siblings = Siblings::new(source, ctx.secrets.service_token.clone());
    let sessions = siblings.session()?;
    let role_client = siblings.authorization()?;
    // Admin checks ask for roles on every call: served from this process
    // while events keep the copy coherent.
    let roles = AuthzCache::start(source, ctx.infra.bus.clone(), ctx.clock.clone())?
        .roles(role_client.clone());
    let secrets = IdentitySecrets::derive(ctx.secrets.encryption_key.clone());
    let outbound = Outbound::from_source(source, &secrets, ctx.clock.clone()).await?;
    let outbox: Arc<dyn OutboxRepository> = Arc::new(SqlOutbox::new(ctx.infra.db.clone()));
    let erasers = UserErasers {
        sessions: sessions.clone(),
        tokens: siblings.token()?,
        roles: role_client,
        profiles: siblings.profile()?,
    };
    let mut handlers = outbound.handlers;
    handlers.extend(admin_handlers(sessions.clone(), &erasers));
    ctx.spawn_outbox_worker(handlers)?;
    let users = Arc::new(SqlUsers::new(ctx.infra.db.clone()));
    let login_history = Arc::new(SqlLoginHistory::new(ctx.infra.db.clone()));
    IdentityCleanup::new(
        crate::CleanupStores {
            admin: users.clone(),
            history: login_history.clone(),
            resets: Arc::new(SqlPasswordResets::new(ctx.infra.db.clone())),
            second_factors: Arc::new(SqlSecondFactors::new(ctx.infra.db.clone())),
        },
        erasers,
        ctx.clock.clone(),
        CleanupConfig::from_source(source)?,
        latch_runtime::metrics::CleanupCounter::global(),
    )
    .spawn();
    let identity = Identity::new(
        IdentityDeps {
            users: users.clone(),
            failure_records: users.clone(),
            user_admin: users,
            login_history,
            second_factors: Arc::new(SqlSecondFactors::new(ctx.infra.db.clone())),
            password_resets: Arc::new(SqlPasswordResets::new(ctx.infra.db.clone())),
            hasher: Argon2Hasher::from_source(source)?,
            sessions: sessions.clone(),
            tokens: siblings.token()?,
            roles: roles.clone(),
            profiles: siblings.profile()?,
            rate_limiter: ctx.infra.rate_limiter.clone(),
            failure_counter: ctx.infra.failure_counter.clone(),
            clock: ctx.clock.clone(),
            outbox,
            messages: outbound.composer,
            flow_state: ctx.infra.flow_state.clone(),
            identities: Arc::new(SqlExternalIdentities::new(ctx.infra.db.clone())),
            oauth,
            passkeys: Arc::new(latch_store::sql::SqlPasskeys::new(ctx.infra.db.clone())),
            secrets,
        },
        IdentityConfig::from_source(source)?,
    );
    if let Some(admin) = bootstrap_admin {
        // In the background: profile and authorization may start after us.
        bootstrap::spawn_at_start(identity.clone(), admin);
    }
    let mut services = ServiceSet::new();
    services.add(grpc::server(identity), grpc::POLICY);
    Ok(Assembled {
        services,
        guard: siblings.guard(ctx.clock, sessions, ctx.infra.rate_limiter.clone(), roles)?,
    })
}
