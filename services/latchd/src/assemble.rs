//! Wiring: repositories over the one database, the shared infrastructure,
//! then each service with its siblings reached in-process, and one outbox
//! worker running every service's follow-up work.

use std::sync::Arc;

use latch_authorization::{
    RoleCache, Roles,
    ext_authz::{self, ExtAuthz},
};
use latch_domain::{
    Clock, Result,
    ports::{
        OutboxHandler, OutboxRepository, RefreshTokenRepository, RoleDirectory, UserRepository,
    },
};
use latch_identity::{
    Argon2Hasher, CleanupConfig, Identity, IdentityCleanup, IdentityConfig, IdentityDeps,
    IdentitySecrets, Outbound, UserErasers, UserStatusReader, admin_handlers,
    bootstrap::{self, BootstrapAdmin},
    oauth::providers::OidcProviders,
};
use latch_profile::Profiles;
use latch_runtime::{
    auth::{AccessTokenAuthenticator, MachineCallers, PublicRateLimits},
    authz_cache::{AuthzCache, AuthzCacheConfig},
    config::ConfigSource,
    infra::Infra,
    outbox::{DeliverEvent, OutboxConfig, OutboxWorker},
    secrets::Secrets,
    server::{Guard, ServiceSet},
};
use latch_session::{SessionConfig, SessionDeps, Sessions, follow_up::RevokeFamilies};
use latch_store::sql::{
    SqlExternalIdentities, SqlLoginHistory, SqlOutbox, SqlPasswordResets, SqlProfiles,
    SqlRefreshTokens, SqlRoles, SqlSecondFactors, SqlSessions, SqlSigningKeys, SqlUsers,
};
use latch_token::{
    FamilyRevoker, TokenConfig, TokenDeps, TokenSecrets, Tokens, follow_up::RevokeSession,
};

/// The assembled process: what to serve and how to authenticate callers.
pub struct Latchd {
    pub services: ServiceSet,
    pub guard: Guard,
    /// Kept for harnesses and benchmarks that reach past gRPC.
    pub tokens: Arc<Tokens>,
    pub sessions: Arc<Sessions>,
    /// For `latchd bootstrap-admin`, harnesses and benchmarks.
    pub identity: Arc<Identity>,
}

impl Latchd {
    /// What latchd serves on its HTTP port (`LATCH_HTTP_ADDR`): the token
    /// service's JWKS and discovery documents, which name `public_url`.
    pub fn http_routes(&self, public_url: &str) -> latch_runtime::http::Router {
        latch_token::http::routes(self.tokens.clone(), public_url)
    }
}

pub async fn assemble(
    source: &dyn ConfigSource,
    secrets: &Secrets,
    infra: &Infra,
    clock: Arc<dyn Clock>,
) -> Result<Latchd> {
    let db = &infra.db;
    // Read (and its password judged) before anything starts.
    let bootstrap_admin = BootstrapAdmin::from_source(source)?;
    // A bad providers file stops the start; an unreachable provider does not.
    let oauth = OidcProviders::from_source(source)?;
    oauth.discover_all();
    let ext_authz_rules = ext_authz::Rules::from_source(source)?;

    // Every Check, admin check and refresh reads a user's roles: served
    // from this process while events keep the copy coherent.
    let authz_cache = AuthzCacheConfig::from_source(source)?;
    let role_cache = RoleCache::new(infra.bus.clone(), authz_cache);
    role_cache.spawn_listener();
    let roles = Roles::with_cache(
        Arc::new(SqlRoles::new(db.clone())),
        clock.clone(),
        role_cache,
    );
    // A refresh reads the user's status too.
    let status_cache = AuthzCache::new(infra.bus.clone(), clock.clone(), authz_cache);
    status_cache.spawn_listener();
    let profiles = Profiles::new(
        Arc::new(SqlProfiles::new(db.clone())),
        infra.bus.clone(),
        clock.clone(),
        latch_profile::standalone::cache_ttl(source)?,
    );
    profiles.spawn_update_listener();
    // Avatars (and their orphan cleanup); a bad store setting stops the start.
    let avatars = latch_profile::avatar::Avatars::start(
        source,
        profiles.clone(),
        Arc::new(SqlProfiles::new(db.clone())),
        clock.clone(),
    )
    .await?;

    let refresh_tokens: Arc<dyn RefreshTokenRepository> =
        Arc::new(SqlRefreshTokens::new(db.clone()));
    let sessions = Sessions::new(
        SessionDeps {
            repo: Arc::new(SqlSessions::new(db.clone())),
            cache: infra.cache.clone(),
            bus: infra.bus.clone(),
            clock: clock.clone(),
            // A bad LATCH_GEOIP_DB stops the start.
            geoip: latch_session::geo::from_source(source).await?,
        },
        SessionConfig::from_source(source)?,
    );
    sessions.spawn_revocation_listener();
    sessions.spawn_cleanup();

    let sql_users = Arc::new(SqlUsers::new(db.clone()));
    let users: Arc<dyn UserRepository> = sql_users.clone();
    // An administrator's AssignRole names a user who exists.
    let users_for_roles = users.clone();
    let tokens = Tokens::start(
        TokenDeps {
            refresh_tokens: refresh_tokens.clone(),
            signing_keys: Arc::new(SqlSigningKeys::new(db.clone())),
            sessions: sessions.clone(),
            users: status_cache.users(UserStatusReader::new(users.clone())),
            roles: roles.clone(),
            clock: clock.clone(),
        },
        TokenConfig::from_source(source)?,
        TokenSecrets {
            encryption_key: secrets.encryption_key.clone(),
            ip_hash_key: secrets.ip_hash_key.clone(),
            refresh_key: secrets.refresh_key.clone(),
        },
    )
    .await?;
    tokens.spawn_cleanup();
    tokens.spawn_key_schedule();

    // Every service's follow-up work in one worker, their siblings in
    // process: revocations, and identity's mail and SMS.
    let identity_secrets = IdentitySecrets::derive(secrets.encryption_key.clone());
    let outbound = Outbound::from_source(source, &identity_secrets, clock.clone()).await?;
    let outbox: Arc<dyn OutboxRepository> = Arc::new(SqlOutbox::new(db.clone()));
    let mut handlers: Vec<Arc<dyn OutboxHandler>> = vec![
        RevokeFamilies::new(Arc::new(FamilyRevoker::new(
            refresh_tokens.clone(),
            clock.clone(),
        ))),
        RevokeSession::new(sessions.clone()),
    ];
    handlers.extend(outbound.handlers);
    // Identity's administration rows, against the siblings in process.
    let erasers = UserErasers {
        sessions: sessions.clone(),
        tokens: tokens.clone(),
        roles: roles.clone(),
        profiles: profiles.clone(),
    };
    handlers.extend(admin_handlers(sessions.clone(), &erasers));
    handlers.push(DeliverEvent::new(infra.bus.clone()));
    OutboxWorker::new(
        outbox.clone(),
        clock.clone(),
        OutboxConfig::from_source(source)?,
        handlers,
    )?
    .spawn();
    // The outbox's finished rows past their retention.
    latch_runtime::outbox_purge::OutboxPurge::new(
        outbox.clone(),
        clock.clone(),
        latch_runtime::outbox_purge::OutboxPurgeConfig::from_source(source)?,
        latch_runtime::metrics::CleanupCounter::global(),
    )
    .spawn();

    let login_history = Arc::new(SqlLoginHistory::new(db.clone()));
    IdentityCleanup::new(
        latch_identity::CleanupStores {
            admin: sql_users.clone(),
            history: login_history.clone(),
            resets: Arc::new(SqlPasswordResets::new(db.clone())),
            second_factors: Arc::new(SqlSecondFactors::new(db.clone())),
        },
        erasers,
        clock.clone(),
        CleanupConfig::from_source(source)?,
        latch_runtime::metrics::CleanupCounter::global(),
    )
    .spawn();
    let identity = Identity::new(
        IdentityDeps {
            users,
            failure_records: sql_users.clone(),
            user_admin: sql_users,
            login_history,
            second_factors: Arc::new(SqlSecondFactors::new(db.clone())),
            password_resets: Arc::new(SqlPasswordResets::new(db.clone())),
            hasher: Argon2Hasher::from_source(source)?,
            sessions: sessions.clone(),
            tokens: tokens.clone(),
            roles: roles.clone(),
            profiles: profiles.clone(),
            rate_limiter: infra.rate_limiter.clone(),
            failure_counter: infra.failure_counter.clone(),
            clock: clock.clone(),
            outbox,
            messages: outbound.composer,
            flow_state: infra.flow_state.clone(),
            identities: Arc::new(SqlExternalIdentities::new(db.clone())),
            oauth,
            passkeys: Arc::new(latch_store::sql::SqlPasskeys::new(db.clone())),
            secrets: identity_secrets,
        },
        IdentityConfig::from_source(source)?,
    );

    if let Some(admin) = &bootstrap_admin {
        // Before serving: in process, every sibling is up, and a start
        // that was told to make an admin and could not should say so.
        let done = identity.bootstrap_admin(admin).await.map_err(|err| {
            latch_domain::Error::new(
                err.reason(),
                format!("bootstrap admin {}: {}", admin.email, err.message()),
            )
        })?;
        bootstrap::log_done(admin, done);
    }

    let role_directory: Arc<dyn RoleDirectory> = roles.clone();
    let mut services = ServiceSet::new();
    services
        .add(
            latch_identity::grpc::server(identity.clone()),
            latch_identity::grpc::POLICY,
        )
        .add(
            latch_token::grpc::server(tokens.clone(), role_directory.clone()),
            latch_token::grpc::POLICY,
        )
        .add(
            latch_session::grpc::server(sessions.clone(), role_directory.clone()),
            latch_session::grpc::POLICY,
        )
        .add(
            latch_authorization::grpc::server(roles, UserStatusReader::new(users_for_roles)),
            latch_authorization::grpc::POLICY,
        )
        .add(
            latch_profile::grpc::server(profiles, avatars),
            latch_profile::grpc::POLICY,
        );

    let guard = Guard {
        authenticator: AccessTokenAuthenticator::new(
            tokens.verifier(),
            sessions.clone(),
            clock,
            sessions.config().touch_interval,
        ),
        machines: MachineCallers::from_source(source, &secrets.service_token)?,
        rate_limits: PublicRateLimits::from_source(source, infra.rate_limiter.clone())?,
        roles: role_directory,
    };
    // Envoy's check trusts a token and a permission exactly as Latch's own
    // RPCs do: the guard's authenticator and role directory.
    let check = ExtAuthz::new(
        guard.authenticator.clone(),
        guard.roles.clone(),
        ext_authz_rules,
    );
    services.add(ext_authz::server(check), ext_authz::POLICY);
    Ok(Latchd {
        services,
        guard,
        tokens,
        sessions,
        identity,
    })
}
