//! The identity service: accounts, credentials and sign-in.
//!
//! [`Identity`] holds the flows (sign-up, login, logout, reading users,
//! email and phone verification, password reset and change, email change,
//! the second factor, user administration and deletion, reading login
//! history), each in its own module, over the ports in
//! [`IdentityDeps`]: its own tables (`users`, `login_history`,
//! `password_reset_tokens`) through repositories, and the sibling services
//! (session, token, authorization, profile) through directories, so the
//! same flows run inside latchd and as a separate binary.
//! [`Argon2Hasher`] hashes passwords; [`UserStatusReader`] is the in-process
//! [`latch_domain::ports::UserDirectory`] the token service asks before a
//! refresh. [`grpc`] holds the `IdentityService` handlers and the caller
//! policy of every RPC. [`admin_handlers`] runs the outbox rows of user
//! administration (revoking a suspended user's sessions, each sibling's
//! part of a deletion) and [`IdentityCleanup`] the retention of login
//! history, spent reset tokens and recovery codes, and deleted users.

pub mod bootstrap;
mod cleanup;
mod codes;
mod config;
mod deletion;
mod email_change;
mod email_verification;
mod flow_record;
pub mod grpc;
mod history;
mod lockout;
mod login;
mod logout;
mod new_device;
pub mod oauth;
mod oauth_identities;
mod oauth_sign_in;
pub mod outbound;
pub mod passkey;
mod passkey_admin;
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
mod user_admin;
mod user_events;
mod users;

use std::sync::Arc;

use latch_domain::{
    Clock,
    ports::{
        ExternalIdentityRepository, FailureCounter, FailureRecords, FlowState,
        LoginHistoryRepository, MessageComposer, OAuthProviders, OutboxRepository,
        PasskeyRepository, PasswordHasher, PasswordResetRepository, ProfileDirectory, RateLimiter,
        RoleDirectory, SecondFactorRepository, SessionDirectory, TokenIssuer, UserAdminRepository,
        UserRepository,
    },
};

pub use cleanup::{Cleaned, CleanupConfig, CleanupStores, IdentityCleanup};
pub use config::IdentityConfig;
pub use deletion::{
    ACCOUNT_DELETED,
    steps::{ERASE_KINDS, REVOKE_SESSIONS, UserErasers, admin_handlers},
};
pub use login::{Credentials, LoginOutcome};
pub use oauth::OAuthStart;
pub use oauth_sign_in::{OAuthMatch, OAuthOutcome, OAuthReturn, OAuthSignedIn};
pub use outbound::Outbound;
pub use passkey::{
    PasskeyLogin, PasskeyLoginStart, PasskeyRegistered, PasskeyRegistrationStart, PasskeySettings,
};
pub use password::Argon2Hasher;
pub use second_factor::{
    SecondFactor, SecondFactorChallenge, SecondFactorMethod, SecondFactorProof,
};
pub use secrets::IdentitySecrets;
pub use signup::{SignUp, SignedUp};
pub use totp::{TotpEnrollment, TotpProof};
pub use user_admin::ACCOUNT_SUSPENDED;
pub use users::UserStatusReader;

/// What identity's flows need from the world, wired in `main` or latchd.
#[derive(Clone)]
pub struct IdentityDeps {
    pub users: Arc<dyn UserRepository>,
    /// The same `users` table for administration: listing, status
    /// changes, tombstones of deleted users.
    pub user_admin: Arc<dyn UserAdminRepository>,
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
    pub rate_limiter: Arc<dyn RateLimiter>,
    /// Failed sign-ins per account, live (Redis, or memory).
    pub failure_counter: Arc<dyn FailureCounter>,
    /// Their durable copy in `users` (`failed_login_count`, `locked_until`).
    pub failure_records: Arc<dyn FailureRecords>,
    pub clock: Arc<dyn Clock>,
    /// Follow-up work (mail, SMS) written with a change or on its own.
    pub outbox: Arc<dyn OutboxRepository>,
    /// Renders and seals the mail and SMS rows flows queue.
    pub messages: Arc<dyn MessageComposer>,
    /// Short-lived flow state (codes, pending enrolments, login attempts).
    pub flow_state: Arc<dyn FlowState>,
    /// External identities (`auth_providers`).
    pub identities: Arc<dyn ExternalIdentityRepository>,
    /// The configured OpenID Connect providers
    /// ([`oauth::providers::OidcProviders`], or none).
    pub oauth: Arc<dyn OAuthProviders>,
    /// Passkeys (`passkey_credentials`): WebAuthn credentials.
    pub passkeys: Arc<dyn PasskeyRepository>,
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
