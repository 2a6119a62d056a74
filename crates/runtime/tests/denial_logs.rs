//! Refusals are logged at info with the caller and the RPC, and never with
//! a secret. In a test binary of its own: tracing caches each log site's
//! interest process-wide, and another test reaching the same site on a
//! thread with no subscriber at the wrong moment could hide the line from
//! this test's thread-local capture.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::{convert::Infallible, sync::Arc};

use async_trait::async_trait;
use http::{Request, Response};
use latch_domain::{
    Error, ManualClock, Reason, Result, SessionId, UserId, ports::RoleDirectory, secret::Secret,
};
use latch_runtime::auth::{
    Access, AuthLayer, Authenticator, GroupRates, MachineCallers, PolicyTable, PublicRateLimits,
    Rule, SERVICE_ACCOUNT_HEADER, ServiceAccounts, ServicePolicy, UserPrincipal,
};
use latch_store::memory::MemoryRateLimiter;
use latch_testkit::LogCapture;
use tonic::body::Body;
use tower::{Layer, ServiceExt};

const POLICY: ServicePolicy = ServicePolicy {
    service: "latch.x.v1.X",
    methods: &[
        ("Mine", Access::User, Rule::None),
        ("Check", Access::UserOrService, Rule::None),
        ("Issue", Access::Internal, Rule::None),
    ],
    rate_groups: &[],
};

const TOKEN: &str = "latch-service-token-0123456789abcdefghij";
const ACCOUNT_SECRET: &str = "billing-secret-0123456789abcdefghijklmnop";

struct AnyUser;

#[async_trait]
impl Authenticator for AnyUser {
    async fn authenticate(&self, _bearer: &str) -> Result<UserPrincipal> {
        Ok(UserPrincipal {
            user_id: UserId::new(),
            session_id: SessionId::generate()?,
            roles: Vec::new(),
        })
    }
}

/// No one holds anything.
struct NoGrants;

#[async_trait]
impl RoleDirectory for NoGrants {
    async fn role_names(&self, _: UserId) -> Result<Vec<String>> {
        Ok(Vec::new())
    }
    async fn has_permission(&self, _: UserId, _: &str) -> Result<bool> {
        Ok(false)
    }
    async fn assign(&self, _: UserId, _: &str) -> Result<bool> {
        Err(Error::new(Reason::Internal, "not here"))
    }
    async fn unassign(&self, _: UserId, _: &str) -> Result<bool> {
        Err(Error::new(Reason::Internal, "not here"))
    }
}

/// Refuses `Mine` itself (as a handler that loaded something would).
async fn handler(request: Request<Body>) -> std::result::Result<Response<Body>, Infallible> {
    let mut response = Response::new(Body::empty());
    if request.uri().path().ends_with("/Mine") {
        response
            .headers_mut()
            .insert("grpc-status", http::HeaderValue::from_static("7"));
    }
    Ok(response)
}

async fn call(layer: &AuthLayer, path: &str, header: (&'static str, &str)) -> String {
    let request = Request::builder()
        .uri(format!("http://latch{path}"))
        .header(header.0, header.1)
        .body(Body::empty())
        .unwrap();
    let service = layer.clone().layer(tower::service_fn(handler));
    let response = service.oneshot(request).await.unwrap();
    response
        .headers()
        .get("grpc-status")
        .map_or_else(|| "0".to_owned(), |v| v.to_str().unwrap().to_owned())
}

#[tokio::test(flavor = "current_thread")]
async fn refusals_are_logged_with_caller_and_rpc_but_no_secret() {
    let logs = LogCapture::default();
    let _guard = logs.install();
    let accounts = ServiceAccounts::parse(&format!(
        "[[account]]\nname = \"billing\"\nsecret_sha256 = [\"{}\"]\nrpcs = [\"latch.x.v1.X/Check\"]",
        hex::encode(latch_domain::secret::sha256(ACCOUNT_SECRET)),
    ))
    .unwrap();
    let layer = AuthLayer::new(
        PolicyTable::new(&[POLICY]).unwrap(),
        Arc::new(AnyUser),
        MachineCallers::latch_only(Secret::new(TOKEN.to_owned())).with_accounts(accounts),
        PublicRateLimits::new(
            Arc::new(MemoryRateLimiter::new(
                Arc::new(ManualClock::starting_now()),
            )),
            GroupRates::default(),
        ),
        Arc::new(NoGrants),
    )
    .unwrap();

    // An account off its list: refused at the gate.
    let credential = format!("billing.{ACCOUNT_SECRET}");
    let status = call(
        &layer,
        "/latch.x.v1.X/Issue",
        (SERVICE_ACCOUNT_HEADER, credential.as_str()),
    )
    .await;
    assert_eq!(status, "7");
    // A handler's own refusal of a user.
    let status = call(
        &layer,
        "/latch.x.v1.X/Mine",
        ("authorization", "Bearer good"),
    )
    .await;
    assert_eq!(status, "7");

    let text = logs.text();
    let denials: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("permission denied"))
        .collect();
    assert_eq!(denials.len(), 2, "{text}");
    assert!(denials[0].contains("/latch.x.v1.X/Issue") && denials[0].contains("billing"));
    assert!(denials[1].contains("/latch.x.v1.X/Mine") && denials[1].contains("user:"));
    assert!(denials.iter().all(|l| l.contains("INFO")));
    assert!(!text.contains(ACCOUNT_SECRET) && !text.contains(TOKEN));
}
