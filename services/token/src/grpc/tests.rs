//! Handlers called directly, with the `Caller` the auth layer would leave.

use latch_domain::{UserId, model::permission};
use latch_proto::latch::{
    common::v1::ClientInfo as ProtoClientInfo,
    token::v1::{
        GetJwksRequest, IntrospectRequest, IssueTokensRequest, RefreshTokensRequest,
        RevokeAllForUserRequest, RevokeFamilyRequest, RevokeTokenRequest, RotateSigningKeyRequest,
        ValidateAccessTokenRequest, revoke_family_request::Target,
        token_service_server::TokenService,
    },
};
use latch_runtime::{
    auth::{Access, Caller, request_as},
    status::reason_of,
};
use tonic::{Code, Request, Status};

use super::{POLICY, TokenGrpc};
use crate::testing::Harness;

fn grpc(h: &Harness) -> TokenGrpc {
    TokenGrpc::new(h.tokens.clone(), h.roles.clone())
}

fn anonymous() -> Caller {
    Caller::anonymous(Some("198.51.100.9".to_owned()), Some("curl/8".to_owned()))
}

fn user(h: &Harness) -> (Caller, UserId) {
    let (user_id, session_id) = h.signed_in();
    (Caller::for_user(user_id, session_id), user_id)
}

fn assert_refused(status: Status, code: Code, reason: &str) {
    assert_eq!(status.code(), code, "{status:?}");
    assert_eq!(reason_of(&status).as_deref(), Some(reason), "{status:?}");
}

#[test]
fn the_token_rpcs_have_their_caller_classes() {
    assert_eq!(POLICY.service, "latch.token.v1.TokenService");
    let access = |rpc: &str| {
        POLICY
            .methods
            .iter()
            .find(|(n, _, _)| *n == rpc)
            .map(|(_, a, _)| *a)
    };
    assert_eq!(access("IssueTokens"), Some(Access::Internal));
    assert_eq!(access("RefreshTokens"), Some(Access::Public));
    assert_eq!(access("RotateSigningKey"), Some(Access::User));
}

#[tokio::test]
async fn a_service_issues_tokens_for_the_client_it_names() {
    let h = Harness::new().await;
    let (user_id, session_id) = h.signed_in();
    let auth = grpc(&h)
        .issue_tokens(request_as(
            Caller::for_service(),
            IssueTokensRequest {
                user_id: user_id.to_string(),
                session_id: session_id.to_string(),
                client: Some(ProtoClientInfo {
                    ip: "203.0.113.50".to_owned(),
                    user_agent: "Firefox".to_owned(),
                }),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .auth
        .unwrap();
    assert_eq!(auth.user_id, user_id.to_string());
    assert_eq!(auth.session_id, session_id.to_string());
    assert!(auth.access_token_expires_at.is_some() && auth.refresh_token_expires_at.is_some());
    let (row, _) = h
        .deps()
        .refresh_tokens
        .find_by_hash(&latch_domain::secret::sha256(&auth.refresh_token))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        row.user_agent.as_deref(),
        Some("Firefox"),
        "a service's ClientInfo is trusted"
    );
}

#[tokio::test]
async fn malformed_ids_name_their_field() {
    let h = Harness::new().await;
    let status = grpc(&h)
        .issue_tokens(request_as(
            Caller::for_service(),
            IssueTokensRequest {
                user_id: "nope".to_owned(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_refused(status, Code::InvalidArgument, "INVALID_ARGUMENT");
}

#[tokio::test]
async fn anyone_refreshes_and_reuse_is_unauthenticated() {
    let h = Harness::new().await;
    let pair = h.issue().await;
    let refresh = |token: &str| {
        request_as(
            anonymous(),
            RefreshTokensRequest {
                refresh_token: token.to_owned(),
                // Not a service: the claimed client is ignored.
                client: Some(ProtoClientInfo {
                    ip: "1.2.3.4".to_owned(),
                    user_agent: "spoofed".to_owned(),
                }),
            },
        )
    };
    let grpc = grpc(&h);
    let auth = grpc
        .refresh_tokens(refresh(&pair.refresh_token))
        .await
        .unwrap()
        .into_inner()
        .auth
        .unwrap();
    let (row, _) = h
        .deps()
        .refresh_tokens
        .find_by_hash(&latch_domain::secret::sha256(&auth.refresh_token))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.user_agent.as_deref(), Some("curl/8"));

    h.advance(chrono::TimeDelta::seconds(60));
    let status = grpc
        .refresh_tokens(refresh(&pair.refresh_token))
        .await
        .unwrap_err();
    assert_refused(status, Code::Unauthenticated, "REFRESH_TOKEN_REUSED");
}

#[tokio::test]
async fn validation_returns_claims_or_the_reason() {
    let h = Harness::new().await;
    let pair = h.issue().await;
    let grpc = grpc(&h);
    let claims = grpc
        .validate_access_token(request_as(
            anonymous(),
            ValidateAccessTokenRequest {
                access_token: pair.access_token.clone(),
                check_session: true,
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .claims
        .unwrap();
    assert_eq!(claims.sub, pair.user_id.to_string());
    assert_eq!(claims.roles, vec!["USER".to_owned()]);
    assert_eq!(
        claims.exp.map(|t| t.seconds),
        Some(pair.access_token_expires_at.timestamp())
    );

    let status = grpc
        .validate_access_token(request_as(
            anonymous(),
            ValidateAccessTokenRequest {
                access_token: format!("{}x", pair.access_token),
                check_session: false,
            },
        ))
        .await
        .unwrap_err();
    assert_refused(status, Code::Unauthenticated, "TOKEN_INVALID");
}

#[tokio::test]
async fn introspection_describes_any_token() {
    let h = Harness::new().await;
    let pair = h.issue().await;
    let grpc = grpc(&h);
    let introspect = |token: &str| {
        request_as(
            Caller::for_service(),
            IntrospectRequest {
                token: token.to_owned(),
                token_type_hint: String::new(),
            },
        )
    };
    let access = grpc
        .introspect(introspect(&pair.access_token))
        .await
        .unwrap()
        .into_inner();
    assert!(access.active);
    assert_eq!(access.token_type, "access_token");
    let refresh = grpc
        .introspect(introspect(&pair.refresh_token))
        .await
        .unwrap()
        .into_inner();
    assert!(refresh.active);
    assert_eq!(refresh.token_type, "refresh_token");
    assert_eq!(
        refresh.claims.map(|c| c.sid),
        Some(pair.session_id.to_string())
    );
    for token in ["", "garbage", "a.b.c"] {
        let response = grpc
            .introspect(introspect(token))
            .await
            .unwrap()
            .into_inner();
        assert!(!response.active && response.claims.is_none(), "{token}");
    }
    grpc.revoke_token(request_as(
        anonymous(),
        RevokeTokenRequest {
            token: pair.refresh_token.clone(),
            token_type_hint: String::new(),
        },
    ))
    .await
    .unwrap();
    let revoked = grpc
        .introspect(introspect(&pair.refresh_token))
        .await
        .unwrap()
        .into_inner();
    assert!(!revoked.active);
}

#[tokio::test]
async fn revoking_a_family_by_id_tells_unknown_from_already_revoked() {
    use latch_domain::{FamilyId, ports::RefreshTokenRepository, secret::sha256};

    let h = Harness::new().await;
    let pair = h.issue().await;
    let grpc = grpc(&h);
    let repo = latch_store::sql::SqlRefreshTokens::new(h.storage.db().clone());
    let (_, family) = repo
        .find_by_hash(&sha256(&pair.refresh_token))
        .await
        .unwrap()
        .expect("the issued token's family");
    let by_id = |id: FamilyId| RevokeFamilyRequest {
        target: Some(Target::FamilyId(id.to_string())),
        reason: String::new(),
    };

    let first = grpc
        .revoke_family(request_as(Caller::for_service(), by_id(family.id)))
        .await
        .unwrap();
    assert_eq!(first.into_inner().revoked, 1);
    let again = grpc
        .revoke_family(request_as(Caller::for_service(), by_id(family.id)))
        .await
        .unwrap();
    assert_eq!(again.into_inner().revoked, 0, "idempotent");
    let status = grpc
        .revoke_family(request_as(Caller::for_service(), by_id(FamilyId::new())))
        .await
        .unwrap_err();
    assert_refused(status, Code::NotFound, "NOT_FOUND");
}

/// `caller` on `rpc`, with the rule the auth layer would have applied (the
/// layer's own checks are tested with the layer, and end to end).
fn on(caller: Caller, rpc: &str) -> Caller {
    let rule = POLICY
        .methods
        .iter()
        .find(|(name, _, _)| *name == rpc)
        .map(|(_, _, rule)| *rule)
        .expect("an RPC of the policy");
    caller.with_rule(rule)
}

#[tokio::test]
async fn revoking_a_loaded_family_checks_its_owner() {
    let h = Harness::new().await;
    let pair = h.issue().await;
    let grpc = grpc(&h);
    let by_session = RevokeFamilyRequest {
        target: Some(Target::SessionId(pair.session_id.to_string())),
        reason: "suspicious".to_owned(),
    };
    // The owner of the family is not enough: the rule wants the permission.
    let owner = on(
        Caller::for_user(pair.user_id, pair.session_id.clone()),
        "RevokeFamily",
    );
    let status = grpc
        .revoke_family(request_as(owner, by_session.clone()))
        .await
        .unwrap_err();
    assert_refused(status, Code::PermissionDenied, "ACCESS_DENIED");

    let (admin, admin_id) = user(&h);
    h.roles
        .grant_permission(admin_id, permission::SESSIONS_WRITE);
    let admin = on(admin, "RevokeFamily");
    let revoked = grpc
        .revoke_family(request_as(admin.clone(), by_session.clone()))
        .await
        .unwrap();
    assert_eq!(revoked.into_inner().revoked, 1);
    let again = grpc
        .revoke_family(request_as(Caller::for_service(), by_session))
        .await
        .unwrap();
    assert_eq!(again.into_inner().revoked, 0, "idempotent");

    let status = grpc
        .revoke_family(request_as(admin.clone(), RevokeFamilyRequest::default()))
        .await
        .unwrap_err();
    assert_refused(status, Code::InvalidArgument, "INVALID_ARGUMENT");

    // A handler given a caller the layer did not mark fails closed.
    let (unmarked, _) = user(&h);
    let other = h.issue().await;
    let status = grpc
        .revoke_family(request_as(
            unmarked,
            RevokeFamilyRequest {
                target: Some(Target::SessionId(other.session_id.to_string())),
                reason: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Internal);

    let status = grpc
        .revoke_all_for_user(request_as(
            admin,
            RevokeAllForUserRequest {
                user_id: pair.user_id.to_string(),
                reason: "x".repeat(65),
            },
        ))
        .await
        .unwrap_err();
    assert_refused(status, Code::InvalidArgument, "INVALID_ARGUMENT");
}

#[tokio::test]
async fn a_rotated_key_is_published() {
    let h = Harness::new().await;
    let grpc = grpc(&h);
    let kid = grpc
        .rotate_signing_key(request_as(
            Caller::for_service(),
            RotateSigningKeyRequest {},
        ))
        .await
        .unwrap()
        .into_inner()
        .kid;
    let jwks = grpc
        .get_jwks(request_as(anonymous(), GetJwksRequest {}))
        .await
        .unwrap()
        .into_inner()
        .jwks_json;
    assert!(jwks.contains(&kid));
}

#[tokio::test]
async fn a_handler_without_the_auth_layer_fails_closed() {
    let h = Harness::new().await;
    let status = grpc(&h)
        .issue_tokens(Request::new(IssueTokensRequest::default()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Internal);
}
