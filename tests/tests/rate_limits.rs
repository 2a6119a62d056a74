//! Rate limits on every public RPC, applied by the server layer from the
//! policy tables: every public RPC of every service is limited (a new one
//! lands in the default group), per client address, with the real wait in
//! RetryInfo; a gateway is limited per client it forwards
//! (`x-forwarded-for`, last entry), IPv6 by /64.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::{collections::HashSet, path::PathBuf, sync::OnceLock, time::Duration};

use latch_domain::secret::sha256;
use latch_proto::latch::identity::v1::LoginRequest;
use latch_runtime::{
    auth::{PolicyTable, RateGroup, SERVICE_ACCOUNT_HEADER, SERVICE_ACCOUNTS},
    config::MapSource,
};
use latch_tests::{POLICIES, TestLatchd, e2e, must, reason, sign_up_request, with_header};
use tonic::{Code, Request, Status, codegen::http::uri::PathAndQuery, transport::Channel};
use tonic_types::StatusExt;

e2e!(settings = one_an_hour; every_public_rpc_is_limited_and_nothing_else_is);
e2e!(settings = three_sign_ins_a_minute; limits_are_per_client_and_say_when_to_retry);
e2e!(settings = gateway_settings; a_gateway_is_limited_per_forwarded_client);

const GATEWAY_SECRET: &str = "gw-Rt5Yu7Io9Pa1Sd3Fg5Hj7Kl9Zx2Cv4Bn6Mq8We0";

/// Every public RPC of every POLICY has a rate group (named, or the
/// default), and every named group belongs to a public RPC.
#[test]
fn every_public_policy_entry_has_a_group() {
    let table = PolicyTable::new(&POLICIES).expect("the policies resolve");
    for policy in POLICIES {
        assert!(
            policy.misplaced_rate_groups().is_empty(),
            "{}: groups for RPCs that are not public: {:?}",
            policy.service,
            policy.misplaced_rate_groups()
        );
        for (method, access, _) in policy.methods {
            let path = format!("/{}/{method}", policy.service);
            match access {
                access if access.is_public() => {
                    assert!(table.rate_group(&path).is_some(), "{path}")
                }
                _ => assert_eq!(table.rate_group(&path), None, "{path}"),
            }
        }
    }
    // The sign-in paths named by the issue count together.
    let group = |path: &str| table.rate_group(path);
    for path in [
        "/latch.identity.v1.IdentityService/Login",
        "/latch.identity.v1.IdentityService/CompleteSecondFactor",
        "/latch.identity.v1.IdentityService/StartPasskeyLogin",
        "/latch.identity.v1.IdentityService/StartOAuth",
    ] {
        assert_eq!(group(path), Some(RateGroup::SignIn), "{path}");
    }
    assert_eq!(
        group("/latch.token.v1.TokenService/ValidateAccessToken"),
        Some(RateGroup::TokenCheck)
    );
    assert_eq!(
        group("/latch.identity.v1.IdentityService/RequestPasswordReset"),
        Some(RateGroup::Recovery)
    );
}

fn one_an_hour() -> MapSource {
    let mut settings = MapSource::new();
    for group in RateGroup::ALL {
        settings.set(&group.setting(), "1/1h");
    }
    settings
}

/// An empty message to `path`, answered with whatever the handler says.
async fn call(channel: Channel, path: &str, request: Request<()>) -> Result<(), Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready()
        .await
        .map_err(|e| Status::unavailable(e.to_string()))?;
    let codec = tonic_prost::ProstCodec::<(), ()>::default();
    let path = PathAndQuery::try_from(path).unwrap();
    grpc.unary(request, path, codec).await.map(drop)
}

/// The RetryInfo delay of a refusal.
fn retry_after(status: &Status) -> Option<Duration> {
    status.get_details_retry_info().and_then(|r| r.retry_delay)
}

#[track_caller]
fn assert_rate_limited(answer: &Result<(), Status>, wait: Duration, what: &str) {
    let Err(status) = answer else {
        panic!("{what}: expected RATE_LIMITED, got OK");
    };
    assert_eq!(status.code(), Code::ResourceExhausted, "{what}: {status:?}");
    assert_eq!(reason(status), "RATE_LIMITED", "{what}");
    let delay = retry_after(status).unwrap_or_else(|| panic!("{what}: no RetryInfo"));
    assert!(
        delay <= wait && delay + Duration::from_secs(5) > wait,
        "{what}: {delay:?}, expected about {wait:?}"
    );
}

/// Every public RPC, called twice with an empty message: the second call
/// (or the first, when its group was used already) is refused before any
/// handler with the real wait; no other RPC is limited by the layer.
async fn every_public_rpc_is_limited_and_nothing_else_is(latchd: TestLatchd) {
    let table = PolicyTable::new(&POLICIES).expect("the policies resolve");
    let mut used = HashSet::new();
    let mut limited = 0;
    for policy in POLICIES {
        for (method, access, _) in policy.methods {
            let path = format!("/{}/{method}", policy.service);
            if !access.is_public() {
                // A user RPC without a token is refused for that, however
                // often it is called.
                for _ in 0..2 {
                    let answer = call(latchd.channel(), &path, Request::new(())).await;
                    let status = answer.expect_err("no credential");
                    assert_ne!(status.code(), Code::ResourceExhausted, "{path}");
                }
                continue;
            }
            let group = table.rate_group(&path).expect("a group");
            let first = call(latchd.channel(), &path, Request::new(())).await;
            if used.insert(group) {
                if let Err(status) = &first {
                    assert_ne!(status.code(), Code::ResourceExhausted, "{path}: {status:?}");
                }
            } else {
                assert_rate_limited(&first, Duration::from_secs(3600), &path);
            }
            let second = call(latchd.channel(), &path, Request::new(())).await;
            assert_rate_limited(&second, Duration::from_secs(3600), &path);
            limited += 1;
        }
    }
    assert!(limited >= 15, "{limited} public RPCs");
    // Health stays open, however often it is asked.
    for _ in 0..3 {
        let health = call(
            latchd.channel(),
            "/grpc.health.v1.Health/Check",
            Request::new(()),
        )
        .await;
        assert!(health.is_ok(), "{health:?}");
    }
    // Latch's own services are not limited.
    let internal = latchd.internal(());
    let answer = call(
        latchd.channel(),
        "/latch.token.v1.TokenService/GetJwks",
        internal,
    )
    .await;
    assert!(answer.is_ok(), "{answer:?}");
}

fn three_sign_ins_a_minute() -> MapSource {
    MapSource::new()
        .with("LATCH_RATE_LIMIT_SIGN_IN", "3/1m")
        .with("LATCH_RATE_LIMIT_SIGN_UP", "2/1h,burst=3")
}

fn login(email: &str) -> LoginRequest {
    LoginRequest {
        email: email.to_owned(),
        password: "not the password".to_owned(),
        client: None,
    }
}

async fn limits_are_per_client_and_say_when_to_retry(latchd: TestLatchd) {
    let mut identity = latchd.identity();
    // Three at once (three addresses: no account's lockout is involved).
    for n in 0..3 {
        let err = identity
            .login(login(&format!("nobody{n}@example.com")))
            .await
            .expect_err("wrong");
        assert_eq!(reason(&err), "INVALID_CREDENTIALS");
    }
    let refused = identity.login(login("nobody@example.com")).await.map(drop);
    assert_rate_limited(&refused, Duration::from_secs(20), "4th");
    // A refusal counts nothing: the wait is what is left of it.
    latchd.clock.advance(chrono::Duration::seconds(15));
    let refused = identity.login(login("nobody@example.com")).await.map(drop);
    assert_rate_limited(&refused, Duration::from_secs(5), "retried early");
    latchd.clock.advance(chrono::Duration::seconds(5));
    let err = identity
        .login(login("nobody@example.com"))
        .await
        .expect_err("wrong");
    assert_eq!(reason(&err), "INVALID_CREDENTIALS", "one more after 20 s");

    // Sign-ups count apart, with their own burst.
    for n in 0..3 {
        must(
            identity
                .sign_up(sign_up_request(&format!("new{n}@example.com")))
                .await,
            "a sign-up of the burst",
        );
    }
    let refused = identity
        .sign_up(sign_up_request("new3@example.com"))
        .await
        .map(drop);
    assert_rate_limited(&refused, Duration::from_secs(1800), "4th sign-up");
}

/// One accounts file for the whole test binary: a gateway allowed Login.
fn accounts_file() -> &'static PathBuf {
    static FILE: OnceLock<PathBuf> = OnceLock::new();
    FILE.get_or_init(|| {
        let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("latch-rate-accounts-{}.toml", std::process::id()));
        let text = format!(
            "[[account]]\nname = \"edge\"\nsecret_sha256 = [\"{}\"]\nforward_client_info = true\n\
             rpcs = [\"latch.identity.v1.IdentityService/Login\"]\n",
            hex::encode(sha256(GATEWAY_SECRET)),
        );
        must(std::fs::write(&path, text), "write accounts file");
        path
    })
}

fn gateway_settings() -> MapSource {
    MapSource::new()
        .with(SERVICE_ACCOUNTS, accounts_file().display().to_string())
        .with("LATCH_RATE_LIMIT_SIGN_IN", "1/1m")
}

async fn a_gateway_is_limited_per_forwarded_client(latchd: TestLatchd) {
    let through = |forwarded: &str| {
        let request = with_header(
            Request::new(login("nobody@example.com")),
            SERVICE_ACCOUNT_HEADER,
            &format!("edge.{GATEWAY_SECRET}"),
        );
        with_header(request, "x-forwarded-for", forwarded)
    };
    let answer = |result: Result<tonic::Response<_>, Status>| result.map(drop);
    let mut identity = latchd.identity();
    for client in ["198.51.100.1", "198.51.100.2", "2001:db8:1:2::1"] {
        let first = answer(identity.login(through(client)).await);
        assert_eq!(
            first.map_err(|s| reason(&s)),
            Err("INVALID_CREDENTIALS".to_owned()),
            "{client}: its own limit"
        );
    }
    // The last entry is the one the gateway added; what the client wrote
    // to its left changes nothing.
    let forged = answer(identity.login(through("203.0.113.77, 198.51.100.1")).await);
    assert_rate_limited(&forged, Duration::from_secs(60), "a forged entry");
    // Another address of the same IPv6 /64 is the same client.
    let same = answer(identity.login(through("2001:db8:1:2:ffff::9")).await);
    assert_rate_limited(&same, Duration::from_secs(60), "the same /64");
    let next = answer(identity.login(through("2001:db8:1:3::1")).await);
    assert!(next.is_err_and(|s| reason(&s) == "INVALID_CREDENTIALS"));
    // Anyone else's x-forwarded-for is not believed: the peer counts.
    let direct = |forwarded: &str| {
        with_header(
            Request::new(login("nobody@example.com")),
            "x-forwarded-for",
            forwarded,
        )
    };
    let first = answer(identity.login(direct("192.0.2.1")).await);
    assert!(first.is_err_and(|s| reason(&s) == "INVALID_CREDENTIALS"));
    let second = answer(identity.login(direct("192.0.2.2")).await);
    assert_rate_limited(&second, Duration::from_secs(60), "the peer, not the header");
}
