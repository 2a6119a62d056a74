use async_trait::async_trait;
use latch_domain::{
    Result, SessionId, UserId,
    model::{ClientInfo, DeviceInfo, Session},
    ports::{SessionDirectory, UserDataEraser},
};
use latch_proto::latch::session::v1::{self as pb, session_service_client::SessionServiceClient};

use super::{ServiceChannel, error_from_status};
use crate::convert::{client_info_pb, datetime};

/// [`SessionDirectory`] over gRPC.
#[derive(Clone)]
pub struct SessionClient(SessionServiceClient<ServiceChannel>);

impl SessionClient {
    pub fn new(channel: ServiceChannel) -> Self {
        Self(SessionServiceClient::new(channel))
    }
}

#[async_trait]
impl SessionDirectory for SessionClient {
    async fn create(&self, user: UserId, client: &ClientInfo) -> Result<Session> {
        let request = pb::CreateSessionRequest {
            user_id: user.to_string(),
            client: Some(client_info_pb(client)),
        };
        let response = self
            .0
            .clone()
            .create_session(request)
            .await
            .map_err(error_from_status)?;
        session(response.into_inner().session)
    }

    async fn validate(&self, id: &SessionId) -> Result<Option<Session>> {
        let request = pb::ValidateSessionRequest {
            session_id: id.to_string(),
        };
        let response = self
            .0
            .clone()
            .validate_session(request)
            .await
            .map_err(error_from_status)?;
        let response = response.into_inner();
        if response.valid {
            session(response.session).map(Some)
        } else {
            Ok(None)
        }
    }

    async fn touch(&self, id: &SessionId) -> Result<()> {
        let request = pb::TouchSessionRequest {
            session_id: id.to_string(),
        };
        self.0
            .clone()
            .touch_session(request)
            .await
            .map_err(error_from_status)?;
        Ok(())
    }

    async fn revoke(&self, id: &SessionId, reason: &str) -> Result<bool> {
        let request = pb::RevokeSessionRequest {
            session_id: id.to_string(),
            reason: reason.to_owned(),
        };
        self.0
            .clone()
            .revoke_session(request)
            .await
            .map_err(error_from_status)?;
        Ok(true)
    }

    async fn revoke_all(
        &self,
        user: UserId,
        except: Option<&SessionId>,
        reason: &str,
    ) -> Result<u32> {
        let request = pb::RevokeAllSessionsRequest {
            user_id: user.to_string(),
            except_session_id: except.map(ToString::to_string).unwrap_or_default(),
            reason: reason.to_owned(),
        };
        let response = self
            .0
            .clone()
            .revoke_all_sessions(request)
            .await
            .map_err(error_from_status)?;
        Ok(response.into_inner().revoked)
    }
}

/// DeleteUserSessions: revokes, then deletes, every session of the user.
#[async_trait]
impl UserDataEraser for SessionClient {
    async fn erase_user(&self, user: UserId) -> Result<u64> {
        let request = pb::DeleteUserSessionsRequest {
            user_id: user.to_string(),
        };
        let response = self
            .0
            .clone()
            .delete_user_sessions(request)
            .await
            .map_err(error_from_status)?;
        Ok(response.into_inner().deleted)
    }
}

fn text(value: String) -> Option<String> {
    (!value.is_empty()).then_some(value)
}

fn session(session: Option<pb::Session>) -> Result<Session> {
    let s = session
        .ok_or_else(|| latch_domain::Error::internal_msg("peer answered without a session"))?;
    Ok(Session {
        id: SessionId::parse("session.id", &s.id)?,
        user_id: UserId::parse("session.user_id", &s.user_id)?,
        created_at: datetime("session.created_at", s.created_at.as_ref())?,
        last_active_at: datetime("session.last_active_at", s.last_active_at.as_ref())?,
        expires_at: datetime("session.expires_at", s.expires_at.as_ref())?,
        revoked_at: s
            .revoked_at
            .as_ref()
            .map(|t| datetime("session.revoked_at", Some(t)))
            .transpose()?,
        client: ClientInfo {
            ip: text(s.ip),
            user_agent: text(s.user_agent),
        },
        device: DeviceInfo {
            browser: text(s.browser),
            os: text(s.os),
            device: text(s.device),
        },
        location: text(s.location),
        revoked_reason: text(s.revoked_reason),
    })
}
