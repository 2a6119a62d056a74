//! Identity's outbound messages, wired the same way in latchd and the
//! identity binary: the composer flows queue mail and SMS with, and the
//! outbox handlers that send them (`identity.send_mail`,
//! `identity.send_sms`), over the transports the settings name.

use std::sync::Arc;

use latch_domain::{Clock, Result, ports::OutboxHandler};
use latch_messaging::{Composer, MessagingConfig};
use latch_runtime::{config::ConfigSource, settings::CommonConfig};

use crate::IdentitySecrets;

/// What identity sends messages with.
pub struct Outbound {
    pub composer: Arc<Composer>,
    /// To add to the binary's one outbox worker.
    pub handlers: Vec<Arc<dyn OutboxHandler>>,
}

impl Outbound {
    /// Reads the messaging settings (`LATCH_SMTP_*`, `LATCH_SMS_WEBHOOK_*`,
    /// `LATCH_TEMPLATE_DIR`) and loads the templates; a bad setting or
    /// template stops the start.
    pub async fn from_source(
        source: &dyn ConfigSource,
        secrets: &IdentitySecrets,
        clock: Arc<dyn Clock>,
    ) -> Result<Self> {
        let common = CommonConfig::from_source(source)?;
        let config = MessagingConfig::from_lookup(
            |key| source.get(key),
            &common.data_dir,
            common.is_production(),
        )?;
        let composer =
            Composer::load(secrets.encryption_key.clone(), config.template_dir.clone()).await?;
        Ok(Self {
            composer: Arc::new(composer),
            handlers: config.handlers(&secrets.encryption_key, clock)?,
        })
    }
}
