//! The providers' configuration: a TOML file named by
//! `LATCH_OAUTH_PROVIDERS`, read once at start into typed values; any bad
//! value stops the start with the provider and field named (never a
//! secret's value). No file: no providers (every StartOAuth is refused).
//!
//! ```toml
//! [[provider]]
//! name = "google"              # 1-64 of a-z 0-9 - _, unique
//! kind = "google"              # "oidc", "google", "github" or "apple"
//! issuer = "https://accounts.google.com"  # optional for google (this default)
//! client_id = "..."
//! client_secret_file = "/run/secrets/google"  # or client_secret = "..."
//! scopes = ["email", "profile"]  # "openid" is always asked; this is the default
//! redirect_uris = ["https://app.example.com/oauth/callback"]
//! hd = "example.com"           # google only: only accounts of this Workspace domain
//!
//! [[provider]]
//! name = "github"
//! kind = "github"              # OAuth 2.0, no ID token and no issuer
//! client_id = "..."
//! client_secret_file = "/run/secrets/github"
//! scopes = ["read:user", "user:email"]  # the default for github
//! redirect_uris = ["https://app.example.com/oauth/callback"]
//! # github only, for GitHub Enterprise Server or a test stand-in; these are
//! # the defaults (github.com's):
//! authorization_url = "https://github.com/login/oauth/authorize"
//! token_url = "https://github.com/login/oauth/access_token"
//! api_url = "https://api.github.com"
//!
//! [[provider]]
//! name = "apple"
//! kind = "apple"               # Sign in with Apple: no client_secret
//! client_id = "com.example.web"  # the Services ID
//! team_id = "ABCDE12345"       # apple only: the developer team's id
//! key_id = "KEY1234567"        # apple only: the Sign in with Apple key's id
//! private_key_file = "/run/secrets/apple.p8"  # apple only: that key (PKCS#8 PEM)
//! scopes = ["name", "email"]   # the default for apple
//! redirect_uris = ["https://app.example.com/oauth/apple"]  # gets a form POST
//! # issuer = "https://appleid.apple.com"  # the default; a stand-in's in tests
//! ```
//!
//! URLs must be https, except an http issuer, endpoint or redirect URI on a
//! loopback host (`127.0.0.1`, `::1`, `localhost`), for tests and local
//! development.

use std::collections::HashSet;

use latch_domain::{Error, Result, secret::Secret};
use latch_runtime::config::ConfigSource;
use openidconnect::url::{Host, Url};
use serde::Deserialize;

use super::apple::{AppleKey, SigningKey};

pub(crate) const PROVIDERS_KEY: &str = "LATCH_OAUTH_PROVIDERS";
const GOOGLE_ISSUER: &str = "https://accounts.google.com";
const DEFAULT_SCOPES: [&str; 2] = ["email", "profile"];
const APPLE_ISSUER: &str = "https://appleid.apple.com";
const APPLE_SCOPES: [&str; 2] = ["name", "email"];
const GITHUB_SCOPES: [&str; 2] = ["read:user", "user:email"];
const GITHUB_AUTHORIZATION_URL: &str = "https://github.com/login/oauth/authorize";
const GITHUB_TOKEN_URL: &str = "https://github.com/login/oauth/access_token";
const GITHUB_API_URL: &str = "https://api.github.com";
const NAME_MAX: usize = 64;

/// A provider's kind: what its ID tokens look like and what it allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    Oidc,
    Google,
    /// OAuth 2.0 without ID tokens: the user is read from GitHub's API.
    GitHub,
    /// Sign in with Apple: OpenID Connect whose client secret is a JWT
    /// signed with the team's key, and whose return is a form POST.
    Apple,
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
    /// GitHub's endpoints (kind `github` only, which has no issuer: its
    /// `issuer` is empty).
    pub github: Option<GitHubEndpoints>,
    /// The team's key the client secret is made with (kind `apple` only;
    /// its `client_secret` is empty).
    pub apple: Option<AppleKey>,
}

/// Where a `github` provider is reached: github.com's by default; a GitHub
/// Enterprise server's, or a stand-in's in tests, when configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitHubEndpoints {
    pub authorization_url: String,
    pub token_url: String,
    /// The REST API's base (`/user`, `/user/emails` below it), no trailing slash.
    pub api_url: String,
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
    authorization_url: Option<String>,
    token_url: Option<String>,
    api_url: Option<String>,
    team_id: Option<String>,
    key_id: Option<String>,
    private_key_file: Option<String>,
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
        "github" => ProviderKind::GitHub,
        "apple" => ProviderKind::Apple,
        other => {
            return Err(field(
                "kind",
                &format!("{other:?} is not \"oidc\", \"google\", \"github\" or \"apple\""),
            ));
        }
    };
    let issuer = match (raw.issuer, kind) {
        // OAuth 2.0 only: no ID token, so no issuer to check it against.
        (Some(_), ProviderKind::GitHub) => {
            return Err(field("issuer", "is not for kind \"github\" (it has none)"));
        }
        (None, ProviderKind::GitHub) => String::new(),
        (Some(issuer), _) => issuer,
        (None, ProviderKind::Google) => GOOGLE_ISSUER.to_owned(),
        (None, ProviderKind::Apple) => APPLE_ISSUER.to_owned(),
        (None, ProviderKind::Oidc) => return Err(field("issuer", "is required")),
    };
    if kind != ProviderKind::GitHub {
        secure_url(&issuer).map_err(|why| field("issuer", why))?;
    }
    if raw.client_id.trim().is_empty() {
        return Err(field("client_id", "is required"));
    }
    let apple = apple_key(
        kind,
        [raw.team_id, raw.key_id, raw.private_key_file],
        read,
        &field,
    )?;
    let client_secret = match (raw.client_secret, raw.client_secret_file) {
        // Apple's secret is made from the key, fresh (see `apple`).
        (None, None) if kind == ProviderKind::Apple => String::new(),
        _ if kind == ProviderKind::Apple => {
            return Err(field(
                "client_secret",
                "is not for kind \"apple\" (its secret is made from private_key_file)",
            ));
        }
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
    if client_secret.is_empty() && kind != ProviderKind::Apple {
        return Err(field("client_secret", "is empty"));
    }
    let default_scopes: &[&str] = match kind {
        ProviderKind::GitHub => &GITHUB_SCOPES,
        ProviderKind::Apple => &APPLE_SCOPES,
        _ => &DEFAULT_SCOPES,
    };
    let scopes: Vec<String> = raw
        .scopes
        .unwrap_or_else(|| default_scopes.iter().map(|s| (*s).to_owned()).collect())
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
        (Some(_), _) => {
            return Err(field("hd", "is for kind \"google\" only"));
        }
    };
    let github = github_endpoints(
        kind,
        [raw.authorization_url, raw.token_url, raw.api_url],
        &field,
    )?;
    Ok(ProviderConfig {
        name,
        kind,
        issuer,
        client_id: raw.client_id,
        client_secret: Secret::new(client_secret),
        scopes,
        redirect_uris: raw.redirect_uris,
        hd,
        github,
        apple,
    })
}

/// A `github` provider's endpoints, each as configured or github.com's;
/// none may be set for another kind.
fn github_endpoints(
    kind: ProviderKind,
    [authorization, token, api]: [Option<String>; 3],
    field: &dyn Fn(&str, &str) -> Error,
) -> Result<Option<GitHubEndpoints>> {
    if kind != ProviderKind::GitHub {
        for (name, value) in [
            ("authorization_url", &authorization),
            ("token_url", &token),
            ("api_url", &api),
        ] {
            if value.is_some() {
                return Err(field(name, "is for kind \"github\" only"));
            }
        }
        return Ok(None);
    }
    let endpoint = |name: &str, value: Option<String>, default: &str| {
        let value = value.unwrap_or_else(|| default.to_owned());
        let url = secure_url(&value).map_err(|why| field(name, why))?;
        if url.query().is_some() || url.fragment().is_some() {
            return Err(field(name, "may not have a query or fragment"));
        }
        Ok(value)
    };
    Ok(Some(GitHubEndpoints {
        authorization_url: endpoint("authorization_url", authorization, GITHUB_AUTHORIZATION_URL)?,
        token_url: endpoint("token_url", token, GITHUB_TOKEN_URL)?,
        api_url: endpoint("api_url", api, GITHUB_API_URL)?
            .trim_end_matches('/')
            .to_owned(),
    }))
}

/// An `apple` provider's team id, key id and key (read from its file and
/// tried once: a key that cannot sign stops the start, never quoted);
/// none may be set for another kind.
fn apple_key(
    kind: ProviderKind,
    [team_id, key_id, key_file]: [Option<String>; 3],
    read: &dyn Fn(&str) -> std::io::Result<String>,
    field: &dyn Fn(&str, &str) -> Error,
) -> Result<Option<AppleKey>> {
    if kind != ProviderKind::Apple {
        for (name, value) in [
            ("team_id", &team_id),
            ("key_id", &key_id),
            ("private_key_file", &key_file),
        ] {
            if value.is_some() {
                return Err(field(name, "is for kind \"apple\" only"));
            }
        }
        return Ok(None);
    }
    // Apple's ids are ten letters and digits; a little room, no more.
    let id = |name: &str, value: Option<String>| match value {
        Some(v)
            if !v.is_empty() && v.len() <= 64 && v.chars().all(|c| c.is_ascii_alphanumeric()) =>
        {
            Ok(v)
        }
        Some(_) => Err(field(name, "must be 1-64 letters and digits")),
        None => Err(field(name, "is required for kind \"apple\"")),
    };
    let team_id = id("team_id", team_id)?;
    let key_id = id("key_id", key_id)?;
    let Some(file) = key_file else {
        return Err(field("private_key_file", "is required for kind \"apple\""));
    };
    let pem = Secret::new(
        read(&file).map_err(|err| field("private_key_file", &format!("cannot be read: {err}")))?,
    );
    let key = SigningKey::from_pem(pem.expose()).map_err(|why| field("private_key_file", why))?;
    Ok(Some(AppleKey {
        team_id,
        key_id,
        key,
    }))
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
