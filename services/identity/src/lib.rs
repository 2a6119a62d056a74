//! The identity service: accounts, credentials and sign-in.
//!
//! [`Identity`] holds the flows (sign-up, login, logout, reading users,
//! email and phone verification, password reset and change, email change,
//! the second factor), each in its own module, over the ports in
//! [`IdentityDeps`]: its own tables (`users`, `login_history`,
//! `password_reset_tokens`) through repositories, and the sibling services
//! (session, token, authorization, profile) through directories, so the
//! same flows run inside latchd and as a separate binary.
//! [`Argon2Hasher`] hashes passwords; [`UserStatusReader`] is the in-process
//! [`latch_domain::ports::UserDirectory`] the token service asks before a
//! refresh. [`grpc`] holds the `IdentityService` handlers and the caller
//! policy of every RPC.

mod codes;
mod config;
mod email_change;
mod email_verification;
mod flow_record;
pub mod grpc;
mod login;
mod logout;
mod new_device;
pub mod outbound;
mod password;
mod password_change;
mod password_reset;
mod phone_verification;
mod recovery_codes;
mod second_factor;
mod secrets;
mod session;
mod sign_in;
mod signup;
pub mod standalone;
mod totp;
mod users;

use std::sync::Arc;

use latch_domain::{
    Clock,
    ports::{
        EventBus, FlowState, LoginHistoryRepository, MessageComposer, OutboxRepository,
        PasswordHasher, PasswordResetRepository, ProfileDirectory, RateLimiter, RoleDirectory,
        SecondFactorRepository, SessionDirectory, TokenIssuer, UserRepository,
    },
};

pub use config::IdentityConfig;
pub use login::{Credentials, LoginOutcome};
pub use outbound::Outbound;
pub use password::Argon2Hasher;
pub use second_factor::{
    SecondFactor, SecondFactorChallenge, SecondFactorMethod, SecondFactorProof,
};
pub use secrets::IdentitySecrets;
pub use signup::{SignUp, SignedUp};
pub use totp::{TotpEnrollment, TotpProof};
pub use users::UserStatusReader;

/// What identity's flows need from the world, wired in `main` or latchd.
#[derive(Clone)]
pub struct IdentityDeps {
    pub users: Arc<dyn UserRepository>,
    pub login_history: Arc<dyn LoginHistoryRepository>,
    /// TOTP secrets and recovery codes.
    pub second_factors: Arc<dyn SecondFactorRepository>,
    /// Password-reset tokens (hashes only).
    pub password_resets: Arc<dyn PasswordResetRepository>,
    pub hasher: Arc<dyn PasswordHasher>,
    pub sessions: Arc<dyn SessionDirectory>,
    pub tokens: Arc<dyn TokenIssuer>,
    pub roles: Arc<dyn RoleDirectory>,
    pub profiles: Arc<dyn ProfileDirectory>,
    pub bus: Arc<dyn EventBus>,
    pub rate_limiter: Arc<dyn RateLimiter>,
    pub clock: Arc<dyn Clock>,
    /// Follow-up work (mail, SMS) written with a change or on its own.
    pub outbox: Arc<dyn OutboxRepository>,
    /// Renders and seals the mail and SMS rows flows queue.
    pub messages: Arc<dyn MessageComposer>,
    /// Short-lived flow state (codes, pending enrolments, login attempts).
    pub flow_state: Arc<dyn FlowState>,
    pub secrets: IdentitySecrets,
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
