use std::collections::HashMap;

use latch_domain::Result;

use super::{RateGroup, Rule, request_field};

/// Who may call an RPC (API.md's caller classes). What a user caller must
/// also hold is the RPC's [`Rule`], beside it in the same policy entry.
///
/// Two kinds of machine caller exist: Latch's own services
/// (`LATCH_SERVICE_TOKEN`, never leaves Latch's pods) and service accounts
/// (named, least privilege). An account may be granted a `Public` RPC
/// (a gateway) or one marked `Service`/`UserOrService` (a backend); the
/// `Internal`/`UserOrInternal` ones only Latch itself may call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone. An account whose list names it calls it as itself (a
    /// gateway's forwarded client information is then believed).
    Public,
    /// Anyone, as [`Access::Public`]; but a bearer token, when sent, is
    /// checked and makes the call the user's (StartOAuth: a signed-in
    /// caller starts a link instead of a sign-in).
    PublicOrUser,
    /// A valid access token whose session is live.
    User,
    /// A user (as above) or one of Latch's own services.
    UserOrInternal,
    /// One of Latch's own services only; never granted to an account.
    Internal,
    /// One of Latch's own services, or an account granted it.
    Service,
    /// A user, one of Latch's own services, or an account granted it.
    UserOrService,
}

impl Access {
    /// A bearer token makes the call the user's.
    pub fn admits_users(self) -> bool {
        matches!(
            self,
            Self::User | Self::UserOrInternal | Self::UserOrService | Self::PublicOrUser
        )
    }

    /// Anyone may call it, rate limited by client address.
    pub fn is_public(self) -> bool {
        matches!(self, Self::Public | Self::PublicOrUser)
    }

    /// Latch's own service credential is accepted.
    pub fn admits_latch(self) -> bool {
        !matches!(self, Self::User)
    }

    /// A service account may be granted it: public RPCs (gateways) and
    /// those marked for backends.
    pub fn grantable(self) -> bool {
        matches!(
            self,
            Self::Public | Self::PublicOrUser | Self::Service | Self::UserOrService
        )
    }
}

/// The whole rule of every RPC of one gRPC service, written once beside its
/// handlers: its caller class and what a user caller must hold.
#[derive(Debug, Clone, Copy)]
pub struct ServicePolicy {
    /// Full service name, e.g. `latch.token.v1.TokenService`.
    pub service: &'static str,
    pub methods: &'static [(&'static str, Access, Rule)],
    /// The rate-limit group of public RPCs that do not count against
    /// [`RateGroup::Default`]; the auth layer limits every public RPC.
    pub rate_groups: &'static [(&'static str, RateGroup)],
}

impl ServicePolicy {
    /// The group of `method` when it is public: the one named in
    /// `rate_groups`, else the default. `None` for any other RPC.
    pub fn rate_group(&self, method: &str) -> Option<RateGroup> {
        let public = self
            .methods
            .iter()
            .any(|(name, access, _)| *name == method && access.is_public());
        public.then(|| {
            self.rate_groups
                .iter()
                .find(|(name, _)| *name == method)
                .map_or(RateGroup::Default, |(_, group)| *group)
        })
    }

    /// Names in `rate_groups` that are not public RPCs of this service (a
    /// typo, or an RPC that stopped being public): a test keeps it empty.
    pub fn misplaced_rate_groups(&self) -> Vec<&'static str> {
        self.rate_groups
            .iter()
            .map(|(name, _)| *name)
            .filter(|name| self.rate_group(name).is_none())
            .collect()
    }
}

/// What a request path is, to the auth layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// A Latch RPC with its caller class.
    Rpc(Access),
    /// Health and reflection: open to anyone, like a load balancer's probe.
    Open,
    /// Anything else: refused before it reaches a router.
    Unknown,
}

/// The services every server answers for anyone.
const OPEN_SERVICES: &[&str] = &[
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
];

/// One RPC's rule as the auth layer applies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub access: Access,
    pub rule: Rule,
    /// The protobuf number of the rule's field, found in the contract.
    pub field_number: Option<u32>,
}

/// All policies served by one server, by request path.
#[derive(Debug, Clone, Default)]
pub struct PolicyTable {
    methods: HashMap<String, Entry>,
    groups: HashMap<String, RateGroup>,
    services: Vec<&'static str>,
}

impl PolicyTable {
    /// Fails when a rule names a request field the contract does not have
    /// (or that is not a string): such a rule could never be enforced.
    pub fn new(policies: &[ServicePolicy]) -> Result<Self> {
        let mut table = Self::default();
        for policy in policies {
            table.services.push(policy.service);
            for (method, access, rule) in policy.methods {
                let path = format!("/{}/{}", policy.service, method);
                if let Some(group) = policy.rate_group(method) {
                    table.groups.insert(path.clone(), group);
                }
                let field_number = rule
                    .field()
                    .map(|field| request_field::field_number(policy.service, method, field))
                    .transpose()?;
                table.methods.insert(
                    path,
                    Entry {
                        access: *access,
                        rule: *rule,
                        field_number,
                    },
                );
            }
        }
        Ok(table)
    }

    /// A Latch method missing from its policy is internal: closed by
    /// default. A path outside Latch's services, health and reflection is
    /// unknown.
    pub fn route(&self, path: &str) -> Route {
        if let Some(entry) = self.methods.get(path) {
            return Route::Rpc(entry.access);
        }
        let service = path.trim_start_matches('/').split('/').next().unwrap_or("");
        if self.services.contains(&service) {
            Route::Rpc(Access::Internal)
        } else if OPEN_SERVICES.contains(&service) {
            Route::Open
        } else {
            Route::Unknown
        }
    }

    /// The caller class of `path` when it is a Latch RPC served here.
    pub fn access(&self, path: &str) -> Option<Access> {
        self.methods.get(path).map(|entry| entry.access)
    }

    /// The whole rule of `path` when it is a Latch RPC served here.
    pub fn entry(&self, path: &str) -> Option<Entry> {
        self.methods.get(path).copied()
    }

    /// The rate-limit group of `path` when it is a public RPC served here.
    pub fn rate_group(&self, path: &str) -> Option<RateGroup> {
        self.groups.get(path).copied()
    }

    /// Whether `service` is served by this server.
    pub fn serves(&self, service: &str) -> bool {
        self.services.contains(&service)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: ServicePolicy = ServicePolicy {
        service: "latch.x.v1.X",
        methods: &[
            ("Open", Access::Public, Rule::None),
            ("SignIn", Access::Public, Rule::None),
            ("Mine", Access::User, Rule::None),
        ],
        rate_groups: &[("SignIn", RateGroup::SignIn), ("Mine", RateGroup::SignUp)],
    };

    #[test]
    fn lookup_is_by_path_and_closed_by_default() {
        let table = PolicyTable::new(&[POLICY]).unwrap();
        assert_eq!(
            table.route("/latch.x.v1.X/Open"),
            Route::Rpc(Access::Public)
        );
        assert_eq!(table.route("/latch.x.v1.X/Mine"), Route::Rpc(Access::User));
        assert_eq!(
            table.route("/latch.x.v1.X/Forgotten"),
            Route::Rpc(Access::Internal)
        );
        assert_eq!(table.route("/grpc.health.v1.Health/Check"), Route::Open);
        assert_eq!(
            table.route("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"),
            Route::Open
        );
        assert_eq!(table.route("/latch.y.v1.Y/Anything"), Route::Unknown);
        assert_eq!(table.route("/"), Route::Unknown);
    }

    #[test]
    fn only_public_and_service_rpcs_can_be_granted() {
        assert!(Access::Public.grantable());
        assert!(Access::Service.grantable());
        assert!(Access::UserOrService.grantable());
        assert!(!Access::Internal.grantable());
        assert!(!Access::UserOrInternal.grantable());
        assert!(!Access::User.grantable());
    }

    #[test]
    fn every_public_rpc_has_a_rate_group_and_nothing_else_does() {
        let table = PolicyTable::new(&[POLICY]).unwrap();
        assert_eq!(
            table.rate_group("/latch.x.v1.X/SignIn"),
            Some(RateGroup::SignIn)
        );
        assert_eq!(
            table.rate_group("/latch.x.v1.X/Open"),
            Some(RateGroup::Default)
        );
        assert_eq!(table.rate_group("/latch.x.v1.X/Mine"), None);
        assert_eq!(table.rate_group("/latch.x.v1.X/Forgotten"), None);
        assert_eq!(POLICY.misplaced_rate_groups(), ["Mine"]);
    }
}
