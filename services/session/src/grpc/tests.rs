//! Handler tests: a `Caller` put where the auth layer would, assertions on
//! the status code and stable reason a client sees.

use std::{collections::HashSet, sync::Mutex};

use async_trait::async_trait;
use latch_domain::{Result, SessionId, UserId, ports::RoleDirectory};
use latch_proto::latch::{common::v1 as common, session::v1::*};
use latch_runtime::{
    auth::{Caller, request_as, request_through},
    status::reason_of,
};
use tonic::{Code, Request, Status};

use super::*;
use crate::testing::{CHROME_MAC, Harness, browser_client};

/// Authorization as the session service sees it: a fixed grant table.
#[derive(Default)]
struct FakeRoles {
    grants: Mutex<HashSet<(UserId, String)>>,
}

impl FakeRoles {
    fn grant(&self, user: UserId, permission: &str) {
        self.grants
            .lock()
            .unwrap()
            .insert((user, permission.to_owned()));
    }
}

#[async_trait]
impl RoleDirectory for FakeRoles {
    async fn role_names(&self, _user: UserId) -> Result<Vec<String>> {
        Ok(Vec::new())
    }
    async fn has_permission(&self, user: UserId, permission: &str) -> Result<bool> {
        Ok(self
            .grants
            .lock()
            .unwrap()
            .contains(&(user, permission.to_owned())))
    }
    async fn assign(&self, _user: UserId, _role: &str) -> Result<bool> {
        Ok(false)
    }
    async fn unassign(&self, _user: UserId, _role: &str) -> Result<bool> {
        Ok(false)
    }
}

struct Fixture {
    h: Harness,
    sessions: Arc<Sessions>,
    roles: Arc<FakeRoles>,
    grpc: SessionGrpc,
}

impl Fixture {
    /// `message` from `caller` through the policy's rule for `rpc`, as the
    /// auth layer passes it on (or refuses it).
    async fn through<M: prost::Message>(
        &self,
        rpc: &str,
        caller: Caller,
        message: M,
    ) -> std::result::Result<Request<M>, Status> {
        request_through(&POLICY, rpc, caller, message, self.roles.as_ref()).await
    }
}

async fn fixture() -> Fixture {
    let h = Harness::new().await;
    let sessions = h.replica();
    let roles = Arc::new(FakeRoles::default());
    let grpc = SessionGrpc::new(sessions.clone(), roles.clone());
    Fixture {
        h,
        sessions,
        roles,
        grpc,
    }
}

fn assert_refused(status: &Status, code: Code, reason: &str) {
    assert_eq!(status.code(), code, "{status:?}");
    assert_eq!(reason_of(status).as_deref(), Some(reason), "{status:?}");
}

fn bad_field(status: &Status) -> Option<String> {
    use tonic_types::StatusExt as _;
    status
        .get_details_bad_request()
        .and_then(|b| b.field_violations.first().map(|v| v.field.clone()))
}

#[tokio::test]
async fn create_session_trusts_the_claimed_client_of_a_service() {
    let f = fixture().await;
    let user_id = UserId::new();
    let response = f
        .grpc
        .create_session(request_as(
            Caller::for_service(),
            CreateSessionRequest {
                user_id: user_id.to_string(),
                client: Some(common::ClientInfo {
                    ip: "203.0.113.7".into(),
                    user_agent: CHROME_MAC.into(),
                }),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let session = response.session.unwrap();
    assert_eq!(session.user_id, user_id.to_string());
    assert_eq!(session.ip, "203.0.113.7");
    assert_eq!(session.browser, "Chrome");
    assert_eq!(session.os, "Mac OSX");
    assert!(SessionId::parse("id", &session.id).is_ok());
    assert!(session.idle_expires_at.is_some());
}

#[tokio::test]
async fn create_session_names_malformed_fields() {
    let f = fixture().await;
    let status = f
        .grpc
        .create_session(request_as(
            Caller::for_service(),
            CreateSessionRequest {
                user_id: "me".into(),
                client: None,
            },
        ))
        .await
        .unwrap_err();
    assert_refused(&status, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(bad_field(&status).as_deref(), Some("user_id"));
}

#[tokio::test]
async fn validate_session_says_invalid_without_an_error() {
    let f = fixture().await;
    let owner = UserId::new();
    let session = f.sessions.open(owner, &browser_client()).await.unwrap();
    let validate = |id: String| {
        f.grpc.validate_session(request_as(
            Caller::for_service(),
            ValidateSessionRequest { session_id: id },
        ))
    };

    let live = validate(session.id.to_string()).await.unwrap().into_inner();
    assert!(live.valid);
    assert_eq!(live.session.map(|s| s.id), Some(session.id.to_string()));

    f.sessions.revoke_one(&session.id, "logout").await.unwrap();
    let revoked = validate(session.id.to_string()).await.unwrap().into_inner();
    assert!(!revoked.valid);
    assert_eq!(
        revoked.session.map(|s| s.revoked_reason),
        Some("logout".to_owned()),
        "a revoked session is still described"
    );

    let unknown = validate(SessionId::generate().unwrap().to_string())
        .await
        .unwrap()
        .into_inner();
    assert!(!unknown.valid);
    assert_eq!(unknown.session, None);

    let status = validate("not-a-session".into()).await.unwrap_err();
    assert_eq!(bad_field(&status).as_deref(), Some("session_id"));
}

#[tokio::test]
async fn get_session_is_for_the_owner_or_a_reader() {
    let f = fixture().await;
    let owner = UserId::new();
    let session = f.sessions.open(owner, &browser_client()).await.unwrap();
    let fr = &f;
    let get = |caller: Caller, id: String| async move {
        let message = GetSessionRequest { session_id: id };
        let request = fr.through("GetSession", caller, message).await?;
        fr.grpc.get_session(request).await
    };

    let own = get(
        Caller::for_user(owner, session.id.clone()),
        session.id.to_string(),
    )
    .await
    .unwrap()
    .into_inner();
    assert!(own.session.unwrap().current);

    let other = UserId::new();
    let other_session = SessionId::generate().unwrap();
    let status = get(
        Caller::for_user(other, other_session.clone()),
        session.id.to_string(),
    )
    .await
    .unwrap_err();
    assert_refused(&status, Code::PermissionDenied, "ACCESS_DENIED");

    f.roles.grant(other, "sessions.read");
    let read = get(
        Caller::for_user(other, other_session.clone()),
        session.id.to_string(),
    )
    .await
    .unwrap()
    .into_inner();
    assert!(!read.session.unwrap().current);

    let status = get(
        Caller::for_user(owner, session.id.clone()),
        SessionId::generate().unwrap().to_string(),
    )
    .await
    .unwrap_err();
    assert_refused(&status, Code::NotFound, "NOT_FOUND");

    let status = get(Caller::for_user(owner, session.id.clone()), "x".into())
        .await
        .unwrap_err();
    assert_refused(&status, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(bad_field(&status).as_deref(), Some("session_id"));
}

#[tokio::test]
async fn list_sessions_defaults_to_the_caller_and_marks_the_current_one() {
    let f = fixture().await;
    let owner = UserId::new();
    let first = f.sessions.open(owner, &browser_client()).await.unwrap();
    f.h.clock.advance(chrono::Duration::minutes(1));
    let second = f.sessions.open(owner, &browser_client()).await.unwrap();
    let revoked = f.sessions.open(owner, &browser_client()).await.unwrap();
    f.sessions.revoke_one(&revoked.id, "logout").await.unwrap();
    f.sessions
        .open(UserId::new(), &browser_client())
        .await
        .unwrap();

    let fr = &f;
    let list = |caller: Caller, request: ListSessionsRequest| async move {
        let request = fr.through("ListSessions", caller, request).await?;
        fr.grpc.list_sessions(request).await
    };
    let mine = list(
        Caller::for_user(owner, first.id.clone()),
        ListSessionsRequest::default(),
    )
    .await
    .unwrap()
    .into_inner();
    let ids: Vec<_> = mine.sessions.iter().map(|s| s.id.clone()).collect();
    assert_eq!(
        ids,
        vec![second.id.to_string(), first.id.to_string()],
        "most recently active first"
    );
    let current: Vec<_> = mine.sessions.iter().map(|s| s.current).collect();
    assert_eq!(current, vec![false, true]);
    assert!(mine.next_page_token.is_empty());

    let all = list(
        Caller::for_user(owner, first.id.clone()),
        ListSessionsRequest {
            include_revoked: true,
            page_size: 2,
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .into_inner();
    assert_eq!(all.sessions.len(), 2);
    let rest = list(
        Caller::for_user(owner, first.id.clone()),
        ListSessionsRequest {
            include_revoked: true,
            page_size: 2,
            page_token: all.next_page_token,
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .into_inner();
    assert_eq!(rest.sessions.len(), 1);

    let stranger = UserId::new();
    let status = list(
        Caller::for_user(stranger, SessionId::generate().unwrap()),
        ListSessionsRequest {
            user_id: owner.to_string(),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_refused(&status, Code::PermissionDenied, "ACCESS_DENIED");
}

#[tokio::test]
async fn revoke_session_is_for_the_owner_an_admin_or_a_service() {
    let f = fixture().await;
    let owner = UserId::new();
    let session = f.sessions.open(owner, &browser_client()).await.unwrap();
    let fr = &f;
    let revoke = |caller: Caller, id: &SessionId| {
        let message = RevokeSessionRequest {
            session_id: id.to_string(),
            reason: String::new(),
        };
        async move {
            let request = fr.through("RevokeSession", caller, message).await?;
            fr.grpc.revoke_session(request).await
        }
    };

    let stranger = UserId::new();
    let status = revoke(
        Caller::for_user(stranger, SessionId::generate().unwrap()),
        &session.id,
    )
    .await
    .unwrap_err();
    assert_refused(&status, Code::PermissionDenied, "ACCESS_DENIED");
    assert!(f.sessions.inspect(&session.id).await.unwrap().valid);

    revoke(Caller::for_user(owner, session.id.clone()), &session.id)
        .await
        .unwrap();
    let stored = f.sessions.get(&session.id).await.unwrap().unwrap();
    assert_eq!(stored.revoked_reason.as_deref(), Some("user_revoked"));
    revoke(Caller::for_service(), &session.id).await.unwrap();

    let status = revoke(Caller::for_service(), &SessionId::generate().unwrap())
        .await
        .unwrap_err();
    assert_refused(&status, Code::NotFound, "NOT_FOUND");
}

#[tokio::test]
async fn revoke_all_sessions_keeps_the_exception() {
    let f = fixture().await;
    let owner = UserId::new();
    let keep = f.sessions.open(owner, &browser_client()).await.unwrap();
    let other = f.sessions.open(owner, &browser_client()).await.unwrap();

    let response = f
        .grpc
        .revoke_all_sessions(request_as(
            Caller::for_user(owner, keep.id.clone()),
            RevokeAllSessionsRequest {
                user_id: String::new(),
                except_session_id: keep.id.to_string(),
                reason: "sign_out_elsewhere".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.revoked, 1);
    assert!(f.sessions.inspect(&keep.id).await.unwrap().valid);
    assert!(!f.sessions.inspect(&other.id).await.unwrap().valid);

    let status = f
        .grpc
        .revoke_all_sessions(request_as(
            Caller::for_service(),
            RevokeAllSessionsRequest::default(),
        ))
        .await
        .unwrap_err();
    assert_eq!(bad_field(&status).as_deref(), Some("user_id"));

    let status = f
        .grpc
        .revoke_all_sessions(request_as(
            Caller::for_user(owner, keep.id.clone()),
            RevokeAllSessionsRequest {
                except_session_id: "nope".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(bad_field(&status).as_deref(), Some("except_session_id"));
}

#[tokio::test]
async fn touch_session_reports_ended_sessions() {
    let f = fixture().await;
    let session = f
        .sessions
        .open(UserId::new(), &browser_client())
        .await
        .unwrap();
    f.sessions.revoke_one(&session.id, "logout").await.unwrap();
    let status = f
        .grpc
        .touch_session(request_as(
            Caller::for_service(),
            TouchSessionRequest {
                session_id: session.id.to_string(),
            },
        ))
        .await
        .unwrap_err();
    assert_refused(&status, Code::Unauthenticated, "SESSION_REVOKED");
}
