//! RFC 6238 codes through totp-rs: what Latch enrols (SHA-1, 6 digits,
//! 30-second steps, 160-bit secrets, the parameters every authenticator
//! app supports) and how a presented code is judged: it must match the
//! current step or one step either side, and be for a step later than the
//! last one accepted, so a code is accepted at most once.

use latch_domain::{Error, Result, secret::constant_time_eq};
use totp_rs::{Algorithm, Builder, Secret, Totp};

/// How codes are made; [`Params::LATCH`] for what Latch enrols, others
/// only to check the RFC's vectors.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Params {
    pub(crate) algorithm: Algorithm,
    pub(crate) digits: u8,
    pub(crate) step_seconds: u64,
}

impl Params {
    pub(crate) const LATCH: Params = Params {
        algorithm: Algorithm::SHA1,
        digits: 6,
        step_seconds: 30,
    };
}

/// Steps either side of the current one that are still accepted (clock
/// drift and typing time).
const SKEW: u64 = 1;

/// What a presented code is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Right, for this step, which is later than any accepted before.
    Fresh(i64),
    /// Right, but for a step already accepted (or older): a replay.
    Replayed,
    /// Not a code of this secret near this time.
    Wrong,
}

/// A fresh 160-bit secret (RFC 4226 section 4 recommends 160).
pub(crate) fn new_secret() -> Vec<u8> {
    Secret::generate().as_bytes().to_vec()
}

/// The secret as an authenticator app's manual entry wants it: base32
/// (RFC 4648), no padding.
pub(crate) fn base32(secret: &[u8]) -> String {
    Secret::from(secret.to_vec()).to_base32()
}

/// `otpauth://totp/{issuer}:{account}?secret=…&issuer=…`, for a QR code.
pub(crate) fn otpauth_uri(secret: &[u8], issuer: &str, account: &str) -> Result<String> {
    Builder::new()
        .with_algorithm(Params::LATCH.algorithm)
        .with_digits(Params::LATCH.digits)
        .with_step_duration(Params::LATCH.step_seconds)
        .with_secret(secret.to_vec())
        .with_issuer(Some(issuer))
        .with_account_name(account)
        .build()
        .and_then(|totp| totp.to_url())
        .map_err(|e| Error::internal_msg(format!("otpauth URI: {e}")))
}

/// The time step of `unix_seconds`.
pub(crate) fn step_at(params: Params, unix_seconds: i64) -> i64 {
    unix_seconds.max(0) / params.step_seconds as i64
}

/// Judges `code` at `unix_seconds` against `secret`, accepting only a step
/// later than `last_step`. A malformed code (not exactly `digits` ASCII
/// digits) is [`Verdict::Wrong`]; the caller may refuse it earlier.
pub(crate) fn check(
    params: Params,
    secret: &[u8],
    code: &str,
    unix_seconds: i64,
    last_step: Option<i64>,
) -> Result<Verdict> {
    if code.len() != usize::from(params.digits) || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(Verdict::Wrong);
    }
    let totp = totp(params, secret)?;
    let now = step_at(params, unix_seconds) as u64;
    let mut verdict = Verdict::Wrong;
    // Every step of the window is computed, whatever matches first, so the
    // time taken says nothing about which step matched.
    for step in now.saturating_sub(SKEW)..=now + SKEW {
        let expected = totp.generate(step * params.step_seconds).to_string();
        if !constant_time_eq(expected.as_bytes(), code.as_bytes()) {
            continue;
        }
        let step = step as i64;
        let fresh = last_step.is_none_or(|last| step > last);
        verdict = match verdict {
            Verdict::Fresh(earlier) => Verdict::Fresh(earlier),
            _ if fresh => Verdict::Fresh(step),
            _ => Verdict::Replayed,
        };
    }
    Ok(verdict)
}

/// The code of `secret` at `unix_seconds` (tests, and nothing else: the
/// server never needs to show a code).
#[cfg(test)]
pub(crate) fn code_at(params: Params, secret: &[u8], unix_seconds: i64) -> String {
    totp(params, secret)
        .map(|t| t.generate(unix_seconds.max(0) as u64).to_string())
        .unwrap_or_default()
}

fn totp(params: Params, secret: &[u8]) -> Result<Totp> {
    Builder::new()
        .with_algorithm(params.algorithm)
        .with_digits(params.digits)
        .with_step_duration(params.step_seconds)
        .with_skew(0)
        .with_secret(secret.to_vec())
        .build()
        .map_err(|e| Error::internal_msg(format!("TOTP parameters: {e}")))
}
