use latch_domain::{
    Error, Reason, Result, SessionId, UserId,
    model::{ClientInfo, builtin},
    ports::RoleDirectory,
};
use tonic::{Request, Status};

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
        }
    }

    pub fn anonymous(peer_ip: Option<String>, user_agent: Option<String>) -> Self {
        Self {
            principal: Principal::Anonymous,
            peer_ip,
            user_agent,
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
        }
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

    /// [`Caller::target_user`], then [`Caller::authorize_for`] on it: the
    /// user a request is about, once the caller may act on that user's data.
    pub async fn authorized_target(
        &self,
        field: &str,
        value: &str,
        permission: &str,
        roles: &dyn RoleDirectory,
    ) -> Result<UserId> {
        let target = self.target_user(field, value)?;
        self.authorize_for(target, permission, roles).await?;
        Ok(target)
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

    /// Lets the call act on `target`'s data when the caller is that user, a
    /// machine caller (the layer held it to its RPCs), or a user holding
    /// `permission` (for a `*.write` permission on a SUPERADMIN's data, a
    /// SUPERADMIN); otherwise `ACCESS_DENIED`.
    pub async fn authorize_for(
        &self,
        target: UserId,
        permission: &str,
        roles: &dyn RoleDirectory,
    ) -> Result<()> {
        match &self.principal {
            Principal::Service | Principal::Account(_) => Ok(()),
            Principal::User(user) if user.user_id == target => Ok(()),
            Principal::User(user) => {
                if !roles.has_permission(user.user_id, permission).await? {
                    return Err(Error::access_denied());
                }
                if is_write(permission) {
                    Self::protect_superadmin(user.user_id, target, roles).await?;
                }
                Ok(())
            }
            Principal::Anonymous => Err(Error::new(
                Reason::AuthenticationRequired,
                "a user access token is required",
            )),
        }
    }

    /// [`Caller::require_permission`] for a change to `target`'s data: a
    /// user acting on another user needs `permission`, and SUPERADMIN too
    /// when `target` is a SUPERADMIN.
    pub async fn require_permission_over(
        &self,
        target: UserId,
        permission: &str,
        roles: &dyn RoleDirectory,
    ) -> Result<()> {
        self.require_permission(permission, roles).await?;
        match &self.principal {
            Principal::User(user) if user.user_id != target => {
                Self::protect_superadmin(user.user_id, target, roles).await
            }
            _ => Ok(()),
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

    /// Requires `permission` itself (admin-only RPCs); services pass.
    pub async fn require_permission(
        &self,
        permission: &str,
        roles: &dyn RoleDirectory,
    ) -> Result<()> {
        match &self.principal {
            Principal::Service | Principal::Account(_) => Ok(()),
            Principal::User(user) if roles.has_permission(user.user_id, permission).await? => {
                Ok(())
            }
            Principal::User(_) => Err(Error::access_denied()),
            Principal::Anonymous => Err(Error::new(
                Reason::AuthenticationRequired,
                "a user access token is required",
            )),
        }
    }
}

/// Permissions that change data (`users.write`, `sessions.write`, …), as
/// opposed to reading it: these are the ones a SUPERADMIN is shielded from.
fn is_write(permission: &str) -> bool {
    permission.ends_with(".write")
}

/// `message` as a request that passed the auth layer as `caller` (the
/// caller sits in its extensions, where [`Caller::of`] finds it). Public API
/// for a harness or a backend test that calls handlers directly.
pub fn request_as<T>(caller: Caller, message: T) -> Request<T> {
    let mut request = Request::new(message);
    request.extensions_mut().insert(caller);
    request
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
