use std::collections::HashMap;

/// Who may call an RPC (API.md's caller classes). Admin access is a user
/// whose roles grant the permission the handler names; the handler checks
/// ownership-or-permission with [`super::Caller::authorize_for`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone.
    Public,
    /// A valid access token whose session is live.
    User,
    /// A user (as above) or a Latch service holding the credential.
    UserOrInternal,
    /// A Latch service holding the credential.
    Internal,
}

/// The caller class of every RPC of one gRPC service, written once beside
/// its handlers.
#[derive(Debug, Clone, Copy)]
pub struct ServicePolicy {
    /// Full service name, e.g. `latch.token.v1.TokenService`.
    pub service: &'static str,
    pub methods: &'static [(&'static str, Access)],
}

/// All policies served by one server, by request path.
#[derive(Debug, Clone, Default)]
pub struct PolicyTable {
    methods: HashMap<String, Access>,
    services: Vec<&'static str>,
}

impl PolicyTable {
    pub fn new(policies: &[ServicePolicy]) -> Self {
        let mut table = Self::default();
        for policy in policies {
            table.services.push(policy.service);
            for (method, access) in policy.methods {
                table
                    .methods
                    .insert(format!("/{}/{}", policy.service, method), *access);
            }
        }
        table
    }

    /// `None` for paths outside Latch's services (health, reflection), which
    /// are open. A Latch method missing from its policy is internal: closed
    /// by default.
    pub fn access(&self, path: &str) -> Option<Access> {
        if let Some(access) = self.methods.get(path) {
            return Some(*access);
        }
        let service = path.trim_start_matches('/').split('/').next().unwrap_or("");
        self.services.contains(&service).then_some(Access::Internal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: ServicePolicy = ServicePolicy {
        service: "latch.x.v1.X",
        methods: &[("Open", Access::Public), ("Mine", Access::User)],
    };

    #[test]
    fn lookup_is_by_path_and_closed_by_default() {
        let table = PolicyTable::new(&[POLICY]);
        assert_eq!(table.access("/latch.x.v1.X/Open"), Some(Access::Public));
        assert_eq!(table.access("/latch.x.v1.X/Mine"), Some(Access::User));
        assert_eq!(
            table.access("/latch.x.v1.X/Forgotten"),
            Some(Access::Internal)
        );
        assert_eq!(table.access("/grpc.health.v1.Health/Check"), None);
    }
}
