//! The token binary's wiring: its own tables, siblings over gRPC, the
//! outbox worker that ends the sessions of families revoked for reuse, the
//! signing-key schedule, and the JWKS over HTTP when `LATCH_HTTP_ADDR` is
//! set.

use std::sync::Arc;

use latch_domain::Result;
use latch_runtime::{
    auth::{AccessTokenAuthenticator, MachineCallers, PublicRateLimits},
    authz_cache::AuthzCache,
    binary::{Assembled, Context},
    http::{HttpConfig, HttpListener},
    server::{self, Guard, ServiceSet},
    siblings::Siblings,
};
use latch_store::sql::{SqlRefreshTokens, SqlSigningKeys};

use crate::{TokenConfig, TokenDeps, TokenSecrets, Tokens, follow_up::RevokeSession, grpc};

pub async fn assemble(ctx: Context) -> Result<Assembled> {
    let source = ctx.source.as_ref();
    let siblings = Siblings::new(source, ctx.secrets.service_token.clone());
    let sessions = siblings.session()?;
    // Every refresh reads the user's status and roles: served from this
    // process while events keep the copy coherent.
    let authz = AuthzCache::start(source, ctx.infra.bus.clone(), ctx.clock.clone())?;
    let roles = authz.roles(siblings.authorization()?);
    ctx.spawn_outbox_worker(vec![RevokeSession::new(sessions.clone())])?;
    let tokens = Tokens::start(
        TokenDeps {
            refresh_tokens: Arc::new(SqlRefreshTokens::new(ctx.infra.db.clone())),
            signing_keys: Arc::new(SqlSigningKeys::new(ctx.infra.db.clone())),
            sessions: sessions.clone(),
            users: authz.users(siblings.identity()?),
            roles: roles.clone(),
            clock: ctx.clock.clone(),
        },
        TokenConfig::from_source(source)?,
        TokenSecrets {
            encryption_key: ctx.secrets.encryption_key,
            ip_hash_key: ctx.secrets.ip_hash_key,
            refresh_key: ctx.secrets.refresh_key,
        },
    )
    .await?;
    tokens.spawn_cleanup();
    tokens.spawn_key_schedule();
    // JWKS and discovery for gateways, only where LATCH_HTTP_ADDR is set.
    let http_config = HttpConfig::from_source(source, None)?;
    if let Some(listener) = HttpListener::bind(&http_config).await? {
        let routes = crate::http::routes(tokens.clone(), listener.public_url());
        latch_runtime::http::spawn(routes, listener, server::shutdown_signal());
    }
    let mut services = ServiceSet::new();
    services.add(grpc::server(tokens.clone(), roles.clone()), grpc::POLICY);
    Ok(Assembled {
        services,
        guard: Guard {
            // The keys are here: verify in process.
            authenticator: AccessTokenAuthenticator::from_source(
                source,
                tokens.verifier(),
                sessions,
                ctx.clock.clone(),
            )?,
            machines: MachineCallers::from_source(source, &ctx.secrets.service_token)?,
            rate_limits: PublicRateLimits::from_source(source, ctx.infra.rate_limiter.clone())?,
            roles,
        },
    })
}
