//! Outbound mail and SMS. A flow never talks to a mail server or an SMS
//! gateway: it asks a [`MessageComposer`] for an outbox row describing the
//! message and writes that row in the same transaction as its state change
//! (or on its own with [`super::OutboxRepository::enqueue`]); the outbox
//! worker of the owning service renders nothing new, it hands the message
//! to a [`Mailer`] or an [`SmsSender`] and retries with backoff until the
//! transport takes it.
//!
//! Messages carry codes and tokens, so the composer seals them under the
//! encryption key before they reach the outbox table; they never appear in
//! logs, traces or errors.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::{Result, UserId, ports::NewOutboxMessage};

/// Where a message goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipient {
    /// A normalised email address.
    Email(String),
    /// An E.164 phone number.
    Phone(String),
}

/// Every message Latch sends; each is a template (text and HTML for mail,
/// text for SMS) overridable from `LATCH_TEMPLATE_DIR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageTemplate {
    /// values: `code`, `expires_minutes`.
    EmailVerification,
    /// values: `code`, `expires_minutes`.
    PhoneVerification,
    /// values: `token`, `expires_minutes` (and `reset_url` when configured).
    PasswordReset,
    /// The password was reset; no values.
    PasswordResetDone,
    /// The password was changed by its owner; no values.
    PasswordChanged,
    /// To the old address: values `new_email`.
    EmailChanged,
    /// Someone tried to sign up with an address that has an account.
    SignUpAddressTaken,
    /// values: `device`, `place`, `time`.
    NewDevice,
}

impl MessageTemplate {
    pub const ALL: &'static [MessageTemplate] = &[
        Self::EmailVerification,
        Self::PhoneVerification,
        Self::PasswordReset,
        Self::PasswordResetDone,
        Self::PasswordChanged,
        Self::EmailChanged,
        Self::SignUpAddressTaken,
        Self::NewDevice,
    ];

    /// The template's file stem (`email_verification` → `.subject`, `.txt`,
    /// `.html`).
    pub fn name(self) -> &'static str {
        match self {
            Self::EmailVerification => "email_verification",
            Self::PhoneVerification => "phone_verification",
            Self::PasswordReset => "password_reset",
            Self::PasswordResetDone => "password_reset_done",
            Self::PasswordChanged => "password_changed",
            Self::EmailChanged => "email_changed",
            Self::SignUpAddressTaken => "sign_up_address_taken",
            Self::NewDevice => "new_device",
        }
    }
}

/// A message a flow asks for.
#[derive(Clone, PartialEq, Eq)]
pub struct OutboundMessage {
    pub template: MessageTemplate,
    pub to: Recipient,
    /// Whom it is about, for incidents (the outbox row's key).
    pub user: Option<UserId>,
    /// What the template fills in; may hold a code or token.
    pub values: BTreeMap<String, String>,
}

impl std::fmt::Debug for OutboundMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboundMessage")
            .field("template", &self.template)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl OutboundMessage {
    pub fn new(template: MessageTemplate, to: Recipient, user: Option<UserId>) -> Self {
        Self {
            template,
            to,
            user,
            values: BTreeMap::new(),
        }
    }

    pub fn with(mut self, key: &str, value: impl Into<String>) -> Self {
        self.values.insert(key.to_owned(), value.into());
        self
    }
}

/// Turns a message into the outbox row that will send it: rendered from
/// its template now (a template error is a bug, refused before anything is
/// written) and sealed under the encryption key.
pub trait MessageComposer: Send + Sync + 'static {
    fn compose(&self, message: &OutboundMessage, at: DateTime<Utc>) -> Result<NewOutboxMessage>;
}

/// A rendered mail.
#[derive(Clone, PartialEq, Eq)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
}

/// A rendered SMS.
#[derive(Clone, PartialEq, Eq)]
pub struct Sms {
    /// E.164.
    pub to: String,
    pub body: String,
}

/// Hands a mail to a mail server (or, in the embedded default, a file).
/// `UNAVAILABLE` when it may pass (the outbox retries); `INVALID_ARGUMENT`
/// when it never will (the row is buried).
#[async_trait]
pub trait Mailer: Send + Sync + 'static {
    async fn send(&self, mail: &Mail) -> Result<()>;
}

/// Hands an SMS to the gateway; errors as [`Mailer::send`].
#[async_trait]
pub trait SmsSender: Send + Sync + 'static {
    async fn send(&self, sms: &Sms) -> Result<()>;
}
