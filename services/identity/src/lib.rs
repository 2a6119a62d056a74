//! The identity service: accounts, credentials and sign-in.
//!
//! [`Identity`] holds the flows (sign-up, login, logout, reading users),
//! each in its own module, over the ports in [`IdentityDeps`]: its own
//! tables (`users`, `login_history`) through repositories, and the sibling
//! services (session, token, authorization, profile) through directories,
//! so the same flows run inside latchd and as a separate binary.
//! [`Argon2Hasher`] hashes passwords; [`UserStatusReader`] is the in-process
//! [`latch_domain::ports::UserDirectory`] the token service asks before a
//! refresh. [`grpc`] holds the `IdentityService` handlers and the caller
//! policy of every RPC.

mod config;
pub mod grpc;
mod login;
mod logout;
mod password;
mod session;
mod signup;
pub mod standalone;
mod users;

use std::sync::Arc;

use latch_domain::{
    Clock,
    ports::{
        EventBus, LoginHistoryRepository, PasswordHasher, ProfileDirectory, RateLimiter,
        RoleDirectory, SessionDirectory, TokenIssuer, UserRepository,
    },
};

pub use config::IdentityConfig;
pub use login::{Credentials, LoginOutcome};
pub use password::Argon2Hasher;
pub use signup::{SignUp, SignedUp};
pub use users::UserStatusReader;

/// What identity's flows need from the world, wired in `main` or latchd.
#[derive(Clone)]
pub struct IdentityDeps {
    pub users: Arc<dyn UserRepository>,
    pub login_history: Arc<dyn LoginHistoryRepository>,
    pub hasher: Arc<dyn PasswordHasher>,
    pub sessions: Arc<dyn SessionDirectory>,
    pub tokens: Arc<dyn TokenIssuer>,
    pub roles: Arc<dyn RoleDirectory>,
    pub profiles: Arc<dyn ProfileDirectory>,
    pub bus: Arc<dyn EventBus>,
    pub rate_limiter: Arc<dyn RateLimiter>,
    pub clock: Arc<dyn Clock>,
}

/// The identity use cases; see the modules for each flow's contract.
pub struct Identity {
    deps: IdentityDeps,
    config: IdentityConfig,
}

impl Identity {
    pub fn new(deps: IdentityDeps, config: IdentityConfig) -> Arc<Self> {
        Arc::new(Self { deps, config })
    }

    pub fn config(&self) -> &IdentityConfig {
        &self.config
    }
}

#[cfg(test)]
mod testing;
