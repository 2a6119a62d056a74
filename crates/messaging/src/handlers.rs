//! The outbox handlers of `identity.send_mail` and `identity.send_sms`:
//! open the sealed message and hand it to the transport. A payload that
//! does not open never will (`INVALID_ARGUMENT`: the worker buries the
//! row); a transport that is down answers `UNAVAILABLE` and the worker
//! retries with its backoff.
//!
//! Delivery is at least once: a transport that took a message whose
//! completion was then lost gets it again. Mail and SMS bear that (one
//! more identical message); nothing here may depend on the contrary.

use std::sync::Arc;

use async_trait::async_trait;
use latch_domain::{
    Error, Result,
    ports::{Mailer, OutboxHandler, OutboxMessage, SmsSender},
    secret::Secret,
};

use crate::sealed::{Rendered, SEND_MAIL_KIND, SEND_SMS_KIND, open_row};

/// Sends `identity.send_mail` rows through a [`Mailer`].
pub struct SendMailHandler {
    key: Secret<[u8; 32]>,
    mailer: Arc<dyn Mailer>,
}

impl SendMailHandler {
    pub fn new(key: Secret<[u8; 32]>, mailer: Arc<dyn Mailer>) -> Arc<Self> {
        Arc::new(Self { key, mailer })
    }
}

#[async_trait]
impl OutboxHandler for SendMailHandler {
    fn kind(&self) -> &'static str {
        SEND_MAIL_KIND
    }

    async fn handle(&self, message: &OutboxMessage) -> Result<()> {
        match open_row(self.key.expose(), message)? {
            Rendered::Mail(mail) => self.mailer.send(&mail).await,
            Rendered::Sms(_) => Err(wrong_kind()),
        }
    }
}

/// Sends `identity.send_sms` rows through an [`SmsSender`].
pub struct SendSmsHandler {
    key: Secret<[u8; 32]>,
    sender: Arc<dyn SmsSender>,
}

impl SendSmsHandler {
    pub fn new(key: Secret<[u8; 32]>, sender: Arc<dyn SmsSender>) -> Arc<Self> {
        Arc::new(Self { key, sender })
    }
}

#[async_trait]
impl OutboxHandler for SendSmsHandler {
    fn kind(&self) -> &'static str {
        SEND_SMS_KIND
    }

    async fn handle(&self, message: &OutboxMessage) -> Result<()> {
        match open_row(self.key.expose(), message)? {
            Rendered::Sms(sms) => self.sender.send(&sms).await,
            Rendered::Mail(_) => Err(wrong_kind()),
        }
    }
}

/// Not reachable (`open_row` checks the kind), but never a silent success.
fn wrong_kind() -> Error {
    Error::invalid_field("payload", "holds a message of another kind")
}
