use latch_domain::{SessionId, UserId, ports::RoleDirectory};
use latch_proto::latch::common::v1 as common;
use latch_runtime::{
    auth::{request_as, request_through},
    status::reason_of,
};
use tonic::Code;

use super::*;
use crate::testing::*;

fn anonymous() -> Caller {
    Caller::anonymous(Some("192.0.2.1".into()), Some("browser/1".into()))
}

fn sign_up_message(email: &str) -> pb::SignUpRequest {
    pb::SignUpRequest {
        email: email.into(),
        password: PASSWORD.into(),
        first_name: "Ada".into(),
        last_name: "Lovelace".into(),
        phone: None,
        client: Some(common::ClientInfo {
            ip: "203.0.113.99".into(),
            user_agent: "spoofed".into(),
        }),
    }
}

#[tokio::test]
async fn sign_up_and_login_answer_with_tokens_and_ignore_an_untrusted_client_claim() {
    let h = Harness::new().await;
    let grpc = IdentityGrpc::new(h.identity.clone());

    let signed_up = grpc
        .sign_up(request_as(anonymous(), sign_up_message("ada@example.com")))
        .await
        .unwrap()
        .into_inner();
    let user = signed_up.user.unwrap();
    assert_eq!(user.status, common::UserStatus::Active as i32);
    assert_eq!(signed_up.auth.unwrap().user_id, user.id);

    let login = grpc
        .login(request_as(
            anonymous(),
            pb::LoginRequest {
                email: "ada@example.com".into(),
                password: PASSWORD.into(),
                client: Some(common::ClientInfo {
                    ip: "203.0.113.99".into(),
                    user_agent: "spoofed".into(),
                }),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let Some(login_response::Result::Auth(auth)) = login.result else {
        panic!("signed in")
    };
    assert_eq!(auth.user_id, user.id);
    let sessions = h.sessions.created.lock().unwrap().clone();
    assert!(
        sessions
            .iter()
            .all(|s| s.client.ip.as_deref() == Some("192.0.2.1"))
    );
    assert!(
        sessions
            .iter()
            .all(|s| s.client.user_agent.as_deref() == Some("browser/1"))
    );
}

#[tokio::test]
async fn a_gateway_holding_the_credential_passes_the_client_on() {
    let h = Harness::new().await;
    let grpc = IdentityGrpc::new(h.identity.clone());
    grpc.sign_up(request_as(
        Caller::for_service(),
        sign_up_message("ada@example.com"),
    ))
    .await
    .unwrap();
    let session = h.sessions.created.lock().unwrap()[0].clone();
    assert_eq!(session.client.ip.as_deref(), Some("203.0.113.99"));
}

#[tokio::test]
async fn errors_carry_their_stable_reason() {
    let h = Harness::new().await;
    let grpc = IdentityGrpc::new(h.identity.clone());
    let status = grpc
        .login(request_as(
            anonymous(),
            pb::LoginRequest {
                email: "nobody@example.com".into(),
                password: "whatever it is".into(),
                client: None,
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(reason_of(&status).as_deref(), Some("INVALID_CREDENTIALS"));

    let mut weak = sign_up_message("ada@example.com");
    weak.password = "password".into();
    let status = grpc
        .sign_up(request_as(anonymous(), weak))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(reason_of(&status).as_deref(), Some("WEAK_PASSWORD"));
}

#[tokio::test]
async fn get_user_serves_the_owner_admins_and_services_only() {
    let h = Harness::new().await;
    let grpc = IdentityGrpc::new(h.identity.clone());
    let ada = h
        .identity
        .sign_up(sign_up_request("ada@example.com"))
        .await
        .unwrap()
        .user
        .id;
    let bob = h
        .identity
        .sign_up(sign_up_request("bob@example.com"))
        .await
        .unwrap()
        .user
        .id;
    // Through the policy's rule, as the auth layer would apply it.
    let get = |caller: Caller, id: &str| {
        let message = pb::GetUserRequest { user_id: id.into() };
        let (grpc, roles) = (&grpc, h.roles.clone());
        async move {
            let request =
                request_through(&POLICY, "GetUser", caller, message, roles.as_ref()).await?;
            grpc.get_user(request).await
        }
    };

    let own = get(Caller::for_user(ada, SessionId::generate().unwrap()), "")
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap();
    assert_eq!(own.email, "ada@example.com");

    let denied = get(
        Caller::for_user(bob, SessionId::generate().unwrap()),
        &ada.to_string(),
    )
    .await
    .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    assert_eq!(reason_of(&denied).as_deref(), Some("ACCESS_DENIED"));

    h.roles.assign(bob, "SUPERADMIN").await.unwrap();
    get(
        Caller::for_user(bob, SessionId::generate().unwrap()),
        &ada.to_string(),
    )
    .await
    .unwrap();
    get(Caller::for_service(), &ada.to_string()).await.unwrap();

    let missing = get(Caller::for_service(), "").await.unwrap_err();
    assert_eq!(missing.code(), Code::InvalidArgument);
    let unknown = get(Caller::for_service(), &UserId::new().to_string())
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
}

#[tokio::test]
async fn logout_revokes_the_session_of_the_token() {
    let h = Harness::new().await;
    let grpc = IdentityGrpc::new(h.identity.clone());
    let session = SessionId::generate().unwrap();
    let caller = Caller::for_user(UserId::new(), session.clone());
    grpc.logout(request_as(caller, pb::LogoutRequest {}))
        .await
        .unwrap();
    assert_eq!(
        h.sessions.revoked.lock().unwrap().clone(),
        [(session, "logout".to_owned())]
    );
    let status = grpc
        .logout(request_as(anonymous(), pb::LogoutRequest {}))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
}
