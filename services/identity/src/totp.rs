//! TOTP (RFC 6238) enrolment and removal for a signed-in user.
//!
//! BeginTotpEnrollment makes a 160-bit secret and keeps it, sealed, under
//! `pending_registration:{userId}` for ten minutes; ConfirmTotpEnrollment
//! with a code of that secret turns TOTP on: the secret is stored
//! AES-256-GCM sealed under the encryption key with the user id as
//! associated data, the confirming code's time step counts as accepted,
//! and ten recovery codes are returned once. DisableTotp, proven by a code
//! or the password, removes the secret and the codes. Every change
//! writes `user:updated` with it, naming the fields, never their values.
//!
//! A code is accepted at most once: the last accepted time step is kept
//! per user and advanced by one conditional UPDATE, so two replicas cannot
//! both accept one code; one step of clock skew either way is allowed.

use chrono::{DateTime, Duration, Utc};
use latch_domain::{Error, Reason, Result, UserId, model::TotpRecord, seal, secret::Secret};
use serde::{Deserialize, Serialize};

use crate::{
    Identity,
    recovery_codes::{RecoveryCodes, totp_not_enabled},
    user_events::{field, user_updated},
};

pub(crate) mod code;

use code::{Params, Verdict};

/// How long an enrolment may wait for its confirming code.
const PENDING_TTL: Duration = Duration::minutes(10);
/// Wrong confirming codes before the enrolment must begin again.
const PENDING_TRIES: u8 = 5;

/// A new secret for the user's authenticator, not in force until confirmed.
#[derive(Debug, Clone)]
pub struct TotpEnrollment {
    /// Base32 (RFC 4648, no padding), for manual entry.
    pub secret: Secret<String>,
    /// `otpauth://totp/…`, for a QR code.
    pub otpauth_uri: Secret<String>,
}

/// How the owner proves it is them before TOTP is turned off.
#[derive(Clone)]
pub enum TotpProof {
    Code(String),
    Password(Secret<String>),
}

/// Names the kind of proof only: neither a code nor a password is printed.
impl std::fmt::Debug for TotpProof {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Code(_) => "Code(***)",
            Self::Password(_) => "Password(***)",
        })
    }
}

/// What `pending_registration:{userId}` holds.
#[derive(Serialize, Deserialize)]
struct PendingEnrollment {
    secret: Vec<u8>,
    expires_at: DateTime<Utc>,
    wrong_tries: u8,
}

fn pending_key(user: UserId) -> String {
    format!("pending_registration:{user}")
}

impl Identity {
    /// Starts an enrolment: a new secret and its otpauth URI (issuer
    /// `LATCH_TOTP_ISSUER`, account the user's email). A pending enrolment
    /// begun before is replaced.
    ///
    /// Errors: `TOTP_ALREADY_ENABLED`; `NOT_FOUND` for an unknown user.
    pub async fn begin_totp_enrollment(&self, user: UserId) -> Result<TotpEnrollment> {
        let account = self.get_user(user).await?;
        if account.totp_enabled {
            return Err(Error::new(
                Reason::TotpAlreadyEnabled,
                "two-step sign-in is already on; turn it off first",
            ));
        }
        let secret = code::new_secret();
        let otpauth_uri = code::otpauth_uri(&secret, &self.config.totp_issuer, &account.email)?;
        let now = self.deps.clock.now();
        let pending = PendingEnrollment {
            secret: secret.clone(),
            expires_at: now + PENDING_TTL,
            wrong_tries: 0,
        };
        self.put_record(&pending_key(user), &pending, pending.expires_at)
            .await?;
        Ok(TotpEnrollment {
            secret: Secret::new(code::base32(&secret)),
            otpauth_uri: Secret::new(otpauth_uri),
        })
    }

    /// Turns TOTP on with a current code of the pending secret and returns
    /// the recovery codes, shown this once.
    ///
    /// Errors: `RATE_LIMITED`; `INVALID_ARGUMENT` (`code`) for anything but
    /// six digits; `TOTP_ENROLLMENT_NOT_STARTED` when no enrolment is
    /// pending (never begun, confirmed, or older than ten minutes);
    /// `CODE_INVALID` for a wrong code (the enrolment stays pending);
    /// `TOO_MANY_ATTEMPTS` after five wrong codes (begin again);
    /// `TOTP_ALREADY_ENABLED` when another confirmation won.
    pub async fn confirm_totp_enrollment(
        &self,
        user: UserId,
        typed: &str,
    ) -> Result<Vec<Secret<String>>> {
        let typed = six_digits("code", typed)?;
        self.limit_second_factor(user).await?;
        let key = pending_key(user);
        let Some(mut pending) = self.take_record::<PendingEnrollment>(&key).await? else {
            return Err(not_started());
        };
        let now = self.deps.clock.now();
        if now >= pending.expires_at {
            return Err(not_started());
        }
        if pending.wrong_tries >= PENDING_TRIES {
            self.put_record(&key, &pending, pending.expires_at).await?;
            return Err(too_many_attempts());
        }
        let verdict = code::check(
            Params::LATCH,
            &pending.secret,
            &typed,
            now.timestamp(),
            None,
        )?;
        let Verdict::Fresh(step) = verdict else {
            pending.wrong_tries += 1;
            self.put_record(&key, &pending, pending.expires_at).await?;
            return Err(code_invalid());
        };

        let sealed = seal::seal(self.encryption_key(), &totp_aad(user), &pending.secret)?;
        let set = RecoveryCodes::generate()?;
        let updated = user_updated(user, &[field::TOTP_ENABLED, field::RECOVERY_CODES], now)?;
        let enabled = self
            .deps
            .second_factors
            .enable_totp(user, &sealed, step, &set.hashes, now, &[updated])
            .await?;
        if !enabled {
            return Err(Error::new(
                Reason::TotpAlreadyEnabled,
                "two-step sign-in is already on",
            ));
        }
        Ok(set.codes)
    }

    /// Turns TOTP off and deletes the recovery codes, proven by a current
    /// code or the password.
    ///
    /// Errors: `RATE_LIMITED`; `INVALID_ARGUMENT` (`totp_code`) for a code
    /// that is not six digits; `TOTP_NOT_ENABLED`; `CODE_INVALID`,
    /// `CODE_USED` (a code already accepted) or `INVALID_CREDENTIALS`
    /// (wrong password). A refusal changes nothing.
    pub async fn disable_totp(&self, user: UserId, proof: TotpProof) -> Result<()> {
        let proof = match proof {
            TotpProof::Code(typed) => TotpProof::Code(six_digits("totp_code", &typed)?),
            password => password,
        };
        self.limit_second_factor(user).await?;
        let Some(totp) = self.deps.second_factors.totp(user).await? else {
            return Err(totp_not_enabled());
        };
        match proof {
            TotpProof::Code(typed) => self.accept_totp_code(user, &totp, &typed).await?,
            TotpProof::Password(password) => {
                let account = self.get_user(user).await?;
                let verdict = self
                    .deps
                    .hasher
                    .verify(&password, account.password_hash.as_deref())
                    .await?;
                if !verdict.matches {
                    return Err(Error::new(Reason::InvalidCredentials, "wrong password"));
                }
            }
        }
        let now = self.deps.clock.now();
        let updated = user_updated(user, &[field::TOTP_ENABLED, field::RECOVERY_CODES], now)?;
        if !self
            .deps
            .second_factors
            .disable_totp(user, now, &[updated])
            .await?
        {
            return Err(totp_not_enabled());
        }
        Ok(())
    }

    /// Accepts `typed` (six digits) as the user's code now, advancing the
    /// last accepted step, or says why not: `CODE_USED` for a code of a
    /// step already accepted (a replay, or another replica was first),
    /// `CODE_INVALID` otherwise.
    pub(crate) async fn accept_totp_code(
        &self,
        user: UserId,
        totp: &TotpRecord,
        typed: &str,
    ) -> Result<()> {
        let secret = seal::open(self.encryption_key(), &totp_aad(user), &totp.sealed_secret)
            .ok_or_else(|| {
                Error::internal_msg("a TOTP secret does not open under the encryption key")
            })?;
        let now = self.deps.clock.now().timestamp();
        match code::check(Params::LATCH, &secret, typed, now, totp.last_step)? {
            Verdict::Fresh(step) => {
                if self
                    .deps
                    .second_factors
                    .accept_totp_step(user, step)
                    .await?
                {
                    Ok(())
                } else {
                    Err(code_used())
                }
            }
            Verdict::Replayed => Err(code_used()),
            Verdict::Wrong => Err(code_invalid()),
        }
    }

    /// Changes to a signed-in user's second factor, and the guesses at its
    /// codes they take, are limited per user (`IN_SESSION_PROOFS`); the
    /// guesses of CompleteSecondFactor count in the sign-in lockout.
    pub(crate) async fn limit_second_factor(&self, user: UserId) -> Result<()> {
        self.deps
            .rate_limiter
            .acquire(
                &format!("second_factor:user:{user}"),
                crate::lockout::IN_SESSION_PROOFS,
            )
            .await
    }
}

/// The associated data a user's TOTP secret is sealed with: moved to
/// another user's row, it does not open.
fn totp_aad(user: UserId) -> Vec<u8> {
    format!("totp:{user}").into_bytes()
}

/// `typed` as six ASCII digits (surrounding spaces forgiven), or
/// `INVALID_ARGUMENT` naming `field`: a malformed code is refused before
/// it counts as a try.
pub(crate) fn six_digits(field: &str, typed: &str) -> Result<String> {
    let typed = typed.trim();
    if typed.len() == usize::from(Params::LATCH.digits) && typed.bytes().all(|b| b.is_ascii_digit())
    {
        Ok(typed.to_owned())
    } else {
        Err(Error::invalid_field(
            field,
            "must be the 6 digits the app shows",
        ))
    }
}

pub(crate) fn code_invalid() -> Error {
    Error::new(Reason::CodeInvalid, "the code is not right")
}

pub(crate) fn code_used() -> Error {
    Error::new(
        Reason::CodeUsed,
        "this code was used already; wait for the next one",
    )
}

pub(crate) fn too_many_attempts() -> Error {
    Error::new(Reason::TooManyAttempts, "too many wrong codes; start again")
}

fn not_started() -> Error {
    Error::new(
        Reason::TotpEnrollmentNotStarted,
        "no enrolment is pending (none begun, or older than ten minutes); begin again",
    )
}

#[cfg(test)]
pub(crate) mod tests;
