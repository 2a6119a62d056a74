//! The template files: one set per [`MessageTemplate`], embedded from
//! `templates/`, each file overridable from `LATCH_TEMPLATE_DIR`.
//!
//! A mail template is `<name>.subject`, `<name>.txt` and `<name>.html`; an
//! SMS template is `<name>.sms.txt`. Variables are strict (a missing value
//! fails the render instead of sending a half-filled message) and `.html`
//! files are HTML-escaped. Every template is compiled and rendered once with
//! sample values at start, so a broken override stops the start instead of
//! failing the first request that needs it.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use latch_domain::{Error, Result, ports::MessageTemplate};
use minijinja::{AutoEscape, Environment, UndefinedBehavior, Value};

/// How a template's message travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Mail,
    Sms,
}

impl Channel {
    /// The channel a template is written for.
    pub fn of(template: MessageTemplate) -> Channel {
        // Exhaustive on purpose: a new template must say how it travels
        // (and get its files, below).
        match template {
            MessageTemplate::PhoneVerification => Channel::Sms,
            MessageTemplate::EmailVerification
            | MessageTemplate::PasswordReset
            | MessageTemplate::PasswordResetDone
            | MessageTemplate::PasswordChanged
            | MessageTemplate::EmailChanged
            | MessageTemplate::SignUpAddressTaken
            | MessageTemplate::NewDevice => Channel::Mail,
        }
    }
}

/// The values a flow always passes to `template` (its doc in the domain),
/// used to render each template once at start.
fn sample_values(template: MessageTemplate) -> &'static [&'static str] {
    match template {
        MessageTemplate::EmailVerification | MessageTemplate::PhoneVerification => {
            &["code", "expires_minutes"]
        }
        MessageTemplate::PasswordReset => &["token", "expires_minutes"],
        MessageTemplate::PasswordResetDone
        | MessageTemplate::PasswordChanged
        | MessageTemplate::SignUpAddressTaken => &[],
        MessageTemplate::EmailChanged => &["new_email"],
        MessageTemplate::NewDevice => &["device", "place", "time"],
    }
}

/// The file names of `template`, in the order subject, text, HTML (mail)
/// or body (SMS).
pub fn template_files(template: MessageTemplate) -> Vec<String> {
    let name = template.name();
    match Channel::of(template) {
        Channel::Mail => vec![
            format!("{name}.subject"),
            format!("{name}.txt"),
            format!("{name}.html"),
        ],
        Channel::Sms => vec![format!("{name}.sms.txt")],
    }
}

macro_rules! embedded {
    ($($file:literal),* $(,)?) => {
        &[$(($file, include_str!(concat!("../templates/", $file))),)*]
    };
}

/// The default of every file.
const EMBEDDED: &[(&str, &str)] = embedded![
    "email_verification.subject",
    "email_verification.txt",
    "email_verification.html",
    "phone_verification.sms.txt",
    "password_reset.subject",
    "password_reset.txt",
    "password_reset.html",
    "password_reset_done.subject",
    "password_reset_done.txt",
    "password_reset_done.html",
    "password_changed.subject",
    "password_changed.txt",
    "password_changed.html",
    "email_changed.subject",
    "email_changed.txt",
    "email_changed.html",
    "sign_up_address_taken.subject",
    "sign_up_address_taken.txt",
    "sign_up_address_taken.html",
    "new_device.subject",
    "new_device.txt",
    "new_device.html",
];

/// Builds the template environment: the embedded files, each replaced by
/// the file of the same name in `dir` when there is one. Blocking (reads
/// the directory): call it at start, off the runtime.
pub(crate) fn load(dir: Option<&Path>) -> Result<Environment<'static>> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".html") {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    let mut known = Vec::new();
    for template in MessageTemplate::ALL {
        for file in template_files(*template) {
            let source = match dir.and_then(|dir| read_override(&dir.join(&file)).transpose()) {
                Some(source) => source?,
                None => embedded(&file)?.to_owned(),
            };
            env.add_template_owned(file.clone(), source)
                .map_err(|e| Error::internal_msg(format!("template {file}: {e}")))?;
            known.push(file);
        }
    }
    if let Some(dir) = dir {
        warn_about_strays(dir, &known)?;
    }
    for template in MessageTemplate::ALL {
        let values: BTreeMap<&str, &str> = sample_values(*template)
            .iter()
            .map(|key| (*key, "sample"))
            .collect();
        for file in template_files(*template) {
            render(&env, &file, Value::from(values.clone()))?;
        }
    }
    Ok(env)
}

/// Renders `file` with `values`. A template error (an undefined value
/// above all) is a bug of the caller or the override: `INTERNAL`, naming
/// the file and what is wrong, never a value.
pub(crate) fn render(env: &Environment<'static>, file: &str, values: Value) -> Result<String> {
    env.get_template(file)
        .and_then(|template| template.render(values))
        .map_err(|e| Error::internal_msg(format!("template {file}: {}", describe(&e))))
}

/// The error's kind, line and detail, without minijinja's display of the
/// surrounding template and context: enough for a log, and never a value.
fn describe(error: &minijinja::Error) -> String {
    let mut text = format!("{:?}", error.kind());
    if let Some(line) = error.line() {
        text.push_str(&format!(" at line {line}"));
    }
    if let Some(detail) = error.detail() {
        text.push_str(&format!(": {detail}"));
    }
    text
}

fn embedded(file: &str) -> Result<&'static str> {
    EMBEDDED
        .iter()
        .find(|(name, _)| *name == file)
        .map(|(_, source)| *source)
        .ok_or_else(|| Error::internal_msg(format!("no embedded template {file}")))
}

/// The override at `path`, or `None` when there is none.
fn read_override(path: &Path) -> Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(source) => {
            tracing::info!(path = %path.display(), "template overridden");
            Ok(Some(source))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::internal_msg(format!(
            "LATCH_TEMPLATE_DIR: cannot read {}: {e}",
            path.display()
        ))),
    }
}

/// A file in the override directory that overrides nothing is most likely
/// a misspelt name: say so, once, at start.
fn warn_about_strays(dir: &Path, known: &[String]) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        Error::internal_msg(format!(
            "LATCH_TEMPLATE_DIR: cannot read {}: {e}",
            dir.display()
        ))
    })?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !known.iter().any(|k| k == name.as_ref()) {
            let path: PathBuf = entry.path();
            tracing::warn!(path = %path.display(), "LATCH_TEMPLATE_DIR: this file overrides no template");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn every_template_has_its_embedded_files() {
        for template in MessageTemplate::ALL {
            for file in template_files(*template) {
                assert!(embedded(&file).is_ok(), "{file}");
            }
        }
        assert_eq!(
            EMBEDDED.len(),
            MessageTemplate::ALL
                .iter()
                .map(|t| template_files(*t).len())
                .sum::<usize>(),
            "an embedded file belongs to no template"
        );
    }
}
