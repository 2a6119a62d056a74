//! The relying party passkeys are bound to, read once at start.
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `LATCH_WEBAUTHN_RP_ID` | `localhost` | the RP id: the domain passkeys belong to; changing it orphans every registered passkey |
//! | `LATCH_WEBAUTHN_RP_NAME` | `Latch` | the name an authenticator shows; 1 to 64 printable characters |
//! | `LATCH_WEBAUTHN_ORIGINS` | for `localhost`: `http://localhost:3000,http://localhost:5173,http://localhost:8080`; else `https://<rp id>` | the web origins (scheme, host, port) whose pages may run the ceremonies, comma separated |
//!
//! Each origin must be the RP id or a subdomain of it and is matched
//! exactly (scheme, host and port, as the browser reports it in
//! `clientDataJSON`); plain `http` is accepted only for `localhost` (and
//! names below it), which browsers treat as a secure context. A value that
//! breaks a rule stops the start, naming the key.

use latch_domain::{Error, Result};
use latch_runtime::config::ConfigSource;
use webauthn_rs::prelude::{Url, Webauthn, WebauthnBuilder, WebauthnError};

const RP_ID: &str = "LATCH_WEBAUTHN_RP_ID";
const RP_NAME: &str = "LATCH_WEBAUTHN_RP_NAME";
const ORIGINS: &str = "LATCH_WEBAUTHN_ORIGINS";

/// The RP id of local development: browsers allow WebAuthn on
/// `http://localhost` (any port) without TLS.
const LOCALHOST: &str = "localhost";
/// Where a local front end usually runs: a Node dev server, Vite, and
/// latchd's own HTTP port.
const LOCAL_ORIGINS: &[&str] = &[
    "http://localhost:3000",
    "http://localhost:5173",
    "http://localhost:8080",
];
const RP_NAME_MAX: usize = 64;
/// More than any deployment serves its sign-in pages from.
const ORIGINS_MAX: usize = 32;

/// The relying party: its id, its display name and the origins allowed to
/// run a ceremony.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeySettings {
    rp_id: String,
    rp_name: String,
    origins: Vec<Url>,
}

impl Default for PasskeySettings {
    /// `localhost`, for local development: the usual dev-server origins.
    fn default() -> Self {
        Self {
            rp_id: LOCALHOST.to_owned(),
            rp_name: "Latch".to_owned(),
            origins: LOCAL_ORIGINS
                .iter()
                .filter_map(|o| Url::parse(o).ok())
                .collect(),
        }
    }
}

impl PasskeySettings {
    /// Reads the keys of the table above; a value that breaks a rule stops
    /// the start with a message naming the key.
    pub fn from_source(source: &dyn ConfigSource) -> Result<Self> {
        let rp_id = source.get(RP_ID);
        let rp_name = source.get(RP_NAME);
        let origins = source.get(ORIGINS);
        Self::new(
            rp_id.as_deref().unwrap_or(LOCALHOST),
            rp_name.as_deref().unwrap_or("Latch"),
            origins.as_deref(),
        )
    }

    /// Checks and builds the settings; `origins` is the comma-separated
    /// list, `None` for the default of `rp_id`.
    pub fn new(rp_id: &str, rp_name: &str, origins: Option<&str>) -> Result<Self> {
        let rp_id = rp_id_of(rp_id)?;
        let rp_name = rp_name_of(rp_name)?;
        let origins = match origins {
            Some(list) => origins_of(&rp_id, list)?,
            None if rp_id == LOCALHOST => Self::default().origins,
            None => origins_of(&rp_id, &format!("https://{rp_id}"))?,
        };
        let settings = Self {
            rp_id,
            rp_name,
            origins,
        };
        // Whatever the library would refuse later, refused now.
        settings.webauthn()?;
        Ok(settings)
    }

    pub fn rp_id(&self) -> &str {
        &self.rp_id
    }

    pub fn rp_name(&self) -> &str {
        &self.rp_name
    }

    /// The allowed origins, in the form the browser reports them.
    pub fn origins(&self) -> impl Iterator<Item = String> + '_ {
        self.origins
            .iter()
            .map(|o| o.origin().ascii_serialization())
    }

    /// The webauthn-rs relying party. Built per ceremony (a hash of the RP
    /// id and a few copies): the settings are checked once, at start.
    pub(crate) fn webauthn(&self) -> Result<Webauthn> {
        let refused =
            |e: WebauthnError| Error::internal_msg(format!("{RP_ID} / {ORIGINS}: refused ({e})"));
        let (first, rest) = self
            .origins
            .split_first()
            .ok_or_else(|| Error::internal_msg(format!("{ORIGINS}: at least one is required")))?;
        let mut builder = WebauthnBuilder::new(&self.rp_id, first)
            .map_err(refused)?
            .rp_name(&self.rp_name);
        for origin in rest {
            builder = builder.append_allowed_origin(origin);
        }
        builder.build().map_err(refused)
    }
}

/// A registrable-looking domain name: no scheme, port, path or IP address
/// (WebAuthn binds credentials to a domain, never an address).
fn rp_id_of(raw: &str) -> Result<String> {
    let rp_id = raw.trim().to_owned();
    let parsed = Url::parse(&format!("https://{rp_id}/")).ok();
    let domain = parsed.as_ref().and_then(|u| u.domain());
    let plain = parsed
        .as_ref()
        .is_some_and(|u| u.port().is_none() && u.path() == "/" && u.username().is_empty());
    if rp_id.is_empty() || domain != Some(rp_id.as_str()) || !plain || rp_id.ends_with('.') {
        return Err(Error::internal_msg(format!(
            "{RP_ID}: {raw:?} is not a domain name in lower case (no scheme, port, path or IP address), e.g. example.com"
        )));
    }
    Ok(rp_id)
}

fn rp_name_of(raw: &str) -> Result<String> {
    let name = raw.trim();
    let chars = name.chars().count();
    if chars == 0 || chars > RP_NAME_MAX || name.chars().any(char::is_control) {
        return Err(Error::internal_msg(format!(
            "{RP_NAME}: must be 1 to {RP_NAME_MAX} printable characters"
        )));
    }
    Ok(name.to_owned())
}

fn origins_of(rp_id: &str, list: &str) -> Result<Vec<Url>> {
    let mut origins: Vec<Url> = Vec::new();
    for raw in list.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        let origin = origin_of(rp_id, raw)?;
        if !origins.contains(&origin) {
            origins.push(origin);
        }
    }
    if origins.is_empty() || origins.len() > ORIGINS_MAX {
        return Err(Error::internal_msg(format!(
            "{ORIGINS}: 1 to {ORIGINS_MAX} origins, comma separated (https://app.example.com)"
        )));
    }
    Ok(origins)
}

/// One origin: `scheme://host[:port]`, on the RP id or below it, https
/// unless on localhost.
fn origin_of(rp_id: &str, raw: &str) -> Result<Url> {
    let bad = |why: &str| Error::internal_msg(format!("{ORIGINS}: {raw:?} {why}"));
    let url = Url::parse(raw).map_err(|_| bad("is not a URL like https://app.example.com"))?;
    if url.path() != "/"
        || url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return Err(bad(
            "must be an origin only: scheme, host and port, no path",
        ));
    }
    let Some(host) = url.domain() else {
        return Err(bad(
            "must name a host by domain (WebAuthn does not run on IP addresses)",
        ));
    };
    if host != rp_id && !host.ends_with(&format!(".{rp_id}")) {
        return Err(bad(&format!(
            "is not on the RP id {rp_id:?} or a subdomain of it (set {RP_ID} to the domain the origins share)"
        )));
    }
    let local = host == LOCALHOST || host.ends_with(".localhost");
    match url.scheme() {
        "https" => {}
        "http" if local => {}
        "http" => return Err(bad("must use https (plain http only for localhost)")),
        _ => return Err(bad("must be an https origin")),
    }
    Ok(url)
}

#[cfg(test)]
mod tests;
