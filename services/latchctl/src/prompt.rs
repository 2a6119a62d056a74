//! Asking a person for a secret: without echo on a terminal, else one line
//! of standard input (so `printf '%s\n' "$PW" "$CODE" | latchctl login …`
//! works in a script). Prompts go to the terminal or stderr, never stdout.
//!
//! These block the thread, which is fine here: latchctl runs one task on a
//! current-thread runtime and nothing else waits meanwhile.

use std::{
    io::{BufRead, IsTerminal},
    path::Path,
};

use crate::failure::Failure;

/// The password from `file` (its first line), else asked for.
pub(crate) fn password(file: Option<&Path>) -> Result<String, Failure> {
    let password = match file {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| Failure::usage(format!("cannot read {}: {e}", path.display())))?
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned(),
        None => secret("Password: ")?,
    };
    if password.is_empty() {
        return Err(Failure::usage("the password is empty"));
    }
    Ok(password)
}

/// A TOTP code or a recovery code, asked for.
pub(crate) fn second_factor_code() -> Result<String, Failure> {
    let code = secret("Second factor (TOTP code, or a recovery code): ")?;
    let code = code.trim().to_owned();
    if code.is_empty() {
        return Err(Failure::usage("no second-factor code given"));
    }
    Ok(code)
}

/// Whether to go on with something that cannot be undone: on a terminal,
/// the person types `yes`; elsewhere only `--yes` says so.
pub(crate) fn confirm(question: &str) -> Result<bool, Failure> {
    if !std::io::stdin().is_terminal() {
        return Err(Failure::usage(
            "refusing without --yes: standard input is not a terminal to ask on",
        ));
    }
    eprint!("{question} Type yes to go on: ");
    Ok(read_line()?.trim() == "yes")
}

fn secret(prompt: &str) -> Result<String, Failure> {
    if std::io::stdin().is_terminal() {
        rpassword::prompt_password(prompt)
            .map_err(|e| Failure::usage(format!("cannot read from the terminal: {e}")))
    } else {
        read_line()
    }
}

/// One line of standard input without its line ending; end of input is a
/// usage error (nothing was given).
fn read_line() -> Result<String, Failure> {
    let mut line = String::new();
    let read = std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Failure::usage(format!("cannot read standard input: {e}")))?;
    if read == 0 {
        return Err(Failure::usage(
            "standard input ended before the secret: give --password-file, or a line per prompt",
        ));
    }
    Ok(line.trim_end_matches(['\n', '\r']).to_owned())
}
