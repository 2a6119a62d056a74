//! The `user:*` events identity writes. Each is built before the write it
//! reports and handed to that write as an outbox row
//! ([`Event::to_outbox`]), so it exists exactly when the change does and
//! the outbox worker delivers it (pub/sub and the channel's stream), in
//! order per user. `user:updated` names the fields that changed, never
//! their values.

use chrono::{DateTime, Utc};
use latch_domain::{
    Result, UserId,
    events::{Event, EventPayload},
    model::User,
    ports::NewOutboxMessage,
};

/// The fields `user:updated` names: those of `latch.common.v1.User`, and
/// beyond it the second factors and the password, which a backend may
/// want to act on (a security notice, a step-up) though no read shows them.
pub(crate) mod field {
    pub(crate) const EMAIL: &str = "email";
    pub(crate) const EMAIL_VERIFIED: &str = "email_verified";
    pub(crate) const PHONE: &str = "phone";
    pub(crate) const PHONE_VERIFIED: &str = "phone_verified";
    pub(crate) const STATUS: &str = "status";
    pub(crate) const TOTP_ENABLED: &str = "totp_enabled";
    pub(crate) const RECOVERY_CODES: &str = "recovery_codes";
    pub(crate) const PASSKEYS: &str = "passkeys";
    pub(crate) const PASSWORD: &str = "password";
}

/// `user:updated` for `user` at `at`, naming `fields`, as its outbox row.
pub(crate) fn user_updated(
    user: UserId,
    fields: &[&str],
    at: DateTime<Utc>,
) -> Result<NewOutboxMessage> {
    Event::new(
        at,
        EventPayload::UserUpdated {
            user_id: user,
            changed_fields: fields.iter().map(|f| (*f).to_owned()).collect(),
        },
    )
    .to_outbox()
}

/// `user:created` for an account that becomes active at `at`.
pub(crate) fn user_created(user: &User, at: DateTime<Utc>) -> Result<NewOutboxMessage> {
    Event::new(
        at,
        EventPayload::UserCreated {
            user_id: user.id,
            email: user.email.clone(),
        },
    )
    .to_outbox()
}

/// `user:deleted` for a user tombstoned at `at`.
pub(crate) fn user_deleted(user: UserId, at: DateTime<Utc>) -> Result<NewOutboxMessage> {
    Event::new(at, EventPayload::UserDeleted { user_id: user }).to_outbox()
}
