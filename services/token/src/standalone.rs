//! The token binary's wiring: its own tables, siblings over gRPC, and the
//! outbox worker that ends the sessions of families revoked for reuse.

use std::sync::Arc;

use latch_domain::Result;
use latch_runtime::{
    auth::{AccessTokenAuthenticator, MachineCallers, PublicRateLimits},
    binary::{Assembled, Context},
    outbox::{OutboxConfig, OutboxWorker},
    server::{Guard, ServiceSet},
    siblings::Siblings,
};
use latch_store::sql::{SqlOutbox, SqlRefreshTokens, SqlSigningKeys};

use crate::{TokenConfig, TokenDeps, TokenSecrets, Tokens, follow_up::RevokeSession, grpc};

pub async fn assemble(ctx: Context) -> Result<Assembled> {
    let source = ctx.source.as_ref();
    let siblings = Siblings::new(source, ctx.secrets.service_token.clone());
    let sessions = siblings.session()?;
    let roles = siblings.authorization()?;
    let tokens = Tokens::start(
        TokenDeps {
            refresh_tokens: Arc::new(SqlRefreshTokens::new(ctx.infra.db.clone())),
            signing_keys: Arc::new(SqlSigningKeys::new(ctx.infra.db.clone())),
            sessions: sessions.clone(),
            users: siblings.identity()?,
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
    OutboxWorker::new(
        Arc::new(SqlOutbox::new(ctx.infra.db.clone())),
        ctx.clock.clone(),
        OutboxConfig::from_source(source)?,
        vec![RevokeSession::new(sessions.clone())],
    )?
    .spawn();
    let mut services = ServiceSet::new();
    services.add(grpc::server(tokens.clone(), roles), grpc::POLICY);
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
        },
    })
}
