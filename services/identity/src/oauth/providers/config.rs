//! The providers' configuration: a TOML file named by
//! `LATCH_OAUTH_PROVIDERS`, read once at start into typed values; any bad
//! value stops the start with the provider and field named (never a
//! secret's value). No file: no providers (every StartOAuth is refused).
//!
//! ```toml
//! [[provider]]
//! name = "google"              # 1-64 of a-z 0-9 - _, unique
//! kind = "google"              # "oidc" or "google" ("github", "apple": not yet)
//! issuer = "https://accounts.google.com"  # optional for google (this default)
//! client_id = "..."
//! client_secret_file = "/run/secrets/google"  # or client_secret = "..."
//! scopes = ["email", "profile"]  # "openid" is always asked; this is the default
//! redirect_uris = ["https://app.example.com/oauth/callback"]
//! hd = "example.com"           # google only: only accounts of this Workspace domain
//! ```
//!
//! URLs must be https, except an http issuer or redirect URI on a
//! loopback host (`127.0.0.1`, `::1`, `localhost`), for tests and local
//! development.

use std::collections::HashSet;

use latch_domain::{Error, Result, secret::Secret};
use latch_runtime::config::ConfigSource;
use openidconnect::url::{Host, Url};
use serde::Deserialize;

pub(crate) const PROVIDERS_KEY: &str = "LATCH_OAUTH_PROVIDERS";
const GOOGLE_ISSUER: &str = "https://accounts.google.com";
const DEFAULT_SCOPES: [&str; 2] = ["email", "profile"];
const NAME_MAX: usize = 64;

/// A provider's kind: what its ID tokens look like and what it allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    Oidc,
    Google,
}

/// One configured provider, checked.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    pub name: String,
    pub kind: ProviderKind,
    /// As configured, character for character: the discovery document's
    /// `issuer` and the ID token's `iss` must equal it exactly.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Secret<String>,
    /// Asked besides `openid`.
    pub scopes: Vec<String>,
    pub redirect_uris: Vec<String>,
    /// Google's hosted domain: asked for, and required in the ID token.
    pub hd: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    provider: Vec<RawProvider>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProvider {
    name: String,
    kind: String,
    issuer: Option<String>,
    client_id: String,
    client_secret: Option<String>,
    client_secret_file: Option<String>,
    scopes: Option<Vec<String>>,
    redirect_uris: Vec<String>,
    hd: Option<String>,
}

/// The providers of the file `LATCH_OAUTH_PROVIDERS` names; none when unset.
pub fn from_source(source: &dyn ConfigSource) -> Result<Vec<ProviderConfig>> {
    let Some(path) = source.get(PROVIDERS_KEY) else {
        return Ok(Vec::new());
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|err| bad(format!("{PROVIDERS_KEY}: cannot read {path}: {err}")))?;
    parse(&text, &|file| std::fs::read_to_string(file))
}

/// Parses the file's text; `read` reads a `client_secret_file`.
pub(crate) fn parse(
    text: &str,
    read: &dyn Fn(&str) -> std::io::Result<String>,
) -> Result<Vec<ProviderConfig>> {
    let file: File = toml::from_str(text).map_err(|err| {
        // toml's messages quote the offending line or value, which may be
        // a secret: only the line is told.
        let at = err
            .span()
            .map(|span| {
                let line = text
                    .get(..span.start)
                    .map_or(0, |before| before.lines().count());
                format!(" (line {})", line.max(1))
            })
            .unwrap_or_default();
        bad(format!(
            "{PROVIDERS_KEY}: not a valid providers file{at}: a syntax error, an unknown key \
             or a value of the wrong type"
        ))
    })?;
    let mut names = HashSet::new();
    let mut providers = Vec::with_capacity(file.provider.len());
    for raw in file.provider {
        let provider = check(raw, read)?;
        if !names.insert(provider.name.clone()) {
            return Err(bad(format!(
                "{PROVIDERS_KEY}: provider {} is configured twice",
                provider.name
            )));
        }
        providers.push(provider);
    }
    Ok(providers)
}

fn check(
    raw: RawProvider,
    read: &dyn Fn(&str) -> std::io::Result<String>,
) -> Result<ProviderConfig> {
    let name = raw.name;
    let valid_name = !name.is_empty()
        && name.len() <= NAME_MAX
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !valid_name {
        return Err(bad(format!(
            "{PROVIDERS_KEY}: provider name {name:?} must be 1-{NAME_MAX} of a-z, 0-9, - and _"
        )));
    }
    let field = |f: &str, what: &str| bad(format!("{PROVIDERS_KEY}: provider {name}: {f} {what}"));
    let kind = match raw.kind.as_str() {
        "oidc" => ProviderKind::Oidc,
        "google" => ProviderKind::Google,
        "github" | "apple" => {
            return Err(field(
                "kind",
                &format!(
                    "{:?} is not supported yet (only \"oidc\" and \"google\")",
                    raw.kind
                ),
            ));
        }
        other => {
            return Err(field(
                "kind",
                &format!("{other:?} is not \"oidc\" or \"google\""),
            ));
        }
    };
    let issuer = match (raw.issuer, kind) {
        (Some(issuer), _) => issuer,
        (None, ProviderKind::Google) => GOOGLE_ISSUER.to_owned(),
        (None, ProviderKind::Oidc) => return Err(field("issuer", "is required")),
    };
    secure_url(&issuer).map_err(|why| field("issuer", why))?;
    if raw.client_id.trim().is_empty() {
        return Err(field("client_id", "is required"));
    }
    let client_secret = match (raw.client_secret, raw.client_secret_file) {
        (Some(secret), None) => secret,
        (None, Some(file)) => read(&file)
            .map_err(|err| field("client_secret_file", &format!("cannot be read: {err}")))?
            .trim_end_matches(['\r', '\n'])
            .to_owned(),
        _ => {
            return Err(field(
                "client_secret",
                "or client_secret_file is required (exactly one)",
            ));
        }
    };
    if client_secret.is_empty() {
        return Err(field("client_secret", "is empty"));
    }
    let scopes: Vec<String> = raw
        .scopes
        .unwrap_or_else(|| DEFAULT_SCOPES.map(str::to_owned).to_vec())
        .into_iter()
        .filter(|scope| scope != "openid")
        .collect();
    if let Some(scope) = scopes
        .iter()
        .find(|s| s.is_empty() || s.chars().any(|c| c.is_whitespace() || c.is_control()))
    {
        return Err(field("scopes", &format!("has an invalid scope {scope:?}")));
    }
    if raw.redirect_uris.is_empty() {
        return Err(field("redirect_uris", "needs at least one URI"));
    }
    for uri in &raw.redirect_uris {
        let url = secure_url(uri).map_err(|why| field("redirect_uris", why))?;
        if url.fragment().is_some() {
            return Err(field("redirect_uris", "may not have a fragment"));
        }
    }
    let hd = match (raw.hd, kind) {
        (None, _) => None,
        (Some(hd), ProviderKind::Google) if is_domain(&hd) => Some(hd.to_lowercase()),
        (Some(_), ProviderKind::Google) => return Err(field("hd", "is not a domain name")),
        (Some(_), ProviderKind::Oidc) => {
            return Err(field("hd", "is for kind \"google\" only"));
        }
    };
    Ok(ProviderConfig {
        name,
        kind,
        issuer,
        client_id: raw.client_id,
        client_secret: Secret::new(client_secret),
        scopes,
        redirect_uris: raw.redirect_uris,
        hd,
    })
}

/// An absolute https URL, or http on a loopback host.
fn secure_url(raw: &str) -> std::result::Result<Url, &'static str> {
    let url = Url::parse(raw).map_err(|_| "is not an absolute URL")?;
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(&url) => Ok(url),
        "http" => Err("must be https (http only on 127.0.0.1, ::1 or localhost)"),
        _ => Err("must be an https URL"),
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

fn is_domain(raw: &str) -> bool {
    !raw.is_empty()
        && raw.len() <= 253
        && raw.contains('.')
        && raw.split('.').all(|label| {
            !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

fn bad(message: String) -> Error {
    Error::internal_msg(message)
}

#[cfg(test)]
mod tests;
