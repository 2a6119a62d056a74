//! What every server promises: health per service, reflection, caller
//! classes enforced, UNIMPLEMENTED for a path outside the contract.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use latch_proto::latch::{
    profile::v1::{GetProfileRequest, GetProfileResponse},
    token::v1::IssueTokensRequest,
};
use latch_tests::{TestLatchd, bearer, e2e, must, reason};
use tonic::Code;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

e2e!(
    every_service_reports_healthy,
    reflection_lists_every_service,
    caller_classes_are_enforced,
    a_path_outside_the_contract_is_unimplemented
);

const SERVICES: [&str; 5] = [
    "latch.identity.v1.IdentityService",
    "latch.token.v1.TokenService",
    "latch.session.v1.SessionService",
    "latch.authorization.v1.AuthorizationService",
    "latch.profile.v1.ProfileService",
];

async fn every_service_reports_healthy(latchd: TestLatchd) {
    let mut health = HealthClient::new(latchd.channel());
    for service in SERVICES {
        let status = must(
            health
                .check(HealthCheckRequest {
                    service: service.into(),
                })
                .await,
            service,
        )
        .into_inner()
        .status();
        assert_eq!(status, ServingStatus::Serving, "{service}");
    }
}

async fn reflection_lists_every_service(latchd: TestLatchd) {
    use tonic_reflection::pb::{v1, v1alpha};

    let request = v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(v1::server_reflection_request::MessageRequest::ListServices(
            String::new(),
        )),
    };
    let mut client = v1::server_reflection_client::ServerReflectionClient::new(latchd.channel());
    let mut stream = must(
        client
            .server_reflection_info(tokio_stream::iter([request]))
            .await,
        "v1",
    )
    .into_inner();
    let response = must(stream.message().await, "v1 answer").expect("v1 response");
    let Some(v1::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
        response.message_response
    else {
        panic!("unexpected {response:?}");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for service in SERVICES.iter().chain(&["grpc.health.v1.Health"]) {
        assert!(
            names.iter().any(|n| n == service),
            "{service} missing from {names:?}"
        );
    }

    // v1alpha too: older grpcurl builds speak only that.
    let request = v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            v1alpha::server_reflection_request::MessageRequest::FileContainingSymbol(
                "latch.token.v1.TokenService".into(),
            ),
        ),
    };
    let mut client =
        v1alpha::server_reflection_client::ServerReflectionClient::new(latchd.channel());
    let mut stream = must(
        client
            .server_reflection_info(tokio_stream::iter([request]))
            .await,
        "v1alpha",
    )
    .into_inner();
    let response = must(stream.message().await, "v1alpha answer").expect("v1alpha response");
    assert!(
        matches!(
            response.message_response,
            Some(v1alpha::server_reflection_response::MessageResponse::FileDescriptorResponse(ref files)) if !files.file_descriptor_proto.is_empty()
        ),
        "{response:?}"
    );
}

async fn caller_classes_are_enforced(latchd: TestLatchd) {
    let auth = latchd
        .sign_up("classes@example.com")
        .await
        .auth
        .expect("auth");

    let err = latchd
        .profile()
        .get_profile(GetProfileRequest::default())
        .await
        .expect_err("no token");
    assert_eq!(err.code(), Code::Unauthenticated);
    assert_eq!(reason(&err), "AUTHENTICATION_REQUIRED");

    let err = latchd
        .profile()
        .get_profile(bearer(GetProfileRequest::default(), "garbage"))
        .await
        .expect_err("bad token");
    assert_eq!(reason(&err), "TOKEN_INVALID");

    let issue = || IssueTokensRequest {
        user_id: auth.user_id.clone(),
        session_id: auth.session_id.clone(),
        client: None,
    };
    let err = latchd
        .token()
        .issue_tokens(bearer(issue(), &auth.access_token))
        .await
        .expect_err("a user is not a service");
    assert_eq!(err.code(), Code::Unauthenticated);
    assert_eq!(reason(&err), "SERVICE_CREDENTIAL_REQUIRED");
    let pair = must(
        latchd.token().issue_tokens(latchd.internal(issue())).await,
        "internal issue",
    );
    assert!(pair.into_inner().auth.is_some());
}

/// Every RPC of the contract is built. A path it does not name (an old
/// client, a typo) is treated as internal, so a user is refused before
/// anything else (fail closed), and even Latch's own caller gets
/// UNIMPLEMENTED: it is never taken for some other RPC.
async fn a_path_outside_the_contract_is_unimplemented(latchd: TestLatchd) {
    let auth = latchd.signed_up("unknown-path@example.com").await;
    let call = async |request: tonic::Request<GetProfileRequest>| {
        let mut grpc = tonic::client::Grpc::new(latchd.channel());
        grpc.ready().await.expect("ready");
        grpc.unary::<GetProfileRequest, GetProfileResponse, _>(
            request,
            tonic::codegen::http::uri::PathAndQuery::from_static(
                "/latch.profile.v1.ProfileService/NoSuchRpc",
            ),
            tonic_prost::ProstCodec::default(),
        )
        .await
        .expect_err("no such RPC")
    };
    let as_user = call(bearer(GetProfileRequest::default(), &auth.access_token)).await;
    assert_eq!(as_user.code(), Code::Unauthenticated, "{as_user:?}");
    assert_eq!(reason(&as_user), "SERVICE_CREDENTIAL_REQUIRED");
    let internal = call(latchd.internal(GetProfileRequest::default())).await;
    assert_eq!(internal.code(), Code::Unimplemented, "{internal:?}");
}

/// Every RPC of every Latch service has its caller class written in its
/// service's POLICY, once, and the POLICY names no RPC that does not exist.
#[test]
fn every_rpc_has_exactly_one_policy_entry() {
    use std::collections::BTreeSet;

    use prost::Message as _;

    let fds = prost_types::FileDescriptorSet::decode(latch_proto::FILE_DESCRIPTOR_SET)
        .expect("descriptor set");
    let policies = [
        latch_identity::grpc::POLICY,
        latch_token::grpc::POLICY,
        latch_session::grpc::POLICY,
        latch_authorization::grpc::POLICY,
        latch_profile::grpc::POLICY,
    ];
    for policy in policies {
        let (package, service) = policy
            .service
            .rsplit_once('.')
            .expect("a full service name");
        let rpcs: BTreeSet<&str> = fds
            .file
            .iter()
            .filter(|f| f.package() == package)
            .flat_map(|f| &f.service)
            .filter(|s| s.name() == service)
            .flat_map(|s| s.method.iter().map(|m| m.name()))
            .collect();
        let listed: BTreeSet<&str> = policy.methods.iter().map(|(m, _, _)| *m).collect();
        assert!(
            !rpcs.is_empty(),
            "{} is not in the contract",
            policy.service
        );
        assert_eq!(listed, rpcs, "{}", policy.service);
        assert_eq!(
            policy.methods.len(),
            rpcs.len(),
            "{} lists an RPC twice",
            policy.service
        );
    }
}

/// The `// Caller:` comment above every RPC in the contract, by
/// `service/method`: what API.md promises its callers.
fn caller_comments() -> std::collections::BTreeMap<String, String> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../proto/latch");
    let mut comments = std::collections::BTreeMap::new();
    for package in std::fs::read_dir(&root).expect("proto/latch") {
        let dir = package.expect("entry").path().join("v1");
        for file in std::fs::read_dir(&dir).into_iter().flatten() {
            let text = std::fs::read_to_string(file.expect("file").path()).expect("proto");
            let package = text
                .lines()
                .find_map(|l| l.strip_prefix("package "))
                .map(|p| p.trim_end_matches(';').to_owned());
            let (mut service, mut caller) = (String::new(), None::<String>);
            for line in text.lines().map(str::trim) {
                if let Some(name) = line.strip_prefix("service ") {
                    let name = name.trim_end_matches('{').trim();
                    service = format!("{}.{name}", package.clone().expect("package"));
                } else if let Some(rest) = line.strip_prefix("// Caller:") {
                    caller = Some(rest.trim().to_owned());
                } else if let Some(rest) = line.strip_prefix("rpc ") {
                    let method = rest.split('(').next().expect("rpc name").trim();
                    let said = caller
                        .take()
                        .unwrap_or_else(|| panic!("{service}/{method} has no // Caller: comment"));
                    comments.insert(format!("{service}/{method}"), said);
                }
            }
        }
    }
    comments
}

/// Every RPC's whole rule in its POLICY (caller class and permission rule)
/// says what its `// Caller:` comment says: a forgotten or wrong permission
/// fails here, not in production.
#[test]
fn every_rule_matches_its_caller_comment() {
    use latch_runtime::auth::Access;

    let comments = caller_comments();
    let policies = [
        latch_identity::grpc::POLICY,
        latch_token::grpc::POLICY,
        latch_session::grpc::POLICY,
        latch_authorization::grpc::POLICY,
        latch_profile::grpc::POLICY,
    ];
    let mut checked = 0;
    for policy in policies {
        // Every rule's field exists in the contract (else the start fails).
        latch_runtime::auth::PolicyTable::new(&[policy]).expect("fields resolve");
        for (method, access, rule) in policy.methods {
            let rpc = format!("{}/{method}", policy.service);
            let said = comments
                .get(&rpc)
                .unwrap_or_else(|| panic!("{rpc} not in the contract"));
            let parts: Vec<&str> = said.split(',').map(str::trim).collect();
            let has = |what: &str| parts.contains(&what);
            let admin = parts
                .iter()
                .find_map(|p| p.strip_prefix("admin [").and_then(|p| p.strip_suffix(']')));
            let public = has("public");
            assert_eq!(public, access.is_public(), "{rpc}: {said} vs {access:?}");
            if public {
                // "public, user": a bearer, when sent, is the caller's.
                assert_eq!(
                    has("user"),
                    *access == Access::PublicOrUser,
                    "{rpc}: {said} vs {access:?}"
                );
                assert_eq!(rule.permission(), None, "{rpc}");
                continue;
            }
            let users = has("user") || admin.is_some();
            assert_eq!(users, access.admits_users(), "{rpc}: {said} vs {access:?}");
            let machines = has("internal") || has("service account");
            assert_eq!(
                machines,
                access.admits_latch(),
                "{rpc}: {said} vs {access:?}"
            );
            assert_eq!(
                has("service account"),
                access.grantable(),
                "{rpc}: {said} vs {access:?}"
            );
            assert_eq!(rule.permission(), admin, "{rpc}: {said} vs {rule:?}");
            if admin.is_some() {
                assert_eq!(has("user"), rule.owner_may(), "{rpc}: {said} vs {rule:?}");
            }
            checked += 1;
        }
    }
    assert!(checked > 40, "only {checked} rules checked");
}
