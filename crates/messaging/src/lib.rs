//! Outbound mail and SMS for Latch: the [`Composer`] that renders a
//! message from its template and seals it into an outbox row, the outbox
//! handlers that open such a row and hand it to a transport, and the
//! transports themselves: SMTP ([`SmtpMailer`]), a signed HTTP webhook for
//! SMS ([`WebhookSmsSender`]), and files under the data directory for the
//! embedded default ([`FileMailer`], [`FileSmsSender`]).
//!
//! A flow never talks to a transport: it writes the composed row into the
//! outbox beside its state change, and the outbox worker sends it,
//! retrying with backoff while the transport is down. The rendered message
//! (which may hold a code or a token) sits in the outbox only sealed under
//! the encryption key, bound to its row id.

mod composer;
pub mod config;
mod file;
mod handlers;
mod sealed;
mod smtp;
mod templates;
mod webhook;

pub use composer::Composer;
pub use config::{MailTransport, MessagingConfig, SmsTransport};
pub use file::{FileMailer, FileSmsSender};
pub use handlers::{SendMailHandler, SendSmsHandler};
pub use sealed::{Rendered, SEND_MAIL_KIND, SEND_SMS_KIND, open_row};
pub use smtp::{SMTP_TIMEOUT, SmtpMailer};
pub use templates::{Channel, template_files};
pub use webhook::{
    SIGNATURE_HEADER, WEBHOOK_TIMEOUT, WebhookSmsSender, signature, verify_signature,
};
