//! Every machine caller a server lets in: Latch's own services (the
//! service token) and the service accounts.

use latch_domain::{
    Error, Result,
    secret::{Secret, constant_time_eq},
};

use super::ServiceAccounts;
use crate::config::ConfigSource;

/// A second accepted value of `LATCH_SERVICE_TOKEN`, for rotating it
/// without a window in which siblings refuse each other.
pub const SERVICE_TOKEN_ACCEPT: &str = "LATCH_SERVICE_TOKEN_ACCEPT";

/// The credentials a server accepts from machines.
#[derive(Debug, Clone)]
pub struct MachineCallers {
    /// What Latch's own services send, then at most one more value that is
    /// accepted during a rotation.
    service_tokens: Vec<Secret<String>>,
    accounts: ServiceAccounts,
}

impl MachineCallers {
    /// `service_token` (what this binary sends its siblings), the value of
    /// `LATCH_SERVICE_TOKEN_ACCEPT` when set, and the accounts of
    /// `LATCH_SERVICE_ACCOUNTS`.
    pub fn from_source(source: &dyn ConfigSource, service_token: &Secret<String>) -> Result<Self> {
        let mut service_tokens = vec![service_token.clone()];
        if let Some(also) = source.get(SERVICE_TOKEN_ACCEPT) {
            if also.len() < 32 {
                return Err(Error::internal_msg(format!(
                    "{SERVICE_TOKEN_ACCEPT} must be at least 32 characters"
                )));
            }
            service_tokens.push(Secret::new(also));
        }
        Ok(Self {
            service_tokens,
            accounts: ServiceAccounts::from_source(source)?,
        })
    }

    /// Only Latch's own services, no accounts.
    pub fn latch_only(service_token: Secret<String>) -> Self {
        Self {
            service_tokens: vec![service_token],
            accounts: ServiceAccounts::none(),
        }
    }

    pub fn with_accounts(mut self, accounts: ServiceAccounts) -> Self {
        self.accounts = accounts;
        self
    }

    /// Whether `presented` is an accepted service token; every value is
    /// compared, in constant time.
    pub fn is_latch(&self, presented: &str) -> bool {
        self.service_tokens.iter().fold(false, |hit, token| {
            constant_time_eq(presented.as_bytes(), token.expose().as_bytes()) | hit
        })
    }

    pub fn accounts(&self) -> &ServiceAccounts {
        &self.accounts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MapSource;

    #[test]
    fn a_second_token_is_accepted_during_a_rotation() {
        let current = Secret::new("c".repeat(40));
        let only = MachineCallers::from_source(&MapSource::new(), &current).unwrap();
        assert!(only.is_latch(&"c".repeat(40)));
        assert!(!only.is_latch(&"n".repeat(40)));

        let source = MapSource::new().with(SERVICE_TOKEN_ACCEPT, "n".repeat(40));
        let rotating = MachineCallers::from_source(&source, &current).unwrap();
        assert!(rotating.is_latch(&"c".repeat(40)));
        assert!(rotating.is_latch(&"n".repeat(40)));
        assert!(!rotating.is_latch(&"c".repeat(39)));

        let short = MapSource::new().with(SERVICE_TOKEN_ACCEPT, "short");
        assert!(MachineCallers::from_source(&short, &current).is_err());
    }
}
