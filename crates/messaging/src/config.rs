//! How messages leave: read once at start from the `LATCH_*` settings
//! (through a lookup function, so this crate needs no config framework and
//! tests pass a map), checked, then turned into transports and handlers.
//!
//! | key | meaning |
//! |---|---|
//! | `LATCH_SMTP_URL` | `smtp://` or `smtps://[user:pass@]host[:port]` (see [`crate::SmtpMailer`]); unset = mail goes to files |
//! | `LATCH_SMTP_FROM` | the sender, required with `LATCH_SMTP_URL` |
//! | `LATCH_SMS_WEBHOOK_URL` | where SMS are posted; unset = SMS go to files |
//! | `LATCH_SMS_WEBHOOK_SECRET` | the HMAC key of the signature, ≥ 32 characters, required with the URL |
//! | `LATCH_TEMPLATE_DIR` | a directory whose files override templates of the same name |
//!
//! Without a mail server (or webhook) messages are written under
//! `<data dir>/outbox/`: the embedded default. A PostgreSQL deployment
//! without one starts all the same (sign-up and login do not need mail),
//! with a warning at start saying where its messages go instead.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use latch_domain::{
    Clock, Error, Result,
    ports::{Mailer, OutboxHandler, SmsSender},
    secret::Secret,
};

use crate::{
    FileMailer, FileSmsSender, SendMailHandler, SendSmsHandler, SmtpMailer, WebhookSmsSender,
};

pub const SMTP_URL: &str = "LATCH_SMTP_URL";
pub const SMTP_FROM: &str = "LATCH_SMTP_FROM";
pub const SMS_WEBHOOK_URL: &str = "LATCH_SMS_WEBHOOK_URL";
pub const SMS_WEBHOOK_SECRET: &str = "LATCH_SMS_WEBHOOK_SECRET";
pub const TEMPLATE_DIR: &str = "LATCH_TEMPLATE_DIR";
/// Shortest accepted webhook secret.
const MIN_WEBHOOK_SECRET: usize = 32;

/// Where mail goes.
#[derive(Debug, Clone)]
pub enum MailTransport {
    /// A mail server (the URL may hold a password: kept secret).
    Smtp { url: Secret<String>, from: String },
    /// Files in this directory (the embedded default).
    File { dir: PathBuf },
}

/// Where SMS go.
#[derive(Debug, Clone)]
pub enum SmsTransport {
    Webhook { url: String, secret: Secret<String> },
    File { dir: PathBuf },
}

/// The messaging settings, checked.
#[derive(Debug, Clone)]
pub struct MessagingConfig {
    pub mail: MailTransport,
    pub sms: SmsTransport,
    /// `LATCH_TEMPLATE_DIR`.
    pub template_dir: Option<PathBuf>,
}

impl MessagingConfig {
    /// Reads the settings through `get`; `data_dir` is where the file
    /// transports write (`<data_dir>/outbox`), `production` (PostgreSQL)
    /// turns a missing transport into a warning. A half-configured or
    /// malformed transport stops the start, named by its key.
    pub fn from_lookup(
        get: impl Fn(&str) -> Option<String>,
        data_dir: &Path,
        production: bool,
    ) -> Result<Self> {
        let outbox_dir = data_dir.join("outbox");
        let mail = match (get(SMTP_URL), get(SMTP_FROM)) {
            (Some(url), Some(from)) => {
                // Built once here only to check it, so a typo stops the start.
                SmtpMailer::new(&url, &from)?;
                MailTransport::Smtp {
                    url: Secret::new(url),
                    from,
                }
            }
            (Some(_), None) => return Err(needs(SMTP_URL, SMTP_FROM)),
            (None, Some(_)) => return Err(needs(SMTP_FROM, SMTP_URL)),
            (None, None) => {
                if production {
                    tracing::warn!(
                        dir = %outbox_dir.display(),
                        "{SMTP_URL} is not set: mail is written to files, not sent"
                    );
                }
                MailTransport::File {
                    dir: outbox_dir.clone(),
                }
            }
        };
        let sms = match (get(SMS_WEBHOOK_URL), get(SMS_WEBHOOK_SECRET)) {
            (Some(url), Some(secret)) => {
                if secret.chars().count() < MIN_WEBHOOK_SECRET {
                    return Err(Error::internal_msg(format!(
                        "{SMS_WEBHOOK_SECRET} must be at least {MIN_WEBHOOK_SECRET} characters"
                    )));
                }
                check_webhook_url(&url)?;
                SmsTransport::Webhook {
                    url,
                    secret: Secret::new(secret),
                }
            }
            (Some(_), None) => return Err(needs(SMS_WEBHOOK_URL, SMS_WEBHOOK_SECRET)),
            (None, Some(_)) => return Err(needs(SMS_WEBHOOK_SECRET, SMS_WEBHOOK_URL)),
            (None, None) => {
                if production {
                    tracing::warn!(
                        dir = %outbox_dir.display(),
                        "{SMS_WEBHOOK_URL} is not set: SMS are written to files, not sent"
                    );
                }
                SmsTransport::File { dir: outbox_dir }
            }
        };
        Ok(Self {
            mail,
            sms,
            template_dir: get(TEMPLATE_DIR).map(PathBuf::from),
        })
    }

    pub fn mailer(&self) -> Result<Arc<dyn Mailer>> {
        Ok(match &self.mail {
            MailTransport::Smtp { url, from } => Arc::new(SmtpMailer::new(url.expose(), from)?),
            MailTransport::File { dir } => Arc::new(FileMailer::new(dir.clone())),
        })
    }

    pub fn sms_sender(&self, clock: Arc<dyn Clock>) -> Result<Arc<dyn SmsSender>> {
        Ok(match &self.sms {
            SmsTransport::Webhook { url, secret } => {
                Arc::new(WebhookSmsSender::new(url, secret.clone(), clock)?)
            }
            SmsTransport::File { dir } => Arc::new(FileSmsSender::new(dir.clone())),
        })
    }

    /// The outbox handlers that send what the composer queued, opening it
    /// with `encryption_key`.
    pub fn handlers(
        &self,
        encryption_key: &Secret<[u8; 32]>,
        clock: Arc<dyn Clock>,
    ) -> Result<Vec<Arc<dyn OutboxHandler>>> {
        Ok(vec![
            SendMailHandler::new(encryption_key.clone(), self.mailer()?),
            SendSmsHandler::new(encryption_key.clone(), self.sms_sender(clock)?),
        ])
    }
}

fn check_webhook_url(url: &str) -> Result<()> {
    let ok = reqwest::Url::parse(url)
        .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
    if ok {
        Ok(())
    } else {
        Err(Error::internal_msg(format!(
            "{SMS_WEBHOOK_URL} must be an http:// or https:// URL"
        )))
    }
}

fn needs(set: &str, missing: &str) -> Error {
    Error::internal_msg(format!("{set} is set, so {missing} must be set too"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::collections::HashMap;

    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<MessagingConfig> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        MessagingConfig::from_lookup(|k| map.get(k).cloned(), Path::new("/data"), false)
    }

    #[test]
    fn nothing_configured_means_files_under_the_data_dir() {
        let c = config(&[]).unwrap();
        assert!(matches!(&c.mail, MailTransport::File { dir } if dir == Path::new("/data/outbox")));
        assert!(matches!(&c.sms, SmsTransport::File { dir } if dir == Path::new("/data/outbox")));
        assert_eq!(c.template_dir, None);
    }

    #[test]
    fn configured_transports_are_read() {
        let secret = "0123456789abcdef0123456789abcdef";
        let c = config(&[
            (SMTP_URL, "smtps://u:p@mail.example.com:465"),
            (SMTP_FROM, "Latch <no-reply@example.com>"),
            (SMS_WEBHOOK_URL, "https://sms.example.com/hook"),
            (SMS_WEBHOOK_SECRET, secret),
            (TEMPLATE_DIR, "/etc/latch/templates"),
        ])
        .unwrap();
        assert!(matches!(c.mail, MailTransport::Smtp { .. }));
        assert!(matches!(c.sms, SmsTransport::Webhook { .. }));
        assert_eq!(c.template_dir, Some(PathBuf::from("/etc/latch/templates")));
        // The URL's password stays out of Debug output.
        assert!(!format!("{c:?}").contains("u:p@"));
    }

    #[test]
    fn half_or_badly_configured_transports_stop_the_start() {
        let secret = "0123456789abcdef0123456789abcdef";
        for (pairs, key) in [
            (vec![(SMTP_URL, "smtp://mail:25")], SMTP_FROM),
            (vec![(SMTP_FROM, "a@example.com")], SMTP_URL),
            (
                vec![(SMTP_URL, "mail:25"), (SMTP_FROM, "a@example.com")],
                SMTP_URL,
            ),
            (
                vec![(SMTP_URL, "smtp://mail:25"), (SMTP_FROM, "nobody")],
                SMTP_FROM,
            ),
            (vec![(SMS_WEBHOOK_URL, "https://x")], SMS_WEBHOOK_SECRET),
            (vec![(SMS_WEBHOOK_SECRET, secret)], SMS_WEBHOOK_URL),
            (
                vec![(SMS_WEBHOOK_URL, "ftp://x/y"), (SMS_WEBHOOK_SECRET, secret)],
                SMS_WEBHOOK_URL,
            ),
            (
                vec![
                    (SMS_WEBHOOK_URL, "https://x/y"),
                    (SMS_WEBHOOK_SECRET, "short"),
                ],
                SMS_WEBHOOK_SECRET,
            ),
        ] {
            let err = config(&pairs).unwrap_err().to_string();
            assert!(err.contains(key), "{pairs:?}: {err}");
        }
    }
}
