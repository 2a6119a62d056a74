//! The gate on its own: refusals are logged at info with the caller and
//! the RPC, and never with a secret.

use std::{convert::Infallible, sync::Arc};

use async_trait::async_trait;
use http::{Request, Response};
use latch_domain::{Error, Reason, Result, SessionId, UserId, secret::Secret};
use latch_testkit::LogCapture;
use tonic::body::Body;
use tower::{Layer, ServiceExt};

use super::*;
use crate::auth::{ServiceAccounts, ServicePolicy};

const POLICY: ServicePolicy = ServicePolicy {
    service: "latch.x.v1.X",
    methods: &[
        ("Open", Access::Public),
        ("Mine", Access::User),
        ("Check", Access::UserOrService),
        ("Issue", Access::Internal),
    ],
};

const TOKEN: &str = "latch-service-token-0123456789abcdefghij";
const ACCOUNT_SECRET: &str = "billing-secret-0123456789abcdefghijklmnop";

/// Every bearer token is the same user.
struct AnyUser;

#[async_trait]
impl Authenticator for AnyUser {
    async fn authenticate(&self, bearer: &str) -> Result<UserPrincipal> {
        if bearer == "good" {
            Ok(UserPrincipal {
                user_id: UserId::new(),
                session_id: SessionId::generate()?,
                roles: Vec::new(),
            })
        } else {
            Err(Error::new(Reason::TokenInvalid, "bad token"))
        }
    }
}

fn layer() -> AuthLayer {
    let accounts = ServiceAccounts::parse(&format!(
        "[[account]]\nname = \"billing\"\nsecret_sha256 = [\"{}\"]\nrpcs = [\"latch.x.v1.X/Check\"]",
        hex::encode(latch_domain::secret::sha256(ACCOUNT_SECRET))
    ))
    .unwrap();
    AuthLayer::new(
        PolicyTable::new(&[POLICY]),
        Arc::new(AnyUser),
        MachineCallers::latch_only(Secret::new(TOKEN.to_owned())).with_accounts(accounts),
    )
    .unwrap()
}

/// A handler that refuses with PERMISSION_DENIED when asked to, and
/// otherwise answers OK; either way it reports the caller it was given.
async fn handler(request: Request<Body>) -> Result<Response<Body>, Infallible> {
    let deny = request.uri().path().ends_with("/Mine");
    let mut response = Response::new(Body::empty());
    if deny {
        response
            .headers_mut()
            .insert("grpc-status", http::HeaderValue::from_static("7"));
    }
    Ok(response)
}

async fn call(path: &str, headers: &[(&'static str, &str)]) -> Response<Body> {
    let mut builder = Request::builder().uri(format!("http://latch{path}"));
    for (key, value) in headers {
        builder = builder.header(*key, *value);
    }
    let request = builder.body(Body::empty()).unwrap();
    let service = layer().layer(tower::service_fn(handler));
    service.oneshot(request).await.unwrap()
}

fn status_of(response: &Response<Body>) -> String {
    response
        .headers()
        .get("grpc-status")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_else(|| "0".to_owned())
}

#[tokio::test(flavor = "current_thread")]
async fn refusals_are_logged_with_caller_and_rpc_but_no_secret() {
    let logs = LogCapture::default();
    let _guard = logs.install();

    // An account off its list: refused at the gate.
    let credential = format!("billing.{ACCOUNT_SECRET}");
    let response = call(
        "/latch.x.v1.X/Issue",
        &[(SERVICE_ACCOUNT_HEADER, credential.as_str())],
    )
    .await;
    assert_eq!(status_of(&response), "7");
    // A handler's own refusal of a user.
    let response = call("/latch.x.v1.X/Mine", &[("authorization", "Bearer good")]).await;
    assert_eq!(status_of(&response), "7");

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

#[tokio::test(flavor = "current_thread")]
async fn the_gate_decides_before_any_handler() {
    // Latch's own token on an internal RPC; an account on its list.
    assert_eq!(
        status_of(&call("/latch.x.v1.X/Issue", &[(SERVICE_TOKEN_HEADER, TOKEN)]).await),
        "0"
    );
    let credential = format!("billing.{ACCOUNT_SECRET}");
    assert_eq!(
        status_of(
            &call(
                "/latch.x.v1.X/Check",
                &[(SERVICE_ACCOUNT_HEADER, credential.as_str())]
            )
            .await
        ),
        "0"
    );
    // Both credentials at once, a wrong token, an unknown path.
    let both = [
        (SERVICE_TOKEN_HEADER, TOKEN),
        (SERVICE_ACCOUNT_HEADER, credential.as_str()),
    ];
    assert_eq!(status_of(&call("/latch.x.v1.X/Check", &both).await), "16");
    let wrong = "x".repeat(TOKEN.len());
    assert_eq!(
        status_of(
            &call(
                "/latch.x.v1.X/Open",
                &[(SERVICE_TOKEN_HEADER, wrong.as_str())]
            )
            .await
        ),
        "16"
    );
    assert_eq!(status_of(&call("/latch.y.v1.Y/Open", &[]).await), "12");
    // A user token on an internal RPC is no service.
    assert_eq!(
        status_of(&call("/latch.x.v1.X/Issue", &[("authorization", "Bearer good")]).await),
        "16"
    );
}

#[test]
fn an_account_granted_an_internal_rpc_stops_the_start() {
    let accounts = ServiceAccounts::parse(&format!(
        "[[account]]\nname = \"greedy\"\nsecret_sha256 = [\"{}\"]\nrpcs = [\"latch.x.v1.X/Issue\"]",
        hex::encode(latch_domain::secret::sha256(ACCOUNT_SECRET))
    ))
    .unwrap();
    let built = AuthLayer::new(
        PolicyTable::new(&[POLICY]),
        Arc::new(AnyUser),
        MachineCallers::latch_only(Secret::new(TOKEN.to_owned())).with_accounts(accounts),
    );
    let err = built.err().expect("refused");
    assert!(err.to_string().contains("greedy"), "{err}");
}
