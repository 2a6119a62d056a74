//! The OAuth handlers over the provider port's stand-in: the messages,
//! and a signed-in caller's StartOAuth binding the state to them.

use latch_domain::{SessionId, UserId, ports::VerifiedClaims};
use latch_proto::latch::identity::v1::{self as pb, identity_service_server::IdentityService};
use latch_runtime::{
    auth::{Caller, request_as},
    status::reason_of,
};
use tonic::Code;

use crate::{grpc::IdentityGrpc, testing::Harness};

const REDIRECT: &str = "https://app.example.test/callback";

fn anonymous() -> Caller {
    Caller::anonymous(Some("192.0.2.1".into()), Some("browser/1".into()))
}

fn claims(subject: &str) -> VerifiedClaims {
    VerifiedClaims {
        subject: subject.to_owned(),
        email: Some("ada@example.com".to_owned()),
        email_verified: true,
        given_name: None,
        family_name: None,
        name: Some("Ada King Lovelace".to_owned()),
    }
}

async fn start(grpc: &IdentityGrpc, caller: Caller) -> String {
    grpc.start_o_auth(request_as(
        caller,
        pb::StartOAuthRequest {
            provider: "corp".into(),
            redirect_uri: REDIRECT.into(),
        },
    ))
    .await
    .expect("start")
    .into_inner()
    .state
}

#[tokio::test]
async fn complete_creates_and_link_binds_to_the_signed_in_caller() {
    let h = Harness::new().await;
    let grpc = IdentityGrpc::new(h.identity.clone());

    let state = start(&grpc, anonymous()).await;
    let code = h.oauth.authorize(&state, claims("sub-1"));
    let done = grpc
        .complete_o_auth(request_as(
            anonymous(),
            pb::CompleteOAuthRequest {
                provider: "corp".into(),
                code,
                state,
                client: None,
                provider_user_json: String::new(),
            },
        ))
        .await
        .expect("complete")
        .into_inner();
    assert!(done.user_created && !done.identity_linked);
    assert!(done.second_factor.is_none());
    let user = done.user.expect("user");
    assert!(user.email_verified);
    assert_eq!(done.auth.expect("tokens").user_id, user.id);
    let ada = UserId::parse("user_id", &user.id).unwrap();
    let as_ada = || Caller::for_user(ada, SessionId::generate().unwrap());

    // Started anonymously: not Ada's to link.
    let state = start(&grpc, anonymous()).await;
    let code = h.oauth.authorize(&state, claims("sub-2"));
    let link = |code: String, state: String| pb::LinkIdentityRequest {
        provider: "corp".into(),
        code,
        state,
    };
    let err = grpc
        .link_identity(request_as(as_ada(), link(code, state)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    assert_eq!(reason_of(&err).as_deref(), Some("TOKEN_INVALID"));

    let state = start(&grpc, as_ada()).await;
    let code = h.oauth.authorize(&state, claims("sub-2"));
    let linked = grpc
        .link_identity(request_as(as_ada(), link(code, state)))
        .await
        .expect("link")
        .into_inner()
        .identity
        .expect("identity");
    assert_eq!(
        (linked.provider.as_str(), linked.subject.as_str()),
        ("corp", "sub-2")
    );

    let listed = grpc
        .list_identities(request_as(as_ada(), pb::ListIdentitiesRequest {}))
        .await
        .expect("list")
        .into_inner()
        .identities;
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[1], linked);

    let err = grpc
        .unlink_identity(request_as(
            as_ada(),
            pb::UnlinkIdentityRequest {
                identity_id: "not-an-id".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    grpc.unlink_identity(request_as(
        as_ada(),
        pb::UnlinkIdentityRequest {
            identity_id: linked.id.clone(),
        },
    ))
    .await
    .expect("unlink one of two");
    let err = grpc
        .unlink_identity(request_as(
            as_ada(),
            pb::UnlinkIdentityRequest {
                identity_id: listed[0].id.clone(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(reason_of(&err).as_deref(), Some("LAST_SIGN_IN_METHOD"));
}
