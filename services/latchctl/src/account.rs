//! A service account credential for automation, checked for its shape
//! before anything is sent. Latch's own `LATCH_SERVICE_TOKEN` must never
//! leave Latch's pods: a value shaped like it (no `<name>.` in front, as
//! the generated token never has) or equal to the one in this environment
//! is refused, so a script cannot lend latchctl the keys of the house.

use std::path::Path;

use crate::failure::Failure;

/// As Latch's accounts file requires (`MIN_SECRET_CHARS`, the name rule).
const MIN_SECRET_CHARS: usize = 32;
const MAX_NAME_CHARS: usize = 64;

/// `<name>.<secret>`; the secret is never printed.
#[derive(Clone)]
pub(crate) struct ServiceAccount {
    credential: String,
}

impl ServiceAccount {
    /// The account from `--service-account-file`, else from
    /// `--service-account` / `LATCHCTL_SERVICE_ACCOUNT`, if either is set.
    pub(crate) fn from_args(
        value: Option<&str>,
        file: Option<&Path>,
    ) -> Result<Option<Self>, Failure> {
        let credential = match (value, file) {
            (Some(_), Some(_)) => {
                return Err(Failure::usage(
                    "give --service-account (LATCHCTL_SERVICE_ACCOUNT) or --service-account-file, not both",
                ));
            }
            (Some(value), None) => value.trim().to_owned(),
            (None, Some(path)) => std::fs::read_to_string(path)
                .map_err(|e| Failure::usage(format!("cannot read {}: {e}", path.display())))?
                .trim()
                .to_owned(),
            (None, None) => return Ok(None),
        };
        Self::parse(credential, latch_service_tokens()).map(Some)
    }

    fn parse(credential: String, latch_tokens: Vec<String>) -> Result<Self, Failure> {
        if latch_tokens
            .iter()
            .any(|t| !t.is_empty() && *t == credential)
        {
            return Err(refuse_latch_token());
        }
        let Some((name, secret)) = credential.split_once('.') else {
            return Err(refuse_latch_token());
        };
        let name_ok = !name.is_empty()
            && name.len() <= MAX_NAME_CHARS
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !name_ok {
            return Err(refuse_latch_token());
        }
        if secret.len() < MIN_SECRET_CHARS {
            return Err(Failure::usage(format!(
                "service account {name:?}: the secret is shorter than {MIN_SECRET_CHARS} characters"
            )));
        }
        Ok(Self { credential })
    }

    /// The header value; only for the request.
    pub(crate) fn expose(&self) -> &str {
        &self.credential
    }
}

/// The service token values this environment holds, should latchctl run
/// beside a Latch pod's settings.
fn latch_service_tokens() -> Vec<String> {
    ["LATCH_SERVICE_TOKEN", "LATCH_SERVICE_TOKEN_ACCEPT"]
        .iter()
        .filter_map(|key| std::env::var(key).ok())
        .map(|v| v.trim().to_owned())
        .collect()
}

fn refuse_latch_token() -> Failure {
    Failure::usage(
        "a service account credential is `<name>.<secret>` (printed by `latchd service-account NAME`); \
         this looks like Latch's own LATCH_SERVICE_TOKEN, which never leaves Latch's pods: \
         latchctl does not send it",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn an_account_credential_is_accepted() {
        let account = ServiceAccount::parse(format!("ops-bot.{SECRET}"), Vec::new());
        assert_eq!(
            account.ok().map(|a| a.expose().to_owned()),
            Some(format!("ops-bot.{SECRET}"))
        );
    }

    #[test]
    fn latchs_own_service_token_is_refused() {
        // The generated token: 43 characters of base64url, no name in front.
        let generated = "kq3Zl0Hc4rjN9ZrA2fJd0u5C5bYwq0Xvf9eVPe6H1ks".to_owned();
        assert!(ServiceAccount::parse(generated, Vec::new()).is_err());
        // A hand-made token that happens to contain a dot, recognised
        // because this environment holds it.
        let dotted = format!("ops.{SECRET}");
        assert!(ServiceAccount::parse(dotted.clone(), vec![dotted]).is_err());
        // Not a name: base64 of openssl has `+`, `/` and `=`.
        assert!(ServiceAccount::parse(format!("a+b/c.{SECRET}"), Vec::new()).is_err());
    }

    #[test]
    fn a_short_secret_is_a_usage_error() {
        let short = ServiceAccount::parse("ops.short".to_owned(), Vec::new());
        assert_eq!(
            short.err().map(|f| f.exit()),
            Some(crate::failure::Exit::Usage)
        );
    }
}
