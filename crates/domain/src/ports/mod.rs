//! The ports: what a flow needs from the world. Adapters live in
//! `latch-store` (databases, Redis, memory) and `latch-runtime` (sibling
//! services over gRPC); services wire them as `Arc<dyn Port>`.
//!
//! Every method returns a domain [`crate::Error`]: storage failures arrive
//! as `UNAVAILABLE` (connection) or `INTERNAL` (anything else), a unique
//! violation as `ALREADY_EXISTS`, and "no such row" as `Ok(None)` or
//! `Ok(false)` unless the method says otherwise.

mod cache;
mod directory;
mod event_bus;
mod external_identity;
mod flow_state;
mod lockout;
pub mod messages;
mod oauth;
pub mod outbox;
mod passkey;
mod password;
mod rate_limit;
mod repositories;
mod second_factor;
mod user_admin;

pub use cache::{CachedSession, SessionCache};
pub use directory::{
    ProfileDirectory, RoleDirectory, SessionDirectory, TokenIssuer, TokenRevoker, UserDataEraser,
    UserDirectory,
};
pub use event_bus::{EventBus, EventStream};
pub use external_identity::ExternalIdentityRepository;
pub use flow_state::FlowState;
pub use lockout::{FailureCounter, FailureRecords, Failures, Lockout, login_throttled};
pub use messages::{
    Mail, Mailer, MessageComposer, MessageTemplate, OutboundMessage, Recipient, Sms, SmsSender,
};
pub use oauth::{AuthorizationStart, CodeExchange, OAuthProviders, VerifiedClaims};
pub use outbox::{
    FollowUp, NewOutboxMessage, OutboxHandler, OutboxId, OutboxMessage, OutboxRepository,
    OutboxStatus, no_follow_up,
};
pub use passkey::PasskeyRepository;
pub use password::{PasswordHasher, PasswordVerdict};
pub use rate_limit::{Rate, RateLimiter, ip_bucket};
pub use repositories::VersionedWrite;
pub use repositories::{
    LoginHistoryRepository, PasswordResetRepository, ProfileRepository, RefreshTokenRepository,
    RoleRepository, SessionRepository, SigningKeyRepository, UserRepository,
};
pub use second_factor::SecondFactorRepository;
pub use user_admin::UserAdminRepository;
