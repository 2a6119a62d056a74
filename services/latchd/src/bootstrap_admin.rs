//! `latchd bootstrap-admin --email EMAIL [--password-file FILE]`: makes the
//! first SUPERADMIN against the configured database and exits (see
//! `latch_identity::bootstrap`). The password comes from the file (`-` is
//! standard input), else from `LATCH_BOOTSTRAP_ADMIN_PASSWORD` or
//! `LATCH_BOOTSTRAP_ADMIN_PASSWORD_FILE`; it is needed only when no
//! account has the address, never taken from the command line (where
//! `ps` and shell history would show it), and never printed.

use std::{io::Read, path::Path, sync::Arc};

use latch_domain::{Clock, Error, Result, SystemClock, secret::Secret};
use latch_identity::bootstrap::{
    BootstrapAdmin, Bootstrapped, EMAIL_KEY, PASSWORD_FILE_KEY, PASSWORD_KEY, password_from_source,
    read_password_file, without_line_break,
};
use latch_runtime::{
    config::{ConfigSource, parse_or},
    infra::{Infra, RedisRequirement},
    secrets::Secrets,
    settings::CommonConfig,
    telemetry::{self, TelemetryConfig},
};

/// The command's arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootstrapArgs {
    pub email: String,
    pub password_file: Option<String>,
}

impl BootstrapArgs {
    /// `--email EMAIL` (required) and `--password-file FILE`, each also as
    /// `--flag=value`; anything else is a usage error, described.
    pub fn parse(args: impl IntoIterator<Item = String>) -> std::result::Result<Self, String> {
        let mut email = None;
        let mut password_file = None;
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((flag, value)) if flag.starts_with("--") => {
                    (flag.to_owned(), Some(value.to_owned()))
                }
                _ => (arg.clone(), None),
            };
            let slot = match flag.as_str() {
                "--email" => &mut email,
                "--password-file" => &mut password_file,
                "--password" => {
                    return Err("--password is not taken: a password on the command line shows in `ps` and shell history; use --password-file (or - for standard input)".to_owned());
                }
                _ => return Err(format!("bootstrap-admin: unexpected argument {arg:?}")),
            };
            let value = match inline.or_else(|| args.next()) {
                Some(value) if !value.is_empty() => value,
                _ => return Err(format!("bootstrap-admin: {flag} needs a value")),
            };
            if slot.replace(value).is_some() {
                return Err(format!("bootstrap-admin: {flag} given twice"));
            }
        }
        Ok(Self {
            email: email.ok_or("bootstrap-admin: --email is required")?,
            password_file,
        })
    }
}

/// Connects as `latchd serve` does (migrating SQLite unless told not to),
/// makes the admin, prints what was done.
pub async fn run(source: &dyn ConfigSource, args: BootstrapArgs) -> Result<()> {
    let admin = admin_from(source, &args)?;
    let common = CommonConfig::from_source(source)?;
    let telemetry = telemetry::init(&TelemetryConfig::new(&common, "latchd"))?;
    let migrate = parse_or(source, "LATCH_AUTO_MIGRATE", !common.is_production())?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let secrets = Secrets::load(source, &common).await?;
    let infra = Infra::connect(&common, clock.clone(), RedisRequirement::Optional, migrate).await?;
    // The settings' own bootstrap admin is for `serve`; this command makes
    // the one it was given.
    let settings = WithoutBootstrap(source);
    let latchd = crate::assemble(&settings, &secrets, &infra, clock).await?;
    let done = latchd.identity.bootstrap_admin(&admin).await;
    telemetry.shutdown().await;
    let who = |id| format!("{} (user {id})", admin.email);
    match done? {
        Bootstrapped::Created(id) => println!(
            "created {}, email verified, and made it SUPERADMIN",
            who(id)
        ),
        Bootstrapped::Promoted(id) => println!("made {} SUPERADMIN", who(id)),
        Bootstrapped::AlreadyAdmin(id) => {
            println!("{} is SUPERADMIN already; nothing changed", who(id));
        }
    }
    Ok(())
}

/// The admin of the arguments, its password judged now: a weak one stops
/// the command before it connects.
fn admin_from(source: &dyn ConfigSource, args: &BootstrapArgs) -> Result<BootstrapAdmin> {
    let (password, origin) = match args.password_file.as_deref() {
        Some("-") => {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text).map_err(|e| {
                Error::internal_msg(format!("cannot read the password from standard input: {e}"))
            })?;
            (
                Some(Secret::new(without_line_break(text))),
                "the password on standard input".to_owned(),
            )
        }
        Some(file) => (
            Some(read_password_file(Path::new(file))?),
            format!("--password-file {file}"),
        ),
        None => {
            let origin = if source.get(PASSWORD_FILE_KEY).is_some() {
                PASSWORD_FILE_KEY
            } else {
                PASSWORD_KEY
            };
            (password_from_source(source)?, origin.to_owned())
        }
    };
    BootstrapAdmin::new(&args.email, password.map(|p| (p, origin.as_str())))
}

/// The settings without `LATCH_BOOTSTRAP_ADMIN_*`.
struct WithoutBootstrap<'a>(&'a dyn ConfigSource);

impl ConfigSource for WithoutBootstrap<'_> {
    fn get(&self, key: &str) -> Option<String> {
        if [EMAIL_KEY, PASSWORD_KEY, PASSWORD_FILE_KEY].contains(&key) {
            return None;
        }
        self.0.get(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> std::result::Result<BootstrapArgs, String> {
        BootstrapArgs::parse(args.iter().map(|a| (*a).to_owned()))
    }

    #[test]
    fn arguments_are_read_in_either_form() {
        let want = BootstrapArgs {
            email: "root@example.com".to_owned(),
            password_file: Some("/run/secrets/admin".to_owned()),
        };
        assert_eq!(
            parse(&[
                "--email",
                "root@example.com",
                "--password-file",
                "/run/secrets/admin"
            ]),
            Ok(want.clone())
        );
        assert_eq!(
            parse(&[
                "--password-file=/run/secrets/admin",
                "--email=root@example.com"
            ]),
            Ok(want)
        );
        assert_eq!(
            parse(&["--email", "root@example.com"]).map(|a| a.password_file),
            Ok(None)
        );
    }

    #[test]
    fn bad_arguments_are_usage_errors() {
        for bad in [
            &[][..],
            &["--email"],
            &["--email="],
            &["--password-file", "f"],
            &["--email", "a@example.com", "--email", "b@example.com"],
            &["--email", "a@example.com", "extra"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        let err = parse(&["--email", "a@example.com", "--password", "hunter2"]).unwrap_err();
        assert!(
            err.contains("--password-file") && !err.contains("hunter2"),
            "{err}"
        );
    }
}
