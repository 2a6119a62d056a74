//! Service accounts: every machine caller that is not Latch itself (a
//! gateway, a backend service), each named, with the SHA-256 of its secret
//! and the RPCs it may call. Read once at start from the TOML file named by
//! `LATCH_SERVICE_ACCOUNTS`:
//!
//! ```toml
//! [[account]]
//! name = "edge-gateway"
//! # hex SHA-256 of the 256-bit secret; a second hash during a rotation
//! secret_sha256 = ["9f86d0…"]
//! # the client information it forwards (ClientInfo) is believed
//! forward_client_info = true
//! rpcs = ["latch.identity.v1.IdentityService/Login"]
//! ```
//!
//! Presented as `x-latch-service-account: <name>.<secret>`.

use std::collections::{HashMap, HashSet};

use latch_domain::{
    Error, Reason, Result,
    secret::{constant_time_eq, random_token, sha256},
};
use serde::Deserialize;

use super::PolicyTable;
use crate::config::ConfigSource;

/// The setting naming the accounts file.
pub const SERVICE_ACCOUNTS: &str = "LATCH_SERVICE_ACCOUNTS";
/// Secrets shorter than this are refused unread: a 256-bit secret is 43
/// characters in base64url and 64 in hex.
pub const MIN_SECRET_CHARS: usize = 32;
/// How many secrets an account holds at once: the current one, and the
/// next one during a rotation.
const MAX_SECRETS: usize = 2;
const MAX_NAME_CHARS: usize = 64;

/// One named machine caller.
#[derive(Clone)]
pub struct ServiceAccount {
    name: String,
    secret_hashes: Vec<[u8; 32]>,
    forwards_client_info: bool,
    /// Request paths, `/package.Service/Method`.
    rpcs: HashSet<String>,
}

impl std::fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("name", &self.name)
            .field("forwards_client_info", &self.forwards_client_info)
            .field("rpcs", &self.rpcs.len())
            .finish_non_exhaustive()
    }
}

impl ServiceAccount {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A gateway: the `ClientInfo` it forwards is believed.
    pub fn forwards_client_info(&self) -> bool {
        self.forwards_client_info
    }

    /// Whether `path` is on the account's list.
    pub fn may_call(&self, path: &str) -> bool {
        self.rpcs.contains(path)
    }
}

/// Every service account this server accepts.
#[derive(Debug, Clone, Default)]
pub struct ServiceAccounts {
    by_name: HashMap<String, ServiceAccount>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    account: Vec<AccountEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountEntry {
    name: String,
    secret_sha256: Vec<String>,
    #[serde(default)]
    forward_client_info: bool,
    rpcs: Vec<String>,
}

impl ServiceAccounts {
    /// No accounts: only users and Latch's own services get in.
    pub fn none() -> Self {
        Self::default()
    }

    /// The accounts of the file named by `LATCH_SERVICE_ACCOUNTS`, none
    /// when it is unset. Read at start, before serving.
    pub fn from_source(source: &dyn ConfigSource) -> Result<Self> {
        let Some(path) = source.get(SERVICE_ACCOUNTS) else {
            return Ok(Self::none());
        };
        let text = std::fs::read_to_string(&path)
            .map_err(|e| start_error(format!("cannot read {SERVICE_ACCOUNTS} ({path}): {e}")))?;
        Self::parse(&text)
    }

    /// Parses and checks the TOML form; a mistake stops the start with a
    /// message naming the account.
    pub fn parse(text: &str) -> Result<Self> {
        let file: File = toml::from_str(text)
            .map_err(|e| start_error(format!("{SERVICE_ACCOUNTS}: {}", e.message())))?;
        let mut by_name = HashMap::new();
        for entry in file.account {
            let account = entry.into_account()?;
            if by_name.contains_key(&account.name) {
                return Err(start_error(format!(
                    "{SERVICE_ACCOUNTS}: account {:?} is listed twice",
                    account.name
                )));
            }
            by_name.insert(account.name.clone(), account);
        }
        Ok(Self { by_name })
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// The account a `<name>.<secret>` credential proves, or
    /// `CREDENTIAL_INVALID`. The secret is compared, in constant time,
    /// with every hash the account holds.
    pub fn authenticate(&self, credential: &str) -> Result<&ServiceAccount> {
        let invalid = || {
            Error::new(
                Reason::CredentialInvalid,
                "invalid service account credential",
            )
        };
        let (name, secret) = credential.trim().split_once('.').ok_or_else(invalid)?;
        if secret.len() < MIN_SECRET_CHARS {
            return Err(invalid());
        }
        let account = self.by_name.get(name).ok_or_else(invalid)?;
        let presented = sha256(secret);
        let matched = account
            .secret_hashes
            .iter()
            .fold(false, |hit, hash| constant_time_eq(hash, &presented) | hit);
        if matched { Ok(account) } else { Err(invalid()) }
    }

    /// Holds every grant to the classes of the RPCs this server serves: an
    /// unknown RPC, one only Latch may call, or a non-public one on a
    /// gateway stops the start. Grants on services served elsewhere are
    /// checked by the binaries serving them.
    pub fn check_against(&self, table: &PolicyTable) -> Result<()> {
        for account in self.by_name.values() {
            for path in &account.rpcs {
                let service = path.trim_start_matches('/').split('/').next().unwrap_or("");
                if !table.serves(service) {
                    continue;
                }
                let refuse = |why: &str| {
                    Err(start_error(format!(
                        "{SERVICE_ACCOUNTS}: account {:?} cannot be granted {path}: {why}",
                        account.name
                    )))
                };
                match table.access(path) {
                    None => return refuse("no such RPC"),
                    Some(access) if !access.grantable() => {
                        return refuse("only Latch's own services may call it");
                    }
                    Some(access) if account.forwards_client_info && !access.is_public() => {
                        return refuse("a gateway (forward_client_info) calls only public RPCs");
                    }
                    Some(_) => {}
                }
            }
        }
        Ok(())
    }
}

impl AccountEntry {
    fn into_account(self) -> Result<ServiceAccount> {
        let name = self.name;
        let refuse =
            |why: String| start_error(format!("{SERVICE_ACCOUNTS}: account {name:?}: {why}"));
        let name_ok = !name.is_empty()
            && name.len() <= MAX_NAME_CHARS
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !name_ok {
            return Err(refuse(format!(
                "a name is 1 to {MAX_NAME_CHARS} of A-Z a-z 0-9 - _"
            )));
        }
        if self.secret_sha256.is_empty() || self.secret_sha256.len() > MAX_SECRETS {
            return Err(refuse(format!(
                "secret_sha256 holds one hash, or two during a rotation (got {})",
                self.secret_sha256.len()
            )));
        }
        let secret_hashes = self
            .secret_sha256
            .iter()
            .map(|h| {
                let bytes = hex::decode(h.trim()).ok();
                bytes
                    .and_then(|b| <[u8; 32]>::try_from(b).ok())
                    .ok_or_else(|| refuse("secret_sha256 entries are 64 hex digits".into()))
            })
            .collect::<Result<Vec<_>>>()?;
        if self.rpcs.is_empty() {
            return Err(refuse(
                "rpcs lists none: an account with no RPCs has no use".into(),
            ));
        }
        let rpcs = self
            .rpcs
            .iter()
            .map(|rpc| {
                let rpc = rpc.trim().trim_start_matches('/');
                match rpc.split_once('/') {
                    Some((service, method))
                        if service.contains('.') && !method.is_empty() && !method.contains('/') =>
                    {
                        Ok(format!("/{rpc}"))
                    }
                    _ => Err(refuse(format!("{rpc:?} is not `package.Service/Method`"))),
                }
            })
            .collect::<Result<HashSet<_>>>()?;
        Ok(ServiceAccount {
            name: name.clone(),
            secret_hashes,
            forwards_client_info: self.forward_client_info,
            rpcs,
        })
    }
}

/// A fresh account named `name`: the credential to hand its caller once
/// (`<name>.<secret>`, 256 random bits) and the TOML stanza that holds only
/// its hash, with an empty RPC list for the operator to fill.
pub fn new_account(name: &str) -> Result<(String, String)> {
    AccountEntry {
        name: name.to_owned(),
        secret_sha256: vec![hex::encode([0; 32])],
        forward_client_info: false,
        rpcs: vec!["p.S/M".to_owned()],
    }
    .into_account()?;
    let secret = random_token(32)?;
    let stanza = format!(
        "[[account]]\nname = \"{name}\"\nsecret_sha256 = [\"{}\"]\n\
         # true for a gateway (public RPCs only, its ClientInfo believed)\n\
         forward_client_info = false\n\
         # full names, e.g. \"latch.authorization.v1.AuthorizationService/Check\"\n\
         rpcs = []\n",
        hex::encode(sha256(&secret))
    );
    Ok((format!("{name}.{secret}"), stanza))
}

fn start_error(message: String) -> Error {
    Error::internal_msg(message)
}

#[cfg(test)]
mod tests;
