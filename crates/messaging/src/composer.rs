//! [`Composer`]: renders a message from its template now, so the outbox
//! row holds the finished message and a template fixed later changes no
//! queued mail, and seals it into the row (see `sealed`).

use std::path::Path;

use chrono::{DateTime, Utc};
use latch_domain::{
    Error, Result,
    ports::{Mail, MessageComposer, NewOutboxMessage, OutboundMessage, Recipient, Sms},
    secret::Secret,
};
use minijinja::{Environment, Value};

use crate::{
    sealed::{Rendered, seal_row},
    templates::{self, Channel, template_files},
};

/// The [`MessageComposer`] of identity: templates (embedded, overridable
/// from `LATCH_TEMPLATE_DIR`) and the encryption key rows are sealed under.
pub struct Composer {
    env: Environment<'static>,
    key: Secret<[u8; 32]>,
}

impl Composer {
    /// Loads and checks every template: the embedded ones, each replaced by
    /// the file of the same name in `template_dir` when it has one. A
    /// template that does not compile or does not render with the values
    /// its flow passes stops the start. Blocking (reads the directory).
    pub fn new(key: Secret<[u8; 32]>, template_dir: Option<&Path>) -> Result<Self> {
        Ok(Self {
            env: templates::load(template_dir)?,
            key,
        })
    }

    /// As [`Composer::new`], off the async runtime.
    pub async fn load(
        key: Secret<[u8; 32]>,
        template_dir: Option<std::path::PathBuf>,
    ) -> Result<Self> {
        tokio::task::spawn_blocking(move || Self::new(key, template_dir.as_deref()))
            .await
            .map_err(Error::internal)?
    }

    /// The message `message` asks for, rendered but not sealed.
    pub fn render(&self, message: &OutboundMessage) -> Result<Rendered> {
        let values = Value::from(message.values.clone());
        let files = template_files(message.template);
        let render = |i: usize| templates::render(&self.env, &files[i], values.clone());
        match (Channel::of(message.template), &message.to) {
            (Channel::Mail, Recipient::Email(to)) => Ok(Rendered::Mail(Mail {
                to: to.clone(),
                subject: one_line(&render(0)?),
                text: render(1)?,
                html: Some(render(2)?),
            })),
            (Channel::Sms, Recipient::Phone(to)) => Ok(Rendered::Sms(Sms {
                to: to.clone(),
                body: render(0)?.trim_end().to_owned(),
            })),
            (channel, _) => Err(Error::internal_msg(format!(
                "template {} is sent by {channel:?}, not to this kind of recipient",
                message.template.name()
            ))),
        }
    }
}

impl MessageComposer for Composer {
    fn compose(&self, message: &OutboundMessage, at: DateTime<Utc>) -> Result<NewOutboxMessage> {
        let rendered = self.render(message)?;
        let key = message.user.map(|u| u.to_string()).unwrap_or_default();
        seal_row(self.key.expose(), rendered, &key, at)
    }
}

/// A subject is one header line: line breaks in a template (a trailing
/// newline above all) become spaces.
fn one_line(subject: &str) -> String {
    subject.split_whitespace().collect::<Vec<_>>().join(" ")
}
