//! The new-device notice: a successful sign-in from a device the user has
//! not signed in from for [`KNOWN_FOR`] queues a mail naming the device,
//! the place and the time (`LATCH_NOTIFY_NEW_DEVICE`, on by default).
//!
//! The rule, kept here only: a device is its browser family, its
//! operating system (both from the user agent, parsed as the session
//! service does, `latch_domain::device`) and its network (IPv4 /24, IPv6
//! /48). Its fingerprint, a hash of the three, is stored with every sign-in
//! in `login_history.device`, and a sign-in is from a new device when no
//! successful sign-in of the user carries that fingerprint within
//! [`KNOWN_FOR`]. A user with no fingerprinted sign-in yet (the first
//! sign-in after sign-up, or the first since this rule existed) has
//! nothing to compare with and gets no notice.
//!
//! The mail is written to the outbox in the transaction of the history
//! row that records the sign-in, so it is sent exactly when that row
//! exists. Deciding reads the history before the row is written; a failed
//! read or a mail that cannot be composed is logged and the sign-in goes
//! on without a notice.

use chrono::{DateTime, Duration, Utc};
use latch_domain::{
    device::{network_prefix, parse_user_agent},
    model::{ClientInfo, User},
    ports::{MessageTemplate, NewOutboxMessage, OutboundMessage, Recipient},
    secret,
};

use crate::Identity;

/// How long a device stays known after a sign-in from it.
pub(crate) const KNOWN_FOR: Duration = Duration::days(90);

/// A client's device, as the notice rule sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Device {
    /// 32 hex digits: SHA-256 of browser, OS and network, cut to 128 bits.
    pub(crate) fingerprint: String,
    /// "Chrome on Mac OSX", for people.
    pub(crate) name: String,
    /// "203.0.113.0/24", when the client's address is known.
    pub(crate) network: Option<String>,
}

impl Device {
    pub(crate) fn of(client: &ClientInfo) -> Device {
        let parsed = parse_user_agent(client.user_agent.as_deref().unwrap_or_default());
        let network = client.ip.as_deref().and_then(network_prefix);
        let browser = parsed
            .browser
            .unwrap_or_else(|| "unknown browser".to_owned());
        let os = parsed.os.unwrap_or_else(|| "unknown system".to_owned());
        // Unit separators keep "a|b" + "c" apart from "a" + "b|c".
        let identity = format!(
            "{browser}\u{1f}{os}\u{1f}{}",
            network.as_deref().unwrap_or_default()
        );
        Device {
            fingerprint: hex::encode(&secret::sha256(&identity)[..16]),
            name: format!("{browser} on {os}"),
            network,
        }
    }
}

impl Identity {
    /// Whether a sign-in of `user` from `device` now deserves a notice;
    /// asked before the sign-in is recorded.
    pub(crate) async fn is_new_device(&self, user: &User, device: &Device) -> bool {
        if !self.config.notify_new_device {
            return false;
        }
        let history = &self.deps.login_history;
        let seen = async {
            let Some(_) = history.last_success(user.id, None).await? else {
                return Ok(true); // nothing to compare with
            };
            let here = history
                .last_success(user.id, Some(&device.fingerprint))
                .await?;
            let since = self.deps.clock.now() - KNOWN_FOR;
            Ok::<_, latch_domain::Error>(here.is_some_and(|at| at >= since))
        }
        .await;
        match seen {
            Ok(seen) => !seen,
            Err(error) => {
                tracing::warn!(user = %user.id, %error, "new-device check skipped");
                false
            }
        }
    }

    /// The notice's outbox row: the mail to the user naming the device,
    /// the place (`location` when known, else the network) and the time.
    pub(crate) fn new_device_notice(
        &self,
        user: &User,
        device: &Device,
        location: Option<&str>,
        at: DateTime<Utc>,
    ) -> Option<NewOutboxMessage> {
        let place = location
            .map(str::to_owned)
            .or_else(|| device.network.as_ref().map(|n| format!("network {n}")))
            .unwrap_or_else(|| "an unknown network".to_owned());
        let message = OutboundMessage::new(
            MessageTemplate::NewDevice,
            Recipient::Email(user.email.clone()),
            Some(user.id),
        )
        .with("device", device.name.clone())
        .with("place", place)
        .with("time", at.format("%Y-%m-%d %H:%M UTC").to_string());
        match self.deps.messages.compose(&message, at) {
            Ok(row) => Some(row),
            Err(error) => {
                tracing::error!(user = %user.id, %error, "new-device notice not composed");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests;
