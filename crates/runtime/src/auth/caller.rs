use latch_domain::{
    Error, Reason, Result, SessionId, UserId,
    model::{ClientInfo, builtin},
    ports::RoleDirectory,
};
use tonic::{Request, Status};

use super::{Rule, rule::is_write};
use crate::status::IntoStatus;

/// A user proven by an access token whose session is live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserPrincipal {
    pub user_id: UserId,
    pub session_id: SessionId,
    pub roles: Vec<String>,
}

/// A service account that proved its secret, on an RPC on its list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountPrincipal {
    pub name: String,
    /// A gateway: the client information it forwards is believed.
    pub forwards_client_info: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Anonymous,
    User(UserPrincipal),
    /// Another Latch service holding `LATCH_SERVICE_TOKEN`.
    Service,
    /// A named machine caller (gateway, backend) granted this RPC.
    Account(AccountPrincipal),
}

/// What the auth layer learned about a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub principal: Principal,
    /// The connection's peer address.
    pub peer_ip: Option<String>,
    /// The caller's own `user-agent` header.
    pub user_agent: Option<String>,
    /// The rule of the RPC being called, as the auth layer applied it; a
    /// handler whose rule is [`Rule::Loaded`] finishes it with
    /// [`Caller::authorize_loaded`].
    pub rule: Rule,
}

impl Caller {
    /// The caller the auth layer stored; its absence is a wiring bug.
    pub fn of<T>(request: &Request<T>) -> Result<&Caller, Status> {
        request.extensions().get::<Caller>().ok_or_else(|| {
            Error::internal_msg("request reached a handler without the auth layer").into_status()
        })
    }

    /// A signed-in user with no roles and no peer address or user agent, as
    /// the auth layer would leave it for a live access token. Public API for
    /// a harness or a backend test that calls handlers directly.
    pub fn for_user(user_id: UserId, session_id: SessionId) -> Self {
        Self {
            principal: Principal::User(UserPrincipal {
                user_id,
                session_id,
                roles: Vec::new(),
            }),
            peer_ip: None,
            user_agent: None,
            rule: Rule::None,
        }
    }

    /// A Latch service holding the service credential, with no peer address
    /// or user agent. Public API for a harness or a backend test that calls
    /// handlers directly.
    pub fn for_service() -> Self {
        Self {
            principal: Principal::Service,
            peer_ip: None,
            user_agent: None,
            rule: Rule::None,
        }
    }

    pub fn anonymous(peer_ip: Option<String>, user_agent: Option<String>) -> Self {
        Self {
            principal: Principal::Anonymous,
            peer_ip,
            user_agent,
            rule: Rule::None,
        }
    }

    /// A service account with `name`, as the auth layer would leave it for
    /// a valid credential on an RPC on the account's list.
    pub fn for_account(name: &str, forwards_client_info: bool) -> Self {
        Self {
            principal: Principal::Account(AccountPrincipal {
                name: name.to_owned(),
                forwards_client_info,
            }),
            peer_ip: None,
            user_agent: None,
            rule: Rule::None,
        }
    }

    /// This caller on an RPC whose rule is `rule` (what the auth layer
    /// leaves), for harnesses and tests that call handlers directly.
    pub fn with_rule(mut self, rule: Rule) -> Self {
        self.rule = rule;
        self
    }

    /// A machine caller: one of Latch's services, or a service account
    /// (whose RPC list the auth layer already held it to).
    pub fn is_service(&self) -> bool {
        matches!(self.principal, Principal::Service | Principal::Account(_))
    }

    /// Who is calling, for logs: never a secret.
    pub fn describe(&self) -> String {
        match &self.principal {
            Principal::Anonymous => "anonymous".to_owned(),
            Principal::User(user) => format!("user:{}", user.user_id),
            Principal::Service => "latch-service".to_owned(),
            Principal::Account(account) => format!("account:{}", account.name),
        }
    }

    /// The signed-in user, or `AUTHENTICATION_REQUIRED`.
    pub fn user(&self) -> Result<&UserPrincipal> {
        match &self.principal {
            Principal::User(user) => Ok(user),
            _ => Err(Error::new(
                Reason::AuthenticationRequired,
                "a user access token is required",
            )),
        }
    }

    /// The user a request is about: `value` (the request's `field`) when
    /// given, else the signed-in caller. A Latch service has no user of its
    /// own, so it must name one (`INVALID_ARGUMENT` on `field`); an anonymous
    /// caller gets `AUTHENTICATION_REQUIRED`.
    pub fn target_user(&self, field: &str, value: &str) -> Result<UserId> {
        if !value.trim().is_empty() {
            return UserId::parse(field, value);
        }
        if self.is_service() {
            return Err(Error::invalid_field(
                field,
                "is required for internal callers",
            ));
        }
        Ok(self.user()?.user_id)
    }

    /// The client as the request claims it when the caller is one of
    /// Latch's services or a gateway account (passing on what it saw), else
    /// as seen here: anyone else could claim any address.
    pub fn client_info(&self, claimed: Option<ClientInfo>) -> ClientInfo {
        let believed = match &self.principal {
            Principal::Service => true,
            Principal::Account(account) => account.forwards_client_info,
            Principal::Anonymous | Principal::User(_) => false,
        };
        match (believed, claimed) {
            (true, Some(claimed)) => claimed,
            _ => ClientInfo {
                ip: self.peer_ip.clone(),
                user_agent: self.user_agent.clone(),
            },
        }
    }

    /// The auth layer's check of `rule` for this caller; `named` is the
    /// value of the rule's request field (empty when absent). Machine
    /// callers pass: their class and RPC list already decided.
    pub(super) async fn enforce(
        &self,
        rule: Rule,
        named: &str,
        roles: &dyn RoleDirectory,
    ) -> Result<()> {
        let user = match &self.principal {
            Principal::Service | Principal::Account(_) => return Ok(()),
            Principal::Anonymous if rule == Rule::None => return Ok(()),
            Principal::Anonymous => return Err(authentication_required()),
            Principal::User(user) => user.user_id,
        };
        // The user the request names, parsed before anything is decided so
        // a malformed id is INVALID_ARGUMENT for everyone, as before.
        let target = match rule.field() {
            Some(field) if !named.trim().is_empty() => UserId::parse(field, named)?,
            _ => user,
        };
        match rule {
            Rule::None => Ok(()),
            Rule::Loaded {
                owner_may: true, ..
            } => Ok(()),
            Rule::SelfOnly { .. } if target == user => Ok(()),
            Rule::SelfOnly { .. } => Err(Error::access_denied()),
            Rule::OwnerOr { .. } if target == user => Ok(()),
            Rule::OwnerOr { permission, .. } | Rule::PermissionOver { permission, .. } => {
                Self::holds(user, permission, roles).await?;
                if is_write(permission) && target != user {
                    Self::protect_superadmin(user, target, roles).await?;
                }
                Ok(())
            }
            Rule::Permission(permission)
            | Rule::Loaded {
                owner_may: false,
                permission,
            } => Self::holds(user, permission, roles).await,
        }
    }

    /// The one call a handler makes when its RPC's rule is
    /// [`Rule::Loaded`]: `owner` owns the resource it loaded. The owner
    /// passes when the rule lets them; anyone else needs the permission,
    /// and a SUPERADMIN's resource a SUPERADMIN for a `*.write`.
    pub async fn authorize_loaded(&self, owner: UserId, roles: &dyn RoleDirectory) -> Result<()> {
        let user = match &self.principal {
            Principal::Service | Principal::Account(_) => return Ok(()),
            Principal::Anonymous => return Err(authentication_required()),
            Principal::User(user) => user.user_id,
        };
        let Rule::Loaded {
            owner_may,
            permission,
        } = self.rule
        else {
            return Err(Error::internal_msg(
                "authorize_loaded called on an RPC whose rule is not Loaded",
            ));
        };
        if owner_may && owner == user {
            return Ok(());
        }
        Self::holds(user, permission, roles).await?;
        if is_write(permission) && owner != user {
            Self::protect_superadmin(user, owner, roles).await?;
        }
        Ok(())
    }

    async fn holds(user: UserId, permission: &str, roles: &dyn RoleDirectory) -> Result<()> {
        if roles.has_permission(user, permission).await? {
            Ok(())
        } else {
            Err(Error::access_denied())
        }
    }

    /// An ADMIN cannot act against a SUPERADMIN: revoking their sessions,
    /// editing their profile or status takes a SUPERADMIN. Roles are read
    /// now, not from the token, so a fresh demotion counts at once.
    async fn protect_superadmin(
        actor: UserId,
        target: UserId,
        roles: &dyn RoleDirectory,
    ) -> Result<()> {
        let is_superadmin = |names: Vec<String>| {
            names
                .iter()
                .any(|r| r.eq_ignore_ascii_case(builtin::SUPERADMIN))
        };
        if is_superadmin(roles.role_names(target).await?)
            && !is_superadmin(roles.role_names(actor).await?)
        {
            return Err(Error::new(
                Reason::AccessDenied,
                "only a SUPERADMIN may change a SUPERADMIN's data",
            ));
        }
        Ok(())
    }
}

fn authentication_required() -> Error {
    Error::new(
        Reason::AuthenticationRequired,
        "a user access token is required",
    )
}

/// `message` as a request that passed the auth layer as `caller` (the
/// caller sits in its extensions, where [`Caller::of`] finds it). Public API
/// for a harness or a backend test that calls handlers directly.
pub fn request_as<T>(caller: Caller, message: T) -> Request<T> {
    let mut request = Request::new(message);
    request.extensions_mut().insert(caller);
    request
}

/// `message` from `caller` to `method` of `policy` as the auth layer would
/// pass it on: the RPC's rule applied (its field read from `message`) and
/// the caller, marked with the rule, in the extensions; or the layer's
/// refusal. Public API for harnesses and tests that call handlers directly
/// and want the permission rules too.
pub async fn request_through<M: prost::Message>(
    policy: &super::ServicePolicy,
    method: &str,
    caller: Caller,
    message: M,
    roles: &dyn RoleDirectory,
) -> Result<Request<M>, Status> {
    let Some((_, _, rule)) = policy.methods.iter().find(|(name, _, _)| *name == method) else {
        return Err(Error::internal_msg(format!("{method} is not in the policy")).into_status());
    };
    let named = match rule.field() {
        Some(field) => {
            let number = super::request_field::field_number(policy.service, method, field)
                .map_err(IntoStatus::into_status)?;
            super::request_field::field_of(&message.encode_to_vec(), number)
                .map_err(IntoStatus::into_status)?
        }
        None => String::new(),
    };
    caller
        .enforce(*rule, &named, roles)
        .await
        .map_err(IntoStatus::into_status)?;
    Ok(request_as(caller.with_rule(*rule), message))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn violation_field(err: &Error) -> Option<&str> {
        err.violation().map(|v| v.field.as_str())
    }

    #[test]
    fn a_named_user_wins_over_the_caller() {
        let named = UserId::new();
        let caller = Caller::for_user(UserId::new(), SessionId::generate().unwrap());
        assert_eq!(
            caller.target_user("user_id", &named.to_string()).unwrap(),
            named
        );
        let err = caller.target_user("user_id", "not-a-uuid").unwrap_err();
        assert_eq!(violation_field(&err), Some("user_id"));
    }

    #[test]
    fn an_empty_field_means_the_signed_in_user() {
        let me = UserId::new();
        let caller = Caller::for_user(me, SessionId::generate().unwrap());
        assert_eq!(caller.target_user("user_id", " ").unwrap(), me);
    }

    #[test]
    fn services_must_name_the_user_and_anonymous_callers_sign_in() {
        let err = Caller::for_service()
            .target_user("subject", "")
            .unwrap_err();
        assert_eq!(err.reason(), Reason::InvalidArgument);
        assert_eq!(violation_field(&err), Some("subject"));
        let err = Caller::anonymous(None, None)
            .target_user("user_id", "")
            .unwrap_err();
        assert_eq!(err.reason(), Reason::AuthenticationRequired);
    }

    #[test]
    fn handlers_find_the_caller_a_request_was_built_with() {
        let caller = Caller::for_service();
        let request = request_as(caller.clone(), ());
        assert_eq!(Caller::of(&request).unwrap(), &caller);
        assert!(Caller::of(&Request::new(())).is_err());
    }
}
