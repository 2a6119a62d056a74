//! What to bootstrap, read once at start: `LATCH_BOOTSTRAP_ADMIN_EMAIL`
//! with `LATCH_BOOTSTRAP_ADMIN_PASSWORD` or
//! `LATCH_BOOTSTRAP_ADMIN_PASSWORD_FILE` (or the `latchd bootstrap-admin`
//! arguments). The password is checked against the password policy here,
//! so a weak one stops the start with the reason; it is never logged, nor
//! put in any message.

use std::path::Path;

use latch_domain::{Error, Result, secret::Secret, validate};
use latch_runtime::config::ConfigSource;

pub const EMAIL_KEY: &str = "LATCH_BOOTSTRAP_ADMIN_EMAIL";
pub const PASSWORD_KEY: &str = "LATCH_BOOTSTRAP_ADMIN_PASSWORD";
pub const PASSWORD_FILE_KEY: &str = "LATCH_BOOTSTRAP_ADMIN_PASSWORD_FILE";

/// The account to make SUPERADMIN: created with `password` when no account
/// has the address, promoted when one has (its password left alone).
#[derive(Debug, Clone)]
pub struct BootstrapAdmin {
    /// Lowercased, as stored.
    pub email: String,
    pub password: Option<Secret<String>>,
}

impl BootstrapAdmin {
    /// `email` checked as sign-up checks it, `password` against the
    /// password policy. `origin` names where the password came from in a
    /// refusal (a key or a file), never the password.
    pub fn new(email: &str, password: Option<(Secret<String>, &str)>) -> Result<Self> {
        let email = validate::email("email", email)
            .map_err(|err| settings_error(EMAIL_KEY, format!("{email:?} {}", why(&err))))?;
        let password = match password {
            None => None,
            Some((password, origin)) => {
                validate::password("password", &password, &[&email]).map_err(|err| {
                    Error::internal_msg(format!(
                        "{origin}: the bootstrap admin's password is too weak: {}",
                        why(&err)
                    ))
                })?;
                Some(password)
            }
        };
        Ok(Self { email, password })
    }

    /// The admin the settings name, or `None` when `LATCH_BOOTSTRAP_ADMIN_EMAIL`
    /// is unset. A password with no email, both password keys at once, or
    /// an unreadable or empty file stops the start.
    pub fn from_source(source: &dyn ConfigSource) -> Result<Option<Self>> {
        let password = password_from_source(source)?;
        let Some(email) = source.get(EMAIL_KEY).filter(|e| !e.trim().is_empty()) else {
            if password.is_some() {
                return Err(settings_error(
                    EMAIL_KEY,
                    "is required when a bootstrap admin password is set",
                ));
            }
            return Ok(None);
        };
        let origin = match source.get(PASSWORD_FILE_KEY) {
            Some(file) => format!("{PASSWORD_FILE_KEY} ({file})"),
            None => PASSWORD_KEY.to_owned(),
        };
        Self::new(&email, password.map(|p| (p, origin.as_str()))).map(Some)
    }
}

/// The password of `LATCH_BOOTSTRAP_ADMIN_PASSWORD` or of the file
/// `LATCH_BOOTSTRAP_ADMIN_PASSWORD_FILE` names; `None` when neither is set.
pub fn password_from_source(source: &dyn ConfigSource) -> Result<Option<Secret<String>>> {
    match (source.get(PASSWORD_KEY), source.get(PASSWORD_FILE_KEY)) {
        (Some(_), Some(_)) => Err(settings_error(
            PASSWORD_KEY,
            format!("and {PASSWORD_FILE_KEY} are both set; keep one"),
        )),
        (Some(password), None) => Ok(Some(Secret::new(password))),
        (None, Some(file)) => read_password_file(Path::new(&file)).map(Some),
        (None, None) => Ok(None),
    }
}

/// A password file's content without its final line break: the file is
/// usually written by `echo` or a secret mount.
pub fn read_password_file(path: &Path) -> Result<Secret<String>> {
    let content = std::fs::read_to_string(path).map_err(|e| {
        Error::internal_msg(format!(
            "cannot read the bootstrap admin password file {}: {e}",
            path.display()
        ))
    })?;
    Ok(Secret::new(without_line_break(content)))
}

/// Drops one trailing `\n` or `\r\n`, nothing else: spaces may belong to
/// the password.
pub fn without_line_break(mut text: String) -> String {
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    text
}

/// What a field refusal says about the value, without the field's name.
fn why(err: &Error) -> &str {
    err.violation()
        .map_or(err.message(), |v| v.description.as_str())
}

fn settings_error(key: &str, why: impl std::fmt::Display) -> Error {
    Error::internal_msg(format!("{key}: {why}"))
}
