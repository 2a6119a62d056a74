//! One-time verification codes (email and phone): six digits from the OS,
//! uniformly drawn, stored only as `HMAC(code key, purpose || subject ||
//! target || code)` in the flow state under `email_verification:{id}` or
//! `phone_verification:{id}`. The target (the address or number the code
//! was sent to) is inside the MAC, so a code proves only the target it was
//! sent to: after an email or phone change an older code no longer matches.
//!
//! A code is good for [`CODE_TTL`] and [`MAX_WRONG_TRIES`] wrong tries;
//! after that every try is refused with `TOO_MANY_ATTEMPTS`, whatever the
//! code, until a new one is sent (which replaces it). A used code answers
//! `CODE_USED`. The record is kept [`KEEP_AFTER_EXPIRY`] past its end so a
//! late try hears `CODE_EXPIRED` rather than `CODE_INVALID`, on every
//! backend alike (expiry is judged on the `Clock`, not by the store's TTL).
//!
//! Tries are counted by taking the record (read-and-delete), checking it
//! and putting it back with one more try: two replicas cannot both pass a
//! check of one record. A try racing another meanwhile finds no record and
//! is answered `CODE_INVALID`. Sends are throttled per subject (one per
//! [`RESEND_INTERVAL`], [`SENDS_PER_HOUR`] an hour), answered
//! `RATE_LIMITED` with the time to wait.

use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use latch_domain::{
    Error, Reason, Result, UserId,
    ports::{MessageTemplate, NewOutboxMessage, OutboundMessage, Recipient},
    secret::{self, Secret},
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Identity;

/// How long a code is accepted.
pub(crate) const CODE_TTL: Duration = Duration::minutes(15);
/// Wrong tries a code survives; the next try is refused whatever it says.
pub(crate) const MAX_WRONG_TRIES: u8 = 5;
/// How long an ended code is still told apart from an unknown one.
pub(crate) const KEEP_AFTER_EXPIRY: Duration = Duration::hours(1);
/// At most one code per subject this often.
pub(crate) const RESEND_INTERVAL: StdDuration = StdDuration::from_secs(60);
/// At most this many codes per subject an hour.
pub(crate) const SENDS_PER_HOUR: u32 = 5;

/// What a code proves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    Email,
    Phone,
}

impl Purpose {
    fn label(self) -> &'static str {
        match self {
            Purpose::Email => "email_verification",
            Purpose::Phone => "phone_verification",
        }
    }

    /// The flow-state key of `subject`'s code.
    pub(crate) fn key(self, subject: Uuid) -> String {
        format!("{}:{subject}", self.label())
    }

    fn template(self) -> MessageTemplate {
        match self {
            Purpose::Email => MessageTemplate::EmailVerification,
            Purpose::Phone => MessageTemplate::PhoneVerification,
        }
    }
}

/// What the flow state holds for one code.
#[derive(Serialize, Deserialize)]
struct CodeRecord {
    mac: [u8; 32],
    expires_at: DateTime<Utc>,
    wrong_tries: u8,
    used: bool,
}

impl CodeRecord {
    fn keep_until(&self) -> DateTime<Utc> {
        self.expires_at + KEEP_AFTER_EXPIRY
    }
}

/// A code made but not stored yet (see [`Identity::prepare_code`]).
pub(crate) struct PendingCode {
    key: String,
    record: CodeRecord,
    pub(crate) code: Secret<String>,
}

/// Six uniformly drawn digits: a 32-bit draw below the largest multiple
/// of 10^6 (redrawn otherwise, about once in a million), taken modulo 10^6.
pub(crate) fn new_code() -> Result<Secret<String>> {
    const RANGE: u32 = 1_000_000;
    const LIMIT: u32 = u32::MAX - u32::MAX % RANGE;
    loop {
        let bytes: [u8; 4] = secret::random_bytes(4)?
            .try_into()
            .map_err(|_| Error::internal_msg("os randomness returned a short draw"))?;
        let draw = u32::from_le_bytes(bytes);
        if draw < LIMIT {
            return Ok(Secret::new(format!("{:06}", draw % RANGE)));
        }
    }
}

/// A code as a person types it (spaces allowed), or `INVALID_ARGUMENT`
/// naming `field`; a malformed code costs no try.
pub(crate) fn parse_code(field: &str, raw: &str) -> Result<String> {
    let code: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
        Ok(code)
    } else {
        Err(Error::invalid_field(
            field,
            "must be the 6 digits that were sent",
        ))
    }
}

pub(crate) fn code_invalid() -> Error {
    Error::new(Reason::CodeInvalid, "the code is wrong")
}

fn refusal(record: &CodeRecord, now: DateTime<Utc>) -> Option<Error> {
    if record.used {
        Some(Error::new(Reason::CodeUsed, "the code was already used"))
    } else if now >= record.expires_at {
        Some(Error::new(
            Reason::CodeExpired,
            "the code expired; ask for a new one",
        ))
    } else if record.wrong_tries >= MAX_WRONG_TRIES {
        Some(Error::new(
            Reason::TooManyAttempts,
            "too many wrong codes; ask for a new one",
        ))
    } else {
        None
    }
}

impl Identity {
    fn code_mac(&self, purpose: Purpose, subject: Uuid, target: &str, code: &str) -> [u8; 32] {
        let mut message = Vec::with_capacity(64 + target.len());
        for part in [
            purpose.label().as_bytes(),
            subject.as_bytes(),
            target.as_bytes(),
        ] {
            // Length-prefixed, so no two (subject, target, code) run together.
            message.extend_from_slice(&(part.len() as u32).to_be_bytes());
            message.extend_from_slice(part);
        }
        message.extend_from_slice(code.as_bytes());
        secret::hmac_sha256(self.deps.secrets.code_key.expose(), &message)
    }

    /// Counts one send for `subject` against the resend throttle.
    pub(crate) async fn throttle_code_sends(&self, purpose: Purpose, subject: Uuid) -> Result<()> {
        let key = purpose.key(subject);
        let limiter = &self.deps.rate_limiter;
        limiter
            .hit(&format!("code_send:{key}"), 1, RESEND_INTERVAL)
            .await?;
        limiter
            .hit(
                &format!("code_send_hourly:{key}"),
                SENDS_PER_HOUR,
                StdDuration::from_secs(3600),
            )
            .await
    }

    /// Stores a fresh code for `subject` and `target`, replacing any
    /// earlier one, and returns it.
    pub(crate) async fn issue_code(
        &self,
        purpose: Purpose,
        subject: Uuid,
        target: &str,
    ) -> Result<Secret<String>> {
        let pending = self.prepare_code(purpose, subject, target)?;
        self.store_code(&pending).await?;
        Ok(pending.code)
    }

    /// A fresh code for `subject` and `target`, not stored yet: for a flow
    /// that stores it only once the change it goes with is written.
    pub(crate) fn prepare_code(
        &self,
        purpose: Purpose,
        subject: Uuid,
        target: &str,
    ) -> Result<PendingCode> {
        let code = new_code()?;
        let record = CodeRecord {
            mac: self.code_mac(purpose, subject, target, code.expose()),
            expires_at: self.deps.clock.now() + CODE_TTL,
            wrong_tries: 0,
            used: false,
        };
        Ok(PendingCode {
            key: purpose.key(subject),
            record,
            code,
        })
    }

    /// Stores a prepared code, replacing any earlier one.
    pub(crate) async fn store_code(&self, pending: &PendingCode) -> Result<()> {
        self.put_record(&pending.key, &pending.record, pending.record.keep_until())
            .await
    }

    /// The outbox row carrying `code` to `to`, about `user`.
    pub(crate) fn code_message(
        &self,
        purpose: Purpose,
        to: Recipient,
        user: UserId,
        code: &Secret<String>,
    ) -> Result<NewOutboxMessage> {
        let message = OutboundMessage::new(purpose.template(), to, Some(user))
            .with("code", code.expose().clone())
            .with("expires_minutes", CODE_TTL.num_minutes().to_string());
        self.deps.messages.compose(&message, self.deps.clock.now())
    }

    /// Checks `code` (already parsed) for `subject` and `target`; when it
    /// matches, runs `apply` and, if that succeeds, spends the code. A
    /// refusal counts a wrong try and changes nothing else; an `apply` that
    /// fails leaves the code as it was.
    ///
    /// Errors: `CODE_INVALID` (wrong, or none pending), `CODE_EXPIRED`,
    /// `CODE_USED`, `TOO_MANY_ATTEMPTS`, or `apply`'s.
    pub(crate) async fn use_code<T, F, Fut>(
        &self,
        purpose: Purpose,
        subject: Uuid,
        target: &str,
        code: &str,
        apply: F,
    ) -> Result<T>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let key = purpose.key(subject);
        let Some(mut record) = self.take_record::<CodeRecord>(&key).await? else {
            return Err(code_invalid());
        };
        let now = self.deps.clock.now();
        if let Some(refused) = refusal(&record, now) {
            self.put_record(&key, &record, record.keep_until()).await?;
            return Err(refused);
        }
        let mac = self.code_mac(purpose, subject, target, code);
        if !secret::constant_time_eq(&mac, &record.mac) {
            record.wrong_tries += 1;
            self.put_record(&key, &record, record.keep_until()).await?;
            return Err(code_invalid());
        }
        match apply().await {
            Ok(value) => {
                record.used = true;
                self.put_record(&key, &record, record.keep_until()).await?;
                Ok(value)
            }
            Err(err) => {
                self.put_record(&key, &record, record.keep_until()).await?;
                Err(err)
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod test_support;
#[cfg(test)]
mod tests;
