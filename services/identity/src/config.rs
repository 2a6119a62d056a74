//! Identity's configuration, read once at start through a `ConfigSource`.
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `LATCH_REQUIRE_VERIFIED_EMAIL` | `false` | sign-up returns no tokens and login refuses until the email is verified; a sign-up for an address in use is then answered as a new one (off: `EMAIL_TAKEN`; see `signup`) |
//! | `LATCH_LOGIN_LIMIT_PER_EMAIL` | `10` | login attempts per email address per window |
//! | `LATCH_LOGIN_LIMIT_PER_IP` | `50` | login attempts per client IP per window |
//! | `LATCH_LOGIN_WINDOW` | `1m` | the login rate-limit window, 1s to 1d |
//! | `LATCH_SIGNUP_LIMIT_PER_IP` | `20` | sign-ups per client IP per sign-up window |
//! | `LATCH_SIGNUP_WINDOW` | `1h` | the sign-up rate-limit window, 1s to 7d |
//! | `LATCH_TOTP_ISSUER` | `Latch` | the issuer an authenticator app shows beside the account (otpauth URI); 1 to 64 characters, no `:` |
//! | `LATCH_VERIFICATION_LIMIT_PER_IP` | `30` | calls per client IP per window to each public RPC of verification and reset (SendEmailVerification, VerifyEmail, RequestPasswordReset, ResetPassword) |
//! | `LATCH_VERIFICATION_WINDOW` | `15m` | that window, 1s to 1d |
//! | `LATCH_NOTIFY_NEW_DEVICE` | `true` | mail the user on a sign-in from a device not used for 90 days (see `new_device`) |
//!
//! Limits are counts of at least one. `LATCH_PASSWORD_QUEUE` is read by
//! [`crate::Argon2Hasher::from_source`].

use std::time::Duration;

use latch_domain::{Error, Result};
use latch_runtime::config::{ConfigSource, duration_in, parse_or};

/// What a rate-limit window may be: a zero window limits nothing, and a
/// window of weeks locks a user out for weeks.
const LOGIN_WINDOW: std::ops::RangeInclusive<Duration> =
    Duration::from_secs(1)..=Duration::from_secs(86_400);
const SIGNUP_WINDOW: std::ops::RangeInclusive<Duration> =
    Duration::from_secs(1)..=Duration::from_secs(7 * 86_400);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityConfig {
    pub require_verified_email: bool,
    pub login_limit_per_email: u32,
    pub login_limit_per_ip: u32,
    pub login_window: Duration,
    pub signup_limit_per_ip: u32,
    pub signup_window: Duration,
    pub totp_issuer: String,
    pub notify_new_device: bool,
    pub verification_limit_per_ip: u32,
    pub verification_window: Duration,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        Self {
            require_verified_email: false,
            login_limit_per_email: 10,
            login_limit_per_ip: 50,
            login_window: Duration::from_secs(60),
            signup_limit_per_ip: 20,
            signup_window: Duration::from_secs(3600),
            totp_issuer: "Latch".to_owned(),
            notify_new_device: true,
            verification_limit_per_ip: 30,
            verification_window: Duration::from_secs(15 * 60),
        }
    }
}

impl IdentityConfig {
    /// Reads every key of the table above; a malformed value or a zero
    /// limit or window stops the start.
    pub fn from_source(source: &dyn ConfigSource) -> Result<Self> {
        let d = Self::default();
        let config = Self {
            require_verified_email: parse_or(
                source,
                "LATCH_REQUIRE_VERIFIED_EMAIL",
                d.require_verified_email,
            )?,
            login_limit_per_email: parse_or(
                source,
                "LATCH_LOGIN_LIMIT_PER_EMAIL",
                d.login_limit_per_email,
            )?,
            login_limit_per_ip: parse_or(source, "LATCH_LOGIN_LIMIT_PER_IP", d.login_limit_per_ip)?,
            login_window: duration_in(source, "LATCH_LOGIN_WINDOW", d.login_window, LOGIN_WINDOW)?,
            signup_limit_per_ip: parse_or(
                source,
                "LATCH_SIGNUP_LIMIT_PER_IP",
                d.signup_limit_per_ip,
            )?,
            signup_window: duration_in(
                source,
                "LATCH_SIGNUP_WINDOW",
                d.signup_window,
                SIGNUP_WINDOW,
            )?,
            totp_issuer: totp_issuer(source.get("LATCH_TOTP_ISSUER"), d.totp_issuer)?,
            notify_new_device: parse_or(source, "LATCH_NOTIFY_NEW_DEVICE", d.notify_new_device)?,
            verification_limit_per_ip: parse_or(
                source,
                "LATCH_VERIFICATION_LIMIT_PER_IP",
                d.verification_limit_per_ip,
            )?,
            verification_window: duration_in(
                source,
                "LATCH_VERIFICATION_WINDOW",
                d.verification_window,
                LOGIN_WINDOW,
            )?,
        };
        let zero = [
            (
                "LATCH_LOGIN_LIMIT_PER_EMAIL",
                config.login_limit_per_email == 0,
            ),
            ("LATCH_LOGIN_LIMIT_PER_IP", config.login_limit_per_ip == 0),
            ("LATCH_LOGIN_WINDOW", config.login_window.is_zero()),
            ("LATCH_SIGNUP_LIMIT_PER_IP", config.signup_limit_per_ip == 0),
            ("LATCH_SIGNUP_WINDOW", config.signup_window.is_zero()),
            (
                "LATCH_VERIFICATION_LIMIT_PER_IP",
                config.verification_limit_per_ip == 0,
            ),
        ];
        if let Some((key, _)) = zero.iter().find(|(_, is_zero)| *is_zero) {
            return Err(Error::internal_msg(format!("{key}: must be above zero")));
        }
        Ok(config)
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
            .with("LATCH_LOGIN_LIMIT_PER_EMAIL", "3")
            .with("LATCH_LOGIN_WINDOW", "5m");
        let config = IdentityConfig::from_source(&source)?;
        assert!(config.require_verified_email);
        assert_eq!(config.login_limit_per_email, 3);
        assert_eq!(config.login_window, Duration::from_secs(300));
        assert_eq!(config.totp_issuer, "Latch");
        assert!(config.notify_new_device);

        let source = MapSource::new()
            .with("LATCH_TOTP_ISSUER", " Acme Cloud ")
            .with("LATCH_NOTIFY_NEW_DEVICE", "false");
        let config = IdentityConfig::from_source(&source)?;
        assert_eq!(config.totp_issuer, "Acme Cloud");
        assert!(!config.notify_new_device);
        Ok(())
    }

    #[test]
    fn windows_out_of_range_stop_the_start() {
        for (key, value) in [
            ("LATCH_LOGIN_WINDOW", "2d"),
            ("LATCH_LOGIN_WINDOW", "999999999999d"),
            ("LATCH_SIGNUP_WINDOW", "8d"),
            ("LATCH_SIGNUP_WINDOW", "500ms"),
        ] {
            let source = MapSource::new().with(key, value);
            let err = IdentityConfig::from_source(&source).unwrap_err();
            assert!(format!("{err}").contains(key), "{key}={value}: {err}");
        }
    }

    #[test]
    fn malformed_or_zero_values_stop_the_start() {
        for (key, value) in [
            ("LATCH_REQUIRE_VERIFIED_EMAIL", "maybe"),
            ("LATCH_LOGIN_LIMIT_PER_IP", "0"),
            ("LATCH_LOGIN_WINDOW", "soon"),
            ("LATCH_TOTP_ISSUER", "Acme: Inc"),
            ("LATCH_TOTP_ISSUER", "  "),
            ("LATCH_NOTIFY_NEW_DEVICE", "sometimes"),
            ("LATCH_VERIFICATION_LIMIT_PER_IP", "0"),
            ("LATCH_VERIFICATION_WINDOW", "2d"),
        ] {
            let source = MapSource::new().with(key, value);
            let err = IdentityConfig::from_source(&source).unwrap_err();
            assert!(format!("{err}").contains(key), "{key}");
        }
    }
}
