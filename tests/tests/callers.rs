//! Machine callers through the real server layer: Latch's own credential,
//! service accounts (a gateway, a backend), bearer tokens sent with a
//! credential, unknown paths, and what an ADMIN may do to a SUPERADMIN.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::{path::PathBuf, sync::OnceLock};

use latch_domain::secret::sha256;
use latch_proto::latch::{
    authorization::v1::{AssignRoleRequest, CheckRequest},
    common::v1::ClientInfo,
    identity::v1::{GetUserRequest, LoginRequest, login_response},
    profile::v1::{Profile, UpdateProfileRequest},
    session::v1::{
        CreateSessionRequest, ListSessionsRequest, RevokeSessionRequest, ValidateSessionRequest,
    },
    token::v1::{
        IssueTokensRequest, RefreshTokensRequest, RevokeAllForUserRequest, RevokeFamilyRequest,
        revoke_family_request,
    },
};
use latch_runtime::{
    auth::{SERVICE_ACCOUNT_HEADER, SERVICE_ACCOUNTS, SERVICE_TOKEN_HEADER},
    config::MapSource,
};
use latch_tests::{PASSWORD, TestLatchd, bearer, e2e, must, reason, with_header};
use tonic::{Code, Request, codegen::http::uri::PathAndQuery};
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};

e2e!(
    settings = accounts_settings;
    wrong_or_short_credentials_are_refused,
    a_gateway_calls_its_public_rpcs_and_is_believed,
    a_gateway_cannot_call_internal_or_unlisted_rpcs,
    a_backend_account_calls_only_its_list,
    a_bearer_token_runs_as_its_user_whatever_rides_along,
    unknown_paths_are_refused_health_is_open,
    an_admin_cannot_act_against_a_superadmin,
);

const GATEWAY_SECRET: &str = "gw-Zq8hX3m2Vt9Lk4Wp7Rn1Bc6Yd5Fs0Ja2Ge8Hu3Ko";
const BACKEND_SECRET: &str = "be-Qw3Er5Ty7Ui9Op1As3Df5Gh7Jk9Lz2Xc4Vb6Nm8";

fn gateway() -> String {
    format!("gateway.{GATEWAY_SECRET}")
}

fn backend() -> String {
    format!("billing.{BACKEND_SECRET}")
}

/// One accounts file for the whole test binary.
fn accounts_file() -> &'static PathBuf {
    static FILE: OnceLock<PathBuf> = OnceLock::new();
    FILE.get_or_init(|| {
        // Cargo's scratch directory for integration tests, not /tmp.
        let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("latch-accounts-{}.toml", std::process::id()));
        let text = format!(
            r#"
[[account]]
name = "gateway"
secret_sha256 = ["{}"]
forward_client_info = true
rpcs = [
  "latch.identity.v1.IdentityService/SignUp",
  "latch.identity.v1.IdentityService/Login",
  "latch.token.v1.TokenService/RefreshTokens",
]

[[account]]
name = "billing"
secret_sha256 = ["{}"]
rpcs = [
  "latch.authorization.v1.AuthorizationService/Check",
  "latch.session.v1.SessionService/ValidateSession",
]
"#,
            hex::encode(sha256(GATEWAY_SECRET)),
            hex::encode(sha256(BACKEND_SECRET)),
        );
        must(std::fs::write(&path, text), "write accounts file");
        path
    })
}

fn accounts_settings() -> MapSource {
    MapSource::new().with(SERVICE_ACCOUNTS, accounts_file().display().to_string())
}

fn as_account<T>(message: T, credential: &str) -> Request<T> {
    with_header(Request::new(message), SERVICE_ACCOUNT_HEADER, credential)
}

fn login(email: &str, client: Option<ClientInfo>) -> LoginRequest {
    LoginRequest {
        email: email.to_owned(),
        password: PASSWORD.to_owned(),
        client,
    }
}

fn forwarded() -> Option<ClientInfo> {
    Some(ClientInfo {
        ip: "203.0.113.9".into(),
        user_agent: "Forwarded/1.0 (gateway test)".into(),
    })
}

async fn wrong_or_short_credentials_are_refused(latchd: TestLatchd) {
    latchd.sign_up("creds@example.com").await;
    let wrong = [
        format!("gateway.{BACKEND_SECRET}"),
        "gateway.short".to_owned(),
        format!("nobody.{GATEWAY_SECRET}"),
        GATEWAY_SECRET.to_owned(),
    ];
    for credential in wrong {
        let err = latchd
            .identity()
            .login(as_account(login("creds@example.com", None), &credential))
            .await
            .expect_err("a wrong account credential");
        assert_eq!(err.code(), Code::Unauthenticated, "{credential}");
        assert_eq!(reason(&err), "CREDENTIAL_INVALID");
        assert!(!err.message().contains(GATEWAY_SECRET));
    }
    let err = latchd
        .identity()
        .login(with_header(
            Request::new(login("creds@example.com", None)),
            SERVICE_TOKEN_HEADER,
            &"x".repeat(40),
        ))
        .await
        .expect_err("a wrong service token");
    assert_eq!(reason(&err), "CREDENTIAL_INVALID");
}

async fn a_gateway_calls_its_public_rpcs_and_is_believed(latchd: TestLatchd) {
    latchd.sign_up("gw@example.com").await;
    let login_as = |request| async {
        let response = must(latchd.identity().login(request).await, "login").into_inner();
        let Some(login_response::Result::Auth(auth)) = response.result else {
            panic!("signed in: {response:?}")
        };
        auth
    };
    let through_gateway =
        login_as(as_account(login("gw@example.com", forwarded()), &gateway())).await;
    let direct = login_as(Request::new(login("gw@example.com", forwarded()))).await;

    let sessions = must(
        latchd
            .session()
            .list_sessions(bearer(ListSessionsRequest::default(), &direct.access_token))
            .await,
        "list sessions",
    )
    .into_inner()
    .sessions;
    let ip_of = |id: &str| {
        sessions
            .iter()
            .find(|s| s.id == id)
            .map(|s| s.ip.clone())
            .expect("listed")
    };
    assert_eq!(ip_of(&through_gateway.session_id), "203.0.113.9");
    assert_ne!(
        ip_of(&direct.session_id),
        "203.0.113.9",
        "anyone else's ClientInfo is not believed"
    );
}

async fn a_gateway_cannot_call_internal_or_unlisted_rpcs(latchd: TestLatchd) {
    let auth = latchd
        .sign_up("gw-internal@example.com")
        .await
        .auth
        .expect("auth");
    let err = latchd
        .token()
        .issue_tokens(as_account(
            IssueTokensRequest {
                user_id: auth.user_id.clone(),
                session_id: auth.session_id.clone(),
                client: None,
            },
            &gateway(),
        ))
        .await
        .expect_err("internal RPC");
    assert_eq!(err.code(), Code::PermissionDenied);
    assert_eq!(reason(&err), "ACCESS_DENIED");

    let err = latchd
        .session()
        .create_session(as_account(
            CreateSessionRequest {
                user_id: auth.user_id.clone(),
                client: None,
            },
            &gateway(),
        ))
        .await
        .expect_err("internal RPC");
    assert_eq!(err.code(), Code::PermissionDenied);

    let err = latchd
        .authorization()
        .check(as_account(
            CheckRequest {
                user_id: auth.user_id,
                permission: "users.read".into(),
                resource: String::new(),
            },
            &gateway(),
        ))
        .await
        .expect_err("not on the gateway's list");
    assert_eq!(err.code(), Code::PermissionDenied);
}

async fn a_backend_account_calls_only_its_list(latchd: TestLatchd) {
    let auth = latchd
        .sign_up("backend@example.com")
        .await
        .auth
        .expect("auth");
    let check = must(
        latchd
            .authorization()
            .check(as_account(
                CheckRequest {
                    user_id: auth.user_id.clone(),
                    permission: "users.read".into(),
                    resource: String::new(),
                },
                &backend(),
            ))
            .await,
        "check",
    )
    .into_inner();
    assert!(!check.allowed, "a plain USER cannot read users");
    let valid = must(
        latchd
            .session()
            .validate_session(as_account(
                ValidateSessionRequest {
                    session_id: auth.session_id.clone(),
                },
                &backend(),
            ))
            .await,
        "validate",
    )
    .into_inner();
    assert!(valid.valid);

    let err = latchd
        .identity()
        .get_user(as_account(
            GetUserRequest {
                user_id: auth.user_id.clone(),
            },
            &backend(),
        ))
        .await
        .expect_err("grantable, but not granted");
    assert_eq!(err.code(), Code::PermissionDenied);
    let err = latchd
        .identity()
        .login(as_account(login("backend@example.com", None), &backend()))
        .await
        .expect_err("public, but not on its list");
    assert_eq!(err.code(), Code::PermissionDenied);
    let err = latchd
        .token()
        .issue_tokens(as_account(
            IssueTokensRequest {
                user_id: auth.user_id,
                session_id: auth.session_id,
                client: None,
            },
            &backend(),
        ))
        .await
        .expect_err("internal");
    assert_eq!(err.code(), Code::PermissionDenied);
}

async fn a_bearer_token_runs_as_its_user_whatever_rides_along(latchd: TestLatchd) {
    let auth = latchd
        .sign_up("climber@example.com")
        .await
        .auth
        .expect("auth");
    let grab = || AssignRoleRequest {
        user_id: auth.user_id.clone(),
        role: "SUPERADMIN".into(),
    };
    // With Latch's own credential, and with an account's, the call is the
    // user's: a plain USER may not assign roles.
    let with_service = with_header(
        bearer(grab(), &auth.access_token),
        SERVICE_TOKEN_HEADER,
        latchd.service_token(),
    );
    let err = latchd
        .authorization()
        .assign_role(with_service)
        .await
        .expect_err("bearer + service credential");
    assert_eq!(err.code(), Code::PermissionDenied);
    assert_eq!(reason(&err), "ACCESS_DENIED");
    let with_gateway = with_header(
        bearer(grab(), &auth.access_token),
        SERVICE_ACCOUNT_HEADER,
        &gateway(),
    );
    let err = latchd
        .authorization()
        .assign_role(with_gateway)
        .await
        .expect_err("bearer + gateway credential");
    assert_eq!(err.code(), Code::PermissionDenied);

    // Latch itself, without a bearer, may (bootstrap).
    must(
        latchd
            .authorization()
            .assign_role(latchd.internal(grab()))
            .await,
        "internal assign",
    );
}

async fn unknown_paths_are_refused_health_is_open(latchd: TestLatchd) {
    let mut grpc = tonic::client::Grpc::new(latchd.channel());
    let mut call = async |path: &'static str, request: Request<HealthCheckRequest>| {
        must(grpc.ready().await, "ready");
        grpc.unary::<_, HealthCheckResponse, _>(
            request,
            PathAndQuery::from_static(path),
            tonic_prost::ProstCodec::default(),
        )
        .await
    };
    let err = call(
        "/latch.nope.v1.Nope/Anything",
        latchd.internal(HealthCheckRequest::default()),
    )
    .await
    .expect_err("unknown path");
    assert_eq!(err.code(), Code::Unimplemented);
    assert_eq!(reason(&err), "UNIMPLEMENTED", "refused by the gate");

    let health = call(
        "/grpc.health.v1.Health/Check",
        Request::new(HealthCheckRequest::default()),
    )
    .await;
    assert!(health.is_ok(), "health needs no credential: {health:?}");
}

async fn an_admin_cannot_act_against_a_superadmin(latchd: TestLatchd) {
    let root = latchd.sign_up("root@example.com").await.auth.expect("auth");
    let admin = latchd
        .sign_up("admin@example.com")
        .await
        .auth
        .expect("auth");
    let user = latchd
        .sign_up("plain@example.com")
        .await
        .auth
        .expect("auth");
    for (who, role) in [(&root, "SUPERADMIN"), (&admin, "ADMIN")] {
        must(
            latchd
                .authorization()
                .assign_role(latchd.internal(AssignRoleRequest {
                    user_id: who.user_id.clone(),
                    role: role.into(),
                }))
                .await,
            "assign",
        );
    }
    let rename = |target: &str| UpdateProfileRequest {
        user_id: target.to_owned(),
        profile: Some(Profile {
            first_name: "Mallory".into(),
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["first_name".into()],
        }),
        expected_version: 0,
    };
    let revoke = |session: &str| RevokeSessionRequest {
        session_id: session.to_owned(),
        reason: "admin".into(),
    };

    let err = latchd
        .profile()
        .update_profile(bearer(rename(&root.user_id), &admin.access_token))
        .await
        .expect_err("ADMIN edits a SUPERADMIN");
    assert_eq!(err.code(), Code::PermissionDenied);
    let err = latchd
        .session()
        .revoke_session(bearer(revoke(&root.session_id), &admin.access_token))
        .await
        .expect_err("ADMIN revokes a SUPERADMIN's session");
    assert_eq!(err.code(), Code::PermissionDenied);
    let err = latchd
        .token()
        .revoke_family(bearer(
            RevokeFamilyRequest {
                target: Some(revoke_family_request::Target::SessionId(
                    root.session_id.clone(),
                )),
                reason: String::new(),
            },
            &admin.access_token,
        ))
        .await
        .expect_err("ADMIN ends a SUPERADMIN's refresh family");
    assert_eq!(err.code(), Code::PermissionDenied);
    let err = latchd
        .token()
        .revoke_all_for_user(bearer(
            RevokeAllForUserRequest {
                user_id: root.user_id.clone(),
                reason: String::new(),
            },
            &admin.access_token,
        ))
        .await
        .expect_err("ADMIN ends all a SUPERADMIN's families");
    assert_eq!(err.code(), Code::PermissionDenied);
    let refreshed = latchd
        .token()
        .refresh_tokens(RefreshTokensRequest {
            refresh_token: root.refresh_token.clone(),
            client: None,
        })
        .await;
    assert!(
        refreshed.is_ok(),
        "the refusals changed nothing: {refreshed:?}"
    );
    let still = must(
        latchd
            .session()
            .validate_session(latchd.internal(ValidateSessionRequest {
                session_id: root.session_id.clone(),
            }))
            .await,
        "validate",
    );
    assert!(still.into_inner().valid, "the refusal changed nothing");

    // An ADMIN still acts on a plain user; a SUPERADMIN on an ADMIN.
    must(
        latchd
            .profile()
            .update_profile(bearer(rename(&user.user_id), &admin.access_token))
            .await,
        "ADMIN edits a USER",
    );
    must(
        latchd
            .session()
            .revoke_session(bearer(revoke(&admin.session_id), &root.access_token))
            .await,
        "SUPERADMIN revokes an ADMIN's session",
    );
}
