use latch_domain::{
    Error, Reason, Result, SessionId, UserId, model::ClientInfo, ports::RoleDirectory,
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Anonymous,
    User(UserPrincipal),
    /// Another Latch service (or a gateway) holding the service credential.
    Service,
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

    pub fn anonymous(peer_ip: Option<String>, user_agent: Option<String>) -> Self {
        Self {
            principal: Principal::Anonymous,
            peer_ip,
            user_agent,
        }
    }

    pub fn is_service(&self) -> bool {
        matches!(self.principal, Principal::Service)
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

    /// The client as the request claims it when the caller holds the service
    /// credential (a gateway passing on what it saw), else as seen here.
    pub fn client_info(&self, claimed: Option<ClientInfo>) -> ClientInfo {
        match (self.is_service(), claimed) {
            (true, Some(claimed)) => claimed,
            _ => ClientInfo {
                ip: self.peer_ip.clone(),
                user_agent: self.user_agent.clone(),
            },
        }
    }

    /// Lets the call act on `target`'s data when the caller is that user, a
    /// Latch service, or a user holding `permission`; otherwise `ACCESS_DENIED`.
    pub async fn authorize_for(
        &self,
        target: UserId,
        permission: &str,
        roles: &dyn RoleDirectory,
    ) -> Result<()> {
        match &self.principal {
            Principal::Service => Ok(()),
            Principal::User(user) if user.user_id == target => Ok(()),
            Principal::User(user) => {
                if roles.has_permission(user.user_id, permission).await? {
                    Ok(())
                } else {
                    Err(Error::access_denied())
                }
            }
            Principal::Anonymous => Err(Error::new(
                Reason::AuthenticationRequired,
                "a user access token is required",
            )),
        }
    }

    /// Requires `permission` itself (admin-only RPCs); services pass.
    pub async fn require_permission(
        &self,
        permission: &str,
        roles: &dyn RoleDirectory,
    ) -> Result<()> {
        match &self.principal {
            Principal::Service => Ok(()),
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
