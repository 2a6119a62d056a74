//! The gate on its own: refusals are logged at info with the caller and
//! the RPC, and never with a secret.

use std::{convert::Infallible, sync::Arc};

use async_trait::async_trait;
use http::{Request, Response};
use latch_domain::{
    Error, ManualClock, Reason, Result, SessionId, UserId, ports::Rate, secret::Secret,
};
use latch_store::memory::MemoryRateLimiter;
use tonic::body::Body;
use tower::{Layer, ServiceExt};

use super::*;
use crate::auth::{GroupRates, RateGroup, Rule, ServiceAccounts, ServicePolicy};

mod rules;

const POLICY: ServicePolicy = ServicePolicy {
    service: "latch.x.v1.X",
    methods: &[
        ("Open", Access::Public, Rule::None),
        ("Mine", Access::User, Rule::None),
        ("Check", Access::UserOrService, Rule::None),
        ("Issue", Access::Internal, Rule::None),
        ("SignIn", Access::Public, Rule::None),
        ("Start", Access::PublicOrUser, Rule::None),
    ],
    rate_groups: &[("SignIn", RateGroup::SignIn)],
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
    layer_with(GroupRates::default())
}

/// The gate with `rates`, over a limiter of its own on a clock of its own.
fn layer_with(rates: GroupRates) -> AuthLayer {
    let accounts = ServiceAccounts::parse(&format!(
        "[[account]]\nname = \"billing\"\nsecret_sha256 = [\"{}\"]\nrpcs = [\"latch.x.v1.X/Check\"]\n\n\
         [[account]]\nname = \"edge\"\nsecret_sha256 = [\"{}\"]\nforward_client_info = true\n\
         rpcs = [\"latch.x.v1.X/SignIn\"]",
        hex::encode(latch_domain::secret::sha256(ACCOUNT_SECRET)),
        hex::encode(latch_domain::secret::sha256(ACCOUNT_SECRET)),
    ))
    .unwrap();
    let limiter = MemoryRateLimiter::new(Arc::new(ManualClock::starting_now()));
    AuthLayer::new(
        PolicyTable::new(&[POLICY]).unwrap(),
        Arc::new(AnyUser),
        MachineCallers::latch_only(Secret::new(TOKEN.to_owned())).with_accounts(accounts),
        PublicRateLimits::new(Arc::new(limiter), rates),
        Arc::new(rules::Grants::default()),
    )
    .unwrap()
}

/// A handler that refuses with PERMISSION_DENIED when asked to, and
/// otherwise answers OK; either way it reports the caller it was given.
async fn handler(request: Request<Body>) -> Result<Response<Body>, Infallible> {
    let deny = request.uri().path().ends_with("/Mine");
    let who = request
        .extensions()
        .get::<Caller>()
        .map_or_else(|| "none".to_owned(), Caller::describe);
    let mut response = Response::new(Body::empty());
    response
        .headers_mut()
        .insert("x-caller", http::HeaderValue::from_str(&who).unwrap());
    if deny {
        response
            .headers_mut()
            .insert("grpc-status", http::HeaderValue::from_static("7"));
    }
    Ok(response)
}

async fn call(path: &str, headers: &[(&'static str, &str)]) -> Response<Body> {
    call_through(&layer(), path, headers, None).await
}

/// One request through `layer`, from `peer` when given.
async fn call_through(
    layer: &AuthLayer,
    path: &str,
    headers: &[(&'static str, &str)],
    peer: Option<&str>,
) -> Response<Body> {
    let mut builder = Request::builder().uri(format!("http://latch{path}"));
    for (key, value) in headers {
        builder = builder.header(*key, *value);
    }
    let mut request = builder.body(Body::empty()).unwrap();
    if let Some(peer) = peer {
        request.extensions_mut().insert(TcpConnectInfo {
            local_addr: None,
            remote_addr: Some(peer.parse().unwrap()),
        });
    }
    let service = layer.clone().layer(tower::service_fn(handler));
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

/// The reason and the RetryInfo delay of a refused response.
fn refusal(response: &Response<Body>) -> (String, Option<std::time::Duration>) {
    let status = tonic::Status::from_header_map(response.headers()).expect("a status");
    let retry = tonic_types::StatusExt::get_details_retry_info(&status).and_then(|r| r.retry_delay);
    (crate::status::reason_of(&status).unwrap_or_default(), retry)
}

#[tokio::test(flavor = "current_thread")]
async fn public_rpcs_are_limited_per_client_address_before_any_handler() {
    let minute = std::time::Duration::from_secs(60);
    let layer = layer_with(
        GroupRates::default()
            .with(RateGroup::SignIn, Rate::per(2, minute))
            .with(RateGroup::Default, Rate::per(1, minute)),
    );
    let from = |peer| call_through(&layer, "/latch.x.v1.X/SignIn", &[], Some(peer));
    assert_eq!(status_of(&from("203.0.113.1:4000").await), "0");
    assert_eq!(status_of(&from("203.0.113.1:4001").await), "0");
    let refused = from("203.0.113.1:4002").await;
    assert_eq!(status_of(&refused), "8", "RESOURCE_EXHAUSTED");
    assert_eq!(
        refusal(&refused),
        (
            "RATE_LIMITED".to_owned(),
            Some(std::time::Duration::from_secs(30))
        )
    );
    // Another client; and a public RPC no group names counts in the
    // default group, apart from sign-in.
    assert_eq!(status_of(&from("203.0.113.2:4000").await), "0");
    let open = |peer| call_through(&layer, "/latch.x.v1.X/Open", &[], Some(peer));
    assert_eq!(status_of(&open("203.0.113.1:4000").await), "0");
    assert_eq!(status_of(&open("203.0.113.1:4000").await), "8");
    // Non-public RPCs are not limited here, and Latch's services never.
    for _ in 0..3 {
        let issue = call_through(
            &layer,
            "/latch.x.v1.X/Issue",
            &[(SERVICE_TOKEN_HEADER, TOKEN)],
            Some("203.0.113.1:4000"),
        )
        .await;
        assert_eq!(status_of(&issue), "0");
        let as_latch = call_through(
            &layer,
            "/latch.x.v1.X/SignIn",
            &[(SERVICE_TOKEN_HEADER, TOKEN)],
            Some("203.0.113.1:4000"),
        )
        .await;
        assert_eq!(status_of(&as_latch), "0");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_gateway_is_limited_per_forwarded_client() {
    let layer = layer_with(GroupRates::default().with(
        RateGroup::SignIn,
        Rate::per(1, std::time::Duration::from_secs(60)),
    ));
    let edge = format!("edge.{ACCOUNT_SECRET}");
    let through = |forwarded: &'static str| {
        let edge = edge.clone();
        let layer = layer.clone();
        async move {
            call_through(
                &layer,
                "/latch.x.v1.X/SignIn",
                &[
                    (SERVICE_ACCOUNT_HEADER, edge.as_str()),
                    ("x-forwarded-for", forwarded),
                ],
                Some("10.0.0.9:5000"),
            )
            .await
        }
    };
    assert_eq!(status_of(&through("198.51.100.1").await), "0");
    assert_eq!(status_of(&through("198.51.100.2").await), "0");
    // A forged entry on the left changes nothing: the last one counts.
    assert_eq!(status_of(&through("203.0.113.50, 198.51.100.1").await), "8");
    // Anyone else's header is not believed: the peer counts.
    let direct = |forwarded: &'static str| {
        let layer = layer.clone();
        async move {
            call_through(
                &layer,
                "/latch.x.v1.X/SignIn",
                &[("x-forwarded-for", forwarded)],
                Some("192.0.2.1:5000"),
            )
            .await
        }
    };
    assert_eq!(status_of(&direct("198.51.100.3").await), "0");
    assert_eq!(status_of(&direct("198.51.100.4").await), "8");
}

#[test]
fn an_account_granted_an_internal_rpc_stops_the_start() {
    let accounts = ServiceAccounts::parse(&format!(
        "[[account]]\nname = \"greedy\"\nsecret_sha256 = [\"{}\"]\nrpcs = [\"latch.x.v1.X/Issue\"]",
        hex::encode(latch_domain::secret::sha256(ACCOUNT_SECRET))
    ))
    .unwrap();
    let built = AuthLayer::new(
        PolicyTable::new(&[POLICY]).unwrap(),
        Arc::new(AnyUser),
        MachineCallers::latch_only(Secret::new(TOKEN.to_owned())).with_accounts(accounts),
        PublicRateLimits::new(
            Arc::new(MemoryRateLimiter::new(
                Arc::new(ManualClock::starting_now()),
            )),
            GroupRates::default(),
        ),
        Arc::new(rules::Grants::default()),
    );
    let err = built.err().expect("refused");
    assert!(err.to_string().contains("greedy"), "{err}");
}

#[tokio::test(flavor = "current_thread")]
async fn a_public_or_user_rpc_checks_a_bearer_only_when_one_is_sent() {
    let caller = |response: &Response<Body>| {
        response
            .headers()
            .get("x-caller")
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let anonymous = call("/latch.x.v1.X/Start", &[]).await;
    assert_eq!(caller(&anonymous).as_deref(), Some("anonymous"));
    let user = call("/latch.x.v1.X/Start", &[("authorization", "Bearer good")]).await;
    assert!(
        caller(&user).is_some_and(|c| c.starts_with("user:")),
        "{user:?}"
    );
    // A bad token is refused, not ignored: the caller meant to be someone.
    let bad = call("/latch.x.v1.X/Start", &[("authorization", "Bearer bad")]).await;
    assert_eq!(status_of(&bad), "16");
    // A plain public RPC still ignores whatever authorization it is sent.
    let public = call("/latch.x.v1.X/Open", &[("authorization", "Bearer bad")]).await;
    assert_eq!(caller(&public).as_deref(), Some("anonymous"));
}
