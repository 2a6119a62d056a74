//! Identity's configuration, read once at start through a `ConfigSource`.
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `LATCH_REQUIRE_VERIFIED_EMAIL` | `false` | sign-up returns no tokens and login refuses until the email is verified; a sign-up for an address in use is then answered as a new one (off: `EMAIL_TAKEN`; see `signup`) |
//! | `LATCH_LOCKOUT_THRESHOLD` | `5` | failed sign-in attempts (password or second factor) per account that pass without a wait; each further one waits 1 s, 2 s, 4 s …; 1 to 100 |
//! | `LATCH_LOCKOUT_MAX_DELAY` | `15m` | the longest of those waits (never a permanent lock); 1s to 1d |
//! | `LATCH_TOTP_ISSUER` | `Latch` | the issuer an authenticator app shows beside the account (otpauth URI); 1 to 64 characters, no `:` |
//! | `LATCH_NOTIFY_NEW_DEVICE` | `true` | mail the user on a sign-in from a device not used for 90 days (see `new_device`) |
//!
//! `LATCH_WEBAUTHN_*` (the passkeys' relying party) are read by
//! [`crate::PasskeySettings::from_source`].
//! `LATCH_PASSWORD_QUEUE` is read by [`crate::Argon2Hasher::from_source`].
//! `LATCH_OAUTH_PROVIDERS` is read by
//! [`crate::oauth::providers::OidcProviders::from_source`].
//! Per-address limits of public RPCs (`LATCH_RATE_LIMIT_*`) belong to the
//! server layer (`latch_runtime::auth::PublicRateLimits`); the keys that
//! set them inside identity before are refused with their successor named.

use std::time::Duration;

use latch_domain::{Error, Result, ports::Lockout};
use latch_runtime::config::{ConfigSource, duration_in, parse_in, parse_or};

use crate::PasskeySettings;

/// The longest wait may not be a ban: at most a day.
const MAX_DELAYS: std::ops::RangeInclusive<Duration> =
    Duration::from_secs(1)..=Duration::from_secs(86_400);

/// Keys of limits that moved, and where: a deployment that sets one learns
/// at start instead of running with a limit it no longer has.
const MOVED: &[(&str, &str)] = &[
    (
        "LATCH_LOGIN_LIMIT_PER_EMAIL",
        "LATCH_LOCKOUT_THRESHOLD (failed attempts per account)",
    ),
    ("LATCH_LOGIN_LIMIT_PER_IP", "LATCH_RATE_LIMIT_SIGN_IN"),
    ("LATCH_LOGIN_WINDOW", "LATCH_RATE_LIMIT_SIGN_IN"),
    ("LATCH_SIGNUP_LIMIT_PER_IP", "LATCH_RATE_LIMIT_SIGN_UP"),
    ("LATCH_SIGNUP_WINDOW", "LATCH_RATE_LIMIT_SIGN_UP"),
    (
        "LATCH_VERIFICATION_LIMIT_PER_IP",
        "LATCH_RATE_LIMIT_RECOVERY",
    ),
    ("LATCH_VERIFICATION_WINDOW", "LATCH_RATE_LIMIT_RECOVERY"),
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityConfig {
    pub require_verified_email: bool,
    /// Lockout with backoff (`LATCH_LOCKOUT_THRESHOLD`, `LATCH_LOCKOUT_MAX_DELAY`).
    pub lockout: Lockout,
    pub totp_issuer: String,
    pub notify_new_device: bool,
    /// The passkeys' relying party (`LATCH_WEBAUTHN_*`).
    pub passkeys: PasskeySettings,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        Self {
            require_verified_email: false,
            lockout: Lockout::default(),
            totp_issuer: "Latch".to_owned(),
            notify_new_device: true,
            passkeys: PasskeySettings::default(),
        }
    }
}

impl IdentityConfig {
    /// Reads every key of the table above; a malformed or out-of-range
    /// value, or a key that moved, stops the start.
    pub fn from_source(source: &dyn ConfigSource) -> Result<Self> {
        if let Some((key, successor)) = MOVED.iter().find(|(key, _)| source.get(key).is_some()) {
            return Err(Error::internal_msg(format!(
                "{key} is no longer read: set {successor} instead (see the README's settings)"
            )));
        }
        let d = Self::default();
        Ok(Self {
            require_verified_email: parse_or(
                source,
                "LATCH_REQUIRE_VERIFIED_EMAIL",
                d.require_verified_email,
            )?,
            lockout: Lockout {
                threshold: parse_in(
                    source,
                    "LATCH_LOCKOUT_THRESHOLD",
                    d.lockout.threshold,
                    1..=100,
                )?,
                max_delay: duration_in(
                    source,
                    "LATCH_LOCKOUT_MAX_DELAY",
                    d.lockout.max_delay,
                    MAX_DELAYS,
                )?,
            },
            totp_issuer: totp_issuer(source.get("LATCH_TOTP_ISSUER"), d.totp_issuer)?,
            notify_new_device: parse_or(source, "LATCH_NOTIFY_NEW_DEVICE", d.notify_new_device)?,
            passkeys: PasskeySettings::from_source(source)?,
        })
    }
}

/// The issuer as an otpauth URI carries it: the label's `issuer:account`
/// split makes a colon ambiguous, and apps show only a short name.
fn totp_issuer(raw: Option<String>, default: String) -> Result<String> {
    let Some(raw) = raw else {
        return Ok(default);
    };
    let issuer = raw.trim();
    let chars = issuer.chars().count();
    if chars == 0 || chars > 64 || issuer.contains(':') || issuer.chars().any(char::is_control) {
        return Err(Error::internal_msg(
            "LATCH_TOTP_ISSUER: must be 1 to 64 printable characters without ':'",
        ));
    }
    Ok(issuer.to_owned())
}

#[cfg(test)]
mod tests {
    use latch_runtime::config::MapSource;

    use super::*;

    #[test]
    fn defaults_apply_and_keys_override() -> Result<()> {
        assert_eq!(
            IdentityConfig::from_source(&MapSource::new())?,
            IdentityConfig::default()
        );
        let source = MapSource::new()
            .with("LATCH_REQUIRE_VERIFIED_EMAIL", "true")
            .with("LATCH_LOCKOUT_THRESHOLD", "3")
            .with("LATCH_LOCKOUT_MAX_DELAY", "5m");
        let config = IdentityConfig::from_source(&source)?;
        assert!(config.require_verified_email);
        assert_eq!(config.lockout.threshold, 3);
        assert_eq!(config.lockout.max_delay, Duration::from_secs(300));
        assert_eq!(config.totp_issuer, "Latch");
        assert!(config.notify_new_device);
        assert_eq!(IdentityConfig::default().lockout, Lockout::default());

        let source = MapSource::new()
            .with("LATCH_TOTP_ISSUER", " Acme Cloud ")
            .with("LATCH_NOTIFY_NEW_DEVICE", "false");
        let config = IdentityConfig::from_source(&source)?;
        assert_eq!(config.totp_issuer, "Acme Cloud");
        assert!(!config.notify_new_device);
        Ok(())
    }

    #[test]
    fn lockout_out_of_range_stops_the_start() {
        for (key, value) in [
            ("LATCH_LOCKOUT_THRESHOLD", "0"),
            ("LATCH_LOCKOUT_THRESHOLD", "101"),
            ("LATCH_LOCKOUT_MAX_DELAY", "2d"),
            ("LATCH_LOCKOUT_MAX_DELAY", "500ms"),
        ] {
            let source = MapSource::new().with(key, value);
            let err = IdentityConfig::from_source(&source).unwrap_err();
            assert!(format!("{err}").contains(key), "{key}={value}: {err}");
        }
    }

    #[test]
    fn keys_that_moved_stop_the_start_naming_their_successor() {
        for (key, successor) in MOVED {
            let source = MapSource::new().with(key, "10");
            let err = IdentityConfig::from_source(&source)
                .unwrap_err()
                .to_string();
            assert!(err.contains(key) && err.contains(successor), "{err}");
        }
    }

    #[test]
    fn malformed_or_zero_values_stop_the_start() {
        for (key, value) in [
            ("LATCH_REQUIRE_VERIFIED_EMAIL", "maybe"),
            ("LATCH_LOCKOUT_THRESHOLD", "five"),
            ("LATCH_LOCKOUT_MAX_DELAY", "soon"),
            ("LATCH_TOTP_ISSUER", "Acme: Inc"),
            ("LATCH_TOTP_ISSUER", "  "),
            ("LATCH_NOTIFY_NEW_DEVICE", "sometimes"),
        ] {
            let source = MapSource::new().with(key, value);
            let err = IdentityConfig::from_source(&source).unwrap_err();
            assert!(format!("{err}").contains(key), "{key}");
        }
    }
}
