//! `latch.session.v1.SessionService` over gRPC: thin handlers that convert
//! the request, check who may act on whose sessions, call [`Sessions`] and
//! convert the answer. The caller class of each RPC is [`POLICY`], enforced
//! by the runtime's auth layer before a handler runs.

mod convert;
mod revoked;

use std::sync::Arc;

use latch_domain::{
    Error, Result, SessionId, UserId,
    model::{Session, permission},
    ports::RoleDirectory,
};
use latch_proto::latch::session::v1::{
    CreateSessionRequest, CreateSessionResponse, DeleteUserSessionsRequest,
    DeleteUserSessionsResponse, GetSessionRequest, GetSessionResponse, ListRevokedSessionsRequest,
    ListRevokedSessionsResponse, ListSessionsRequest, ListSessionsResponse,
    RevokeAllSessionsRequest, RevokeAllSessionsResponse, RevokeSessionRequest,
    RevokeSessionResponse, TouchSessionRequest, TouchSessionResponse, ValidateSessionRequest,
    ValidateSessionResponse,
    session_service_server::{SERVICE_NAME, SessionService, SessionServiceServer},
};
use latch_runtime::{
    ResultExt,
    auth::{Access, Caller, Principal, Rule, ServicePolicy},
};
use tonic::{Request, Response, Status};

pub use convert::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};
use convert::{Page, client_info_from_proto, page_token, session_to_proto};
pub use revoked::{DEFAULT_REVOKED_PAGE_SIZE, MAX_REVOKED_PAGE_SIZE};

use crate::{Sessions, revoke::REASON_MAX};

/// Who may call each RPC, per the `// Caller:` comments in session.proto.
pub const POLICY: ServicePolicy = ServicePolicy {
    service: SERVICE_NAME,
    methods: &[
        ("CreateSession", Access::Internal, Rule::None),
        ("ValidateSession", Access::Service, Rule::None),
        (
            "GetSession",
            Access::User,
            Rule::Loaded {
                owner_may: true,
                permission: permission::SESSIONS_READ,
            },
        ),
        (
            "ListSessions",
            Access::User,
            Rule::OwnerOr {
                field: "user_id",
                permission: permission::SESSIONS_READ,
            },
        ),
        ("TouchSession", Access::Internal, Rule::None),
        (
            "RevokeSession",
            Access::UserOrInternal,
            Rule::Loaded {
                owner_may: true,
                permission: permission::SESSIONS_WRITE,
            },
        ),
        (
            "RevokeAllSessions",
            Access::UserOrInternal,
            Rule::OwnerOr {
                field: "user_id",
                permission: permission::SESSIONS_WRITE,
            },
        ),
        ("DeleteUserSessions", Access::Internal, Rule::None),
        ("ListRevokedSessions", Access::Service, Rule::None),
    ],
    // No public RPC: nothing to rate limit here.
    rate_groups: &[],
};

/// The tonic service; build it with [`server`].
pub struct SessionGrpc {
    sessions: Arc<Sessions>,
    roles: Arc<dyn RoleDirectory>,
}

impl SessionGrpc {
    pub fn new(sessions: Arc<Sessions>, roles: Arc<dyn RoleDirectory>) -> Self {
        Self { sessions, roles }
    }

    fn to_proto(
        &self,
        session: &Session,
        caller: &Caller,
    ) -> latch_proto::latch::session::v1::Session {
        let current = matches!(
            &caller.principal,
            Principal::User(user) if user.session_id == session.id
        );
        session_to_proto(session, self.sessions.idle_expires_at(session), current)
    }

    /// The stored session, or `NOT_FOUND`.
    async fn existing(&self, id: &SessionId) -> Result<Session> {
        self.sessions
            .get(id)
            .await?
            .ok_or_else(|| Error::not_found("session"))
    }
}

/// The server to add to a router; put it behind the auth layer with
/// [`POLICY`].
pub fn server(
    sessions: Arc<Sessions>,
    roles: Arc<dyn RoleDirectory>,
) -> SessionServiceServer<SessionGrpc> {
    SessionServiceServer::new(SessionGrpc::new(sessions, roles))
}

#[tonic::async_trait]
impl SessionService for SessionGrpc {
    async fn create_session(
        &self,
        request: Request<CreateSessionRequest>,
    ) -> Result<Response<CreateSessionResponse>, Status> {
        let caller = Caller::of(&request)?.clone();
        let request = request.into_inner();
        let user = UserId::parse("user_id", &request.user_id).or_status()?;
        let claimed = request
            .client
            .map(client_info_from_proto)
            .transpose()
            .or_status()?;
        let client = caller.client_info(claimed);
        let session = self.sessions.open(user, &client).await.or_status()?;
        Ok(Response::new(CreateSessionResponse {
            session: Some(self.to_proto(&session, &caller)),
        }))
    }

    async fn validate_session(
        &self,
        request: Request<ValidateSessionRequest>,
    ) -> Result<Response<ValidateSessionResponse>, Status> {
        let caller = Caller::of(&request)?.clone();
        let id = SessionId::parse("session_id", &request.get_ref().session_id).or_status()?;
        let validation = self.sessions.inspect(&id).await.or_status()?;
        Ok(Response::new(ValidateSessionResponse {
            valid: validation.valid,
            session: validation.session.map(|s| self.to_proto(&s, &caller)),
        }))
    }

    async fn get_session(
        &self,
        request: Request<GetSessionRequest>,
    ) -> Result<Response<GetSessionResponse>, Status> {
        let caller = Caller::of(&request)?.clone();
        let id = SessionId::parse("session_id", &request.get_ref().session_id).or_status()?;
        let session = self.existing(&id).await.or_status()?;
        caller
            .authorize_loaded(session.user_id, self.roles.as_ref())
            .await
            .or_status()?;
        Ok(Response::new(GetSessionResponse {
            session: Some(self.to_proto(&session, &caller)),
        }))
    }

    async fn list_sessions(
        &self,
        request: Request<ListSessionsRequest>,
    ) -> Result<Response<ListSessionsResponse>, Status> {
        let caller = Caller::of(&request)?.clone();
        let request = request.into_inner();
        let user = caller
            .target_user("user_id", &request.user_id)
            .or_status()?;
        let page = Page::from_request(request.page_size, &request.page_token).or_status()?;
        let (sessions, next) = self
            .sessions
            .list_page(user, request.include_revoked, page.after, page.size)
            .await
            .or_status()?;
        Ok(Response::new(ListSessionsResponse {
            sessions: sessions.iter().map(|s| self.to_proto(s, &caller)).collect(),
            next_page_token: page_token(next.as_ref()),
        }))
    }

    async fn touch_session(
        &self,
        request: Request<TouchSessionRequest>,
    ) -> Result<Response<TouchSessionResponse>, Status> {
        let id = SessionId::parse("session_id", &request.get_ref().session_id).or_status()?;
        self.sessions.touch(&id).await.or_status()?;
        Ok(Response::new(TouchSessionResponse {}))
    }

    async fn revoke_session(
        &self,
        request: Request<RevokeSessionRequest>,
    ) -> Result<Response<RevokeSessionResponse>, Status> {
        let caller = Caller::of(&request)?.clone();
        let request = request.into_inner();
        let id = SessionId::parse("session_id", &request.session_id).or_status()?;
        let session = self.existing(&id).await.or_status()?;
        caller
            .authorize_loaded(session.user_id, self.roles.as_ref())
            .await
            .or_status()?;
        let reason = revocation_reason(&caller, session.user_id, &request.reason).or_status()?;
        self.sessions.revoke_one(&id, &reason).await.or_status()?;
        Ok(Response::new(RevokeSessionResponse {}))
    }

    async fn revoke_all_sessions(
        &self,
        request: Request<RevokeAllSessionsRequest>,
    ) -> Result<Response<RevokeAllSessionsResponse>, Status> {
        let caller = Caller::of(&request)?.clone();
        let request = request.into_inner();
        let user = caller
            .target_user("user_id", &request.user_id)
            .or_status()?;
        let except = match request.except_session_id.as_str() {
            "" => None,
            raw => Some(SessionId::parse("except_session_id", raw).or_status()?),
        };
        let reason = revocation_reason(&caller, user, &request.reason).or_status()?;
        let revoked = self
            .sessions
            .revoke_many(user, except.as_ref(), &reason)
            .await
            .or_status()?;
        Ok(Response::new(RevokeAllSessionsResponse { revoked }))
    }

    async fn delete_user_sessions(
        &self,
        request: Request<DeleteUserSessionsRequest>,
    ) -> Result<Response<DeleteUserSessionsResponse>, Status> {
        let user = UserId::parse("user_id", &request.get_ref().user_id).or_status()?;
        let (revoked, deleted) = self.sessions.erase_user_sessions(user).await.or_status()?;
        Ok(Response::new(DeleteUserSessionsResponse {
            revoked,
            deleted,
        }))
    }

    async fn list_revoked_sessions(
        &self,
        request: Request<ListRevokedSessionsRequest>,
    ) -> Result<Response<ListRevokedSessionsResponse>, Status> {
        let response = revoked::list_revoked_sessions(&self.sessions, request.into_inner())
            .await
            .or_status()?;
        Ok(Response::new(response))
    }
}

/// The reason a caller gave, or one that says who revoked: the user
/// themselves, an administrator, or a Latch service.
fn revocation_reason(caller: &Caller, owner: UserId, raw: &str) -> Result<String> {
    if let Some(reason) = latch_domain::validate::optional_text("reason", raw, REASON_MAX)? {
        return Ok(reason);
    }
    Ok(match &caller.principal {
        Principal::User(user) if user.user_id == owner => "user_revoked",
        Principal::User(_) => "admin",
        Principal::Service | Principal::Account(_) | Principal::Anonymous => "revoked",
    }
    .to_owned())
}

#[cfg(test)]
mod tests;
