//! Envoy's external authorization, called exactly as Envoy calls it: the
//! generated `envoy.service.auth.v3.Authorization` client, a service
//! account's credential in the call's metadata, and the proxied request's
//! method, path and headers in `attributes.request.http`.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::{collections::HashMap, path::PathBuf, sync::OnceLock};

use chrono::Duration;
use envoy_types::{
    ext_authz::v3::pb::{CheckRequest, CheckResponse, HeaderAppendAction, HttpResponse},
    pb::envoy::{
        config::core::v3::{HeaderMap, HeaderValue},
        service::auth::v3::{
            AttributeContext, attribute_context, authorization_client::AuthorizationClient,
        },
    },
};
use latch_domain::{Clock, ManualClock, secret::sha256};
use latch_proto::latch::common::v1::AuthResult;
use latch_runtime::{
    auth::{SERVICE_ACCOUNT_HEADER, SERVICE_ACCOUNTS},
    config::MapSource,
    infra::Infra,
    secrets::Secrets,
};
use latch_testkit::TestDatabase;
use latch_tests::{TestLatchd, assert_refused, e2e, must, with_header};
use tonic::{Code, Request, transport::Channel};

e2e!(
    settings = envoy_settings;
    an_allowed_request_carries_the_user_to_the_upstream,
    raw_headers_are_read_like_merged_ones,
    a_request_without_a_token_is_401,
    a_malformed_token_is_401,
    an_expired_token_is_401,
    a_revoked_session_is_401,
    two_authorization_headers_are_401,
    a_missing_permission_is_403_and_unruled_paths_need_none,
    a_held_permission_passes,
    a_check_without_an_http_request_is_401,
    only_granted_machine_callers_may_ask,
);

const ENVOY_SECRET: &str = "envoy-Hq7Vw2Zp9Lm4Xt6Rb1Nc8Ks3Dy5Fj0Ga2Ue7Wo";
const OTHER_SECRET: &str = "other-Mn4Bv6Cx8Zl1Kj3Hg5Fd7Sa9Qw2Er4Ty6Ui8Op";

/// The rule these tests rely on: `/admin/` needs `users.read` (ADMIN has
/// it, USER does not).
const RULES: &str = r#"
[[rule]]
method = "*"
path_prefix = "/admin/"
permission = "users.read"
"#;

/// Cargo's scratch directory for integration tests, not /tmp.
fn scratch(name: &str, text: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "latch-ext-authz-{name}-{}.toml",
        std::process::id()
    ));
    must(std::fs::write(&path, text), "write scratch file");
    path
}

fn envoy_settings() -> MapSource {
    static FILES: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    let (accounts, rules) = FILES.get_or_init(|| {
        let accounts = format!(
            r#"
[[account]]
name = "envoy"
secret_sha256 = ["{}"]
rpcs = ["envoy.service.auth.v3.Authorization/Check"]

[[account]]
name = "other"
secret_sha256 = ["{}"]
rpcs = ["latch.authorization.v1.AuthorizationService/Check"]
"#,
            hex::encode(sha256(ENVOY_SECRET)),
            hex::encode(sha256(OTHER_SECRET)),
        );
        (scratch("accounts", &accounts), scratch("rules", RULES))
    });
    MapSource::new()
        .with(SERVICE_ACCOUNTS, accounts.display().to_string())
        .with("LATCH_EXT_AUTHZ_RULES", rules.display().to_string())
}

fn envoy(latchd: &TestLatchd) -> AuthorizationClient<Channel> {
    AuthorizationClient::new(latchd.channel())
}

/// What Envoy sends for `method path` with `headers` (merged, lower-case
/// keys: the default, `encode_raw_headers` off).
fn http_check(method: &str, path: &str, headers: &[(&str, &str)]) -> CheckRequest {
    let http = attribute_context::HttpRequest {
        method: method.to_owned(),
        path: path.to_owned(),
        host: "api.example.com".to_owned(),
        scheme: "https".to_owned(),
        headers: headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        ..Default::default()
    };
    CheckRequest {
        attributes: Some(AttributeContext {
            request: Some(attribute_context::Request {
                http: Some(http),
                ..Default::default()
            }),
            ..Default::default()
        }),
    }
}

/// Envoy's call: the account's credential in the gRPC metadata, as
/// `grpc_service.initial_metadata` puts it.
async fn check(latchd: &TestLatchd, message: CheckRequest) -> CheckResponse {
    let request = with_header(
        Request::new(message),
        SERVICE_ACCOUNT_HEADER,
        &format!("envoy.{ENVOY_SECRET}"),
    );
    must(envoy(latchd).check(request).await, "ext_authz Check").into_inner()
}

fn bearer(auth: &AuthResult) -> String {
    format!("Bearer {}", auth.access_token)
}

/// The upstream headers an OK answer sets, with how each is applied.
fn allowed(response: &CheckResponse) -> (HashMap<String, (String, i32)>, Vec<String>) {
    assert_eq!(
        response.status.as_ref().map(|s| s.code),
        Some(0),
        "{response:?}"
    );
    let Some(HttpResponse::OkResponse(ok)) = &response.http_response else {
        panic!("expected an OK response, got {response:?}");
    };
    let set = ok
        .headers
        .iter()
        .map(|option| {
            let header = option.header.clone().expect("header");
            assert!(option.keep_empty_value, "an empty value must still replace");
            (header.key, (header.value, option.append_action))
        })
        .collect();
    (set, ok.headers_to_remove.clone())
}

/// The denial Envoy sends the client: HTTP status, content type, and the
/// JSON body's `error`.
#[track_caller]
fn assert_denied(response: &CheckResponse, http_status: i32, reason: &str) {
    let Some(HttpResponse::DeniedResponse(denied)) = &response.http_response else {
        panic!("expected a denial, got {response:?}");
    };
    let rpc = response.status.as_ref().expect("status");
    let grpc = if http_status == 401 {
        Code::Unauthenticated
    } else {
        Code::PermissionDenied
    };
    assert_eq!(rpc.code, grpc as i32, "{response:?}");
    assert_eq!(denied.status.as_ref().map(|s| s.code), Some(http_status));
    let content_type = denied
        .headers
        .iter()
        .filter_map(|o| o.header.as_ref())
        .find(|h| h.key == "content-type")
        .map(|h| h.value.as_str());
    assert_eq!(content_type, Some("application/json"));
    let body: serde_json::Value = must(serde_json::from_str(&denied.body), "JSON body");
    assert_eq!(body["error"], reason, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

async fn an_allowed_request_carries_the_user_to_the_upstream(latchd: TestLatchd) {
    latchd.sign_up("envoy-ok@example.com").await;
    let auth = latchd.login("envoy-ok@example.com").await;
    let response = check(
        &latchd,
        http_check(
            "GET",
            "/orders/42?expand=items",
            &[
                ("authorization", &bearer(&auth)),
                // A client pretending to be someone, or an admin.
                ("x-latch-user-id", "00000000-0000-0000-0000-000000000000"),
                ("x-latch-roles", "SUPERADMIN"),
                ("x-latch-impersonate", "root"),
                ("accept", "application/json"),
            ],
        ),
    )
    .await;
    let (set, removed) = allowed(&response);
    let overwrite = HeaderAppendAction::OverwriteIfExistsOrAdd as i32;
    assert_eq!(set["x-latch-user-id"], (auth.user_id.clone(), overwrite));
    assert_eq!(
        set["x-latch-session-id"],
        (auth.session_id.clone(), overwrite)
    );
    assert_eq!(set["x-latch-roles"], ("USER".to_owned(), overwrite));
    // The forged ones Latch sets are replaced; every other is removed
    // (Envoy removes after it sets, so the three set are not listed).
    assert_eq!(removed, ["x-latch-impersonate"]);
}

async fn raw_headers_are_read_like_merged_ones(latchd: TestLatchd) {
    latchd.sign_up("envoy-raw@example.com").await;
    let auth = latchd.login("envoy-raw@example.com").await;
    // `encode_raw_headers: true`: `header_map`, values as bytes.
    let mut message = http_check("GET", "/orders", &[]);
    let raw = |key: &str, value: &str| HeaderValue {
        key: key.to_owned(),
        raw_value: value.as_bytes().to_vec(),
        ..Default::default()
    };
    message
        .attributes
        .as_mut()
        .and_then(|a| a.request.as_mut())
        .and_then(|r| r.http.as_mut())
        .expect("http")
        .header_map = Some(HeaderMap {
        headers: vec![
            raw("authorization", &bearer(&auth)),
            raw("x-latch-session-id", "forged"),
        ],
    });
    let (set, removed) = allowed(&check(&latchd, message).await);
    assert_eq!(set["x-latch-session-id"].0, auth.session_id);
    assert!(removed.is_empty(), "{removed:?}");
}

async fn a_request_without_a_token_is_401(latchd: TestLatchd) {
    let response = check(&latchd, http_check("GET", "/orders", &[])).await;
    assert_denied(&response, 401, "AUTHENTICATION_REQUIRED");
    let Some(HttpResponse::DeniedResponse(denied)) = &response.http_response else {
        unreachable!()
    };
    assert!(
        denied
            .headers
            .iter()
            .filter_map(|o| o.header.as_ref())
            .any(|h| h.key == "www-authenticate" && h.value == "Bearer"),
        "a 401 names the scheme: {denied:?}"
    );
}

async fn a_malformed_token_is_401(latchd: TestLatchd) {
    for value in [
        "Bearer not-a-jwt",
        "Bearer a.b.c",
        "Basic dXNlcjpwYXNz",
        "Bearer",
    ] {
        let response = check(
            &latchd,
            http_check("GET", "/orders", &[("authorization", value)]),
        )
        .await;
        assert_denied(&response, 401, "TOKEN_INVALID");
    }
}

async fn an_expired_token_is_401(latchd: TestLatchd) {
    latchd.sign_up("envoy-exp@example.com").await;
    let auth = latchd.login("envoy-exp@example.com").await;
    let request = || http_check("GET", "/orders", &[("authorization", &bearer(&auth))]);
    allowed(&check(&latchd, request()).await);
    // Past the 15-minute access-token lifetime.
    latchd.clock.advance(Duration::minutes(16));
    assert_denied(&check(&latchd, request()).await, 401, "TOKEN_EXPIRED");
}

async fn a_revoked_session_is_401(latchd: TestLatchd) {
    latchd.sign_up("envoy-out@example.com").await;
    let auth = latchd.login("envoy-out@example.com").await;
    let request = || http_check("GET", "/orders", &[("authorization", &bearer(&auth))]);
    allowed(&check(&latchd, request()).await);
    latchd.logout(&auth.access_token).await;
    assert_denied(&check(&latchd, request()).await, 401, "SESSION_REVOKED");
}

async fn two_authorization_headers_are_401(latchd: TestLatchd) {
    latchd.sign_up("envoy-two@example.com").await;
    let auth = latchd.login("envoy-two@example.com").await;
    let token = bearer(&auth);
    // Envoy merges repeated headers with a comma...
    let merged = format!("{token},{token}");
    let response = check(
        &latchd,
        http_check("GET", "/orders", &[("authorization", &merged)]),
    )
    .await;
    assert_denied(&response, 401, "TOKEN_INVALID");
    // ... or, with raw headers, sends each line.
    let mut message = http_check("GET", "/orders", &[]);
    let line = |value: &str| HeaderValue {
        key: "authorization".to_owned(),
        value: value.to_owned(),
        ..Default::default()
    };
    message
        .attributes
        .as_mut()
        .and_then(|a| a.request.as_mut())
        .and_then(|r| r.http.as_mut())
        .expect("http")
        .header_map = Some(HeaderMap {
        headers: vec![line(&token), line("Bearer someone-elses")],
    });
    assert_denied(&check(&latchd, message).await, 401, "TOKEN_INVALID");
}

async fn a_missing_permission_is_403_and_unruled_paths_need_none(latchd: TestLatchd) {
    latchd.sign_up("envoy-user@example.com").await;
    let auth = latchd.login("envoy-user@example.com").await;
    let token = bearer(&auth);
    for (method, path) in [("GET", "/admin/users"), ("DELETE", "/admin/users/7?x=1")] {
        let response = check(
            &latchd,
            http_check(method, path, &[("authorization", &token)]),
        )
        .await;
        assert_denied(&response, 403, "ACCESS_DENIED");
    }
    // No rule for it (a plain prefix: `/admin` is not under `/admin/`).
    for path in ["/orders", "/admin"] {
        let response = check(
            &latchd,
            http_check("POST", path, &[("authorization", &token)]),
        )
        .await;
        allowed(&response);
    }
}

async fn a_held_permission_passes(latchd: TestLatchd) {
    let user_id = latchd
        .with_role("envoy-admin@example.com", "ADMIN")
        .await
        .user_id;
    // Signed in after the assignment, so the token names the role too.
    let auth = latchd.login("envoy-admin@example.com").await;
    let response = check(
        &latchd,
        http_check("GET", "/admin/users", &[("authorization", &bearer(&auth))]),
    )
    .await;
    let (set, _) = allowed(&response);
    assert_eq!(set["x-latch-user-id"].0, user_id);
    let roles = &set["x-latch-roles"].0;
    let mut roles: Vec<&str> = roles.split(',').collect();
    roles.sort_unstable();
    assert_eq!(roles, ["ADMIN", "USER"]);
}

async fn a_check_without_an_http_request_is_401(latchd: TestLatchd) {
    let empty = CheckRequest { attributes: None };
    assert_denied(&check(&latchd, empty).await, 401, "AUTHENTICATION_REQUIRED");
    let no_http = CheckRequest {
        attributes: Some(AttributeContext {
            request: Some(attribute_context::Request::default()),
            ..Default::default()
        }),
    };
    assert_denied(
        &check(&latchd, no_http).await,
        401,
        "AUTHENTICATION_REQUIRED",
    );
}

async fn only_granted_machine_callers_may_ask(latchd: TestLatchd) {
    latchd.sign_up("envoy-caller@example.com").await;
    let auth = latchd.login("envoy-caller@example.com").await;
    let message = || http_check("GET", "/orders", &[("authorization", &bearer(&auth))]);

    // No credential at all.
    assert_refused(
        envoy(&latchd).check(message()).await,
        Code::Unauthenticated,
        "SERVICE_CREDENTIAL_REQUIRED",
    );
    // The right account, a wrong secret.
    let wrong = with_header(
        Request::new(message()),
        SERVICE_ACCOUNT_HEADER,
        &format!("envoy.{OTHER_SECRET}"),
    );
    assert_refused(
        envoy(&latchd).check(wrong).await,
        Code::Unauthenticated,
        "CREDENTIAL_INVALID",
    );
    // An account whose list does not name Check.
    let other = with_header(
        Request::new(message()),
        SERVICE_ACCOUNT_HEADER,
        &format!("other.{OTHER_SECRET}"),
    );
    assert_refused(
        envoy(&latchd).check(other).await,
        Code::PermissionDenied,
        "ACCESS_DENIED",
    );
    // A user's own token on the call: the user is not a machine caller.
    let as_user = latch_tests::bearer(message(), &auth.access_token);
    assert_refused(
        envoy(&latchd).check(as_user).await,
        Code::Unauthenticated,
        "SERVICE_CREDENTIAL_REQUIRED",
    );
    // Latch's own services may ask.
    let internal = latchd.internal(message());
    must(envoy(&latchd).check(internal).await, "internal Check");
}

/// A rules file that cannot be read, or says something wrong, stops latchd
/// before it serves.
#[tokio::test]
async fn a_bad_rules_file_stops_the_start() {
    let db = TestDatabase::sqlite().await;
    let clock: std::sync::Arc<dyn Clock> = std::sync::Arc::new(ManualClock::starting_now());
    let infra = Infra::in_memory(db.db().clone(), clock.clone());
    let secrets = must(Secrets::generate(), "secrets");
    let data_dir = must(tempfile::tempdir(), "data dir");
    let bad = scratch(
        "bad-rules",
        "[[rule]]\nmethod = \"GET\"\npath_prefix = \"admin\"\npermission = \"users.read\"\n",
    );
    for path in [
        bad.display().to_string(),
        "/nonexistent/latch-rules.toml".to_owned(),
    ] {
        let settings = MapSource::new()
            .with("LATCH_DATA_DIR", data_dir.path().display().to_string())
            .with("LATCH_EXT_AUTHZ_RULES", path.clone());
        let Err(err) = latchd::assemble(&settings, &secrets, &infra, clock.clone()).await else {
            panic!("latchd started with rules file {path}");
        };
        assert!(
            err.to_string().contains("LATCH_EXT_AUTHZ_RULES"),
            "{path}: {err}"
        );
    }
}
