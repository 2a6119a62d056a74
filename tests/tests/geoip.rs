//! GeoIP for sessions on both backends: with `LATCH_GEOIP_DB` naming a
//! MaxMind database (built by the test), a sign-in forwarded by a gateway
//! lists its session with the place of the forwarded address ("City, CC",
//! or the country alone); an address the database does not hold, and the
//! loopback address of a direct call, list none. Without the setting
//! nothing is located; a file that is not a database stops the start.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::{path::PathBuf, sync::Arc, sync::OnceLock};

use latch_domain::{Clock, ManualClock, secret::sha256};
use latch_proto::latch::{
    common::v1::{AuthResult, ClientInfo},
    identity::v1::{LoginRequest, login_response},
    session::v1::{ListSessionsRequest, Session},
};
use latch_runtime::{
    auth::{SERVICE_ACCOUNT_HEADER, SERVICE_ACCOUNTS},
    config::MapSource,
    infra::Infra,
    secrets::Secrets,
};
use latch_session::geo::GEOIP_DB;
use latch_testkit::{
    TestDatabase,
    mmdb::{MmdbWriter, city_record},
};
use latch_tests::{PASSWORD, TestLatchd, bearer, e2e, must, with_header};
use tonic::Request;

e2e!(settings = located; a_forwarded_address_is_located_one_not_in_the_database_is_not);
e2e!(settings = not_located; without_the_setting_no_session_is_located);

const GATEWAY_SECRET: &str = "gw-Pm4Kd8Rt2Xv6Nb1Qs9Lw3Hy7Jc5Fz0Ua2Ve8Io";

/// Scratch files for the whole test binary, in Cargo's directory for them.
fn scratch(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("latch-geoip-{}-{name}", std::process::id()))
}

/// A gateway that forwards its callers' client information.
fn accounts_file() -> &'static PathBuf {
    static FILE: OnceLock<PathBuf> = OnceLock::new();
    FILE.get_or_init(|| {
        let path = scratch("accounts.toml");
        let text = format!(
            r#"
[[account]]
name = "gateway"
secret_sha256 = ["{}"]
forward_client_info = true
rpcs = ["latch.identity.v1.IdentityService/Login"]
"#,
            hex::encode(sha256(GATEWAY_SECRET)),
        );
        must(std::fs::write(&path, text), "write accounts file");
        path
    })
}

/// London and Berlin with their cities, a Dutch range with its country
/// alone; IPv4 networks under `::/96` of an IPv6 database, as GeoLite2.
fn database_file() -> &'static PathBuf {
    static FILE: OnceLock<PathBuf> = OnceLock::new();
    FILE.get_or_init(|| {
        let path = scratch("city.mmdb");
        let mut db = MmdbWriter::new("GeoIP2-City");
        db.insert("81.2.69.0/24", city_record(Some("London"), "GB"))
            .insert("2001:db8:1::/48", city_record(Some("Berlin"), "DE"))
            .insert("198.51.100.0/24", city_record(None, "NL"));
        db.write_to(&path);
        path
    })
}

fn not_located() -> MapSource {
    MapSource::new().with(SERVICE_ACCOUNTS, accounts_file().display().to_string())
}

fn located() -> MapSource {
    not_located().with(GEOIP_DB, database_file().display().to_string())
}

/// A sign-in as the gateway forwards it, from `ip`.
async fn login_from(latchd: &TestLatchd, email: &str, ip: &str) -> AuthResult {
    let request = with_header(
        Request::new(LoginRequest {
            email: email.into(),
            password: PASSWORD.into(),
            client: Some(ClientInfo {
                ip: ip.into(),
                user_agent: "Forwarded/1.0 (geoip test)".into(),
            }),
        }),
        SERVICE_ACCOUNT_HEADER,
        &format!("gateway.{GATEWAY_SECRET}"),
    );
    let response = must(latchd.identity().login(request).await, "login").into_inner();
    match response.result {
        Some(login_response::Result::Auth(auth)) => auth,
        other => panic!("expected tokens, got {other:?}"),
    }
}

async fn list(latchd: &TestLatchd, token: &str) -> Vec<Session> {
    must(
        latchd
            .session()
            .list_sessions(bearer(ListSessionsRequest::default(), token))
            .await,
        "list sessions",
    )
    .into_inner()
    .sessions
}

/// The listed (ip, location) of the session `id`.
fn place(sessions: &[Session], id: &str) -> (String, String) {
    let session = sessions
        .iter()
        .find(|s| s.id == id)
        .unwrap_or_else(|| panic!("session {id} listed: {sessions:?}"));
    (session.ip.clone(), session.location.clone())
}

fn pair(ip: &str, location: &str) -> (String, String) {
    (ip.to_owned(), location.to_owned())
}

async fn a_forwarded_address_is_located_one_not_in_the_database_is_not(latchd: TestLatchd) {
    let email = "geo@example.com";
    // Signed up directly: the peer is the loopback address.
    let direct = latchd.signed_up(email).await;
    let london = login_from(&latchd, email, "81.2.69.160").await;
    let dutch = login_from(&latchd, email, "198.51.100.23").await;
    let berlin = login_from(&latchd, email, "2001:db8:1::7").await;
    let mapped = login_from(&latchd, email, "::ffff:81.2.69.7").await;
    let unknown = login_from(&latchd, email, "192.0.2.44").await;

    let sessions = list(&latchd, &london.access_token).await;
    assert_eq!(sessions.len(), 6, "{sessions:?}");
    assert_eq!(
        place(&sessions, &london.session_id),
        pair("81.2.69.160", "London, GB")
    );
    assert_eq!(
        place(&sessions, &dutch.session_id),
        pair("198.51.100.23", "NL"),
        "the country alone when the database knows no city"
    );
    assert_eq!(
        place(&sessions, &berlin.session_id),
        pair("2001:db8:1::7", "Berlin, DE")
    );
    assert_eq!(
        place(&sessions, &mapped.session_id),
        pair("81.2.69.7", "London, GB"),
        "an IPv4-mapped address is its IPv4 address"
    );
    assert_eq!(
        place(&sessions, &unknown.session_id),
        pair("192.0.2.44", ""),
        "not in the database: no location"
    );
    let (ip, location) = place(&sessions, &direct.session_id);
    assert_ne!(ip, "", "the direct call's peer address is stored");
    assert_eq!(location, "", "loopback ({ip}) has no location");
}

async fn without_the_setting_no_session_is_located(latchd: TestLatchd) {
    let email = "nogeo@example.com";
    latchd.sign_up(email).await;
    let london = login_from(&latchd, email, "81.2.69.160").await;
    let sessions = list(&latchd, &london.access_token).await;
    assert_eq!(
        place(&sessions, &london.session_id),
        pair("81.2.69.160", "")
    );
}

/// The setting is read at start: a file that is not a MaxMind database, or
/// no file at all, stops latchd before it serves, naming the setting.
#[tokio::test]
async fn a_bad_database_file_stops_the_start() {
    let not_a_db = scratch("not-a-db.mmdb");
    must(std::fs::write(&not_a_db, b"GIF89a"), "write");
    let missing = scratch("missing.mmdb");
    for (path, says) in [(not_a_db, "not a MaxMind DB"), (missing, "cannot read")] {
        let db = TestDatabase::sqlite().await;
        let clock: Arc<dyn Clock> = Arc::new(ManualClock::starting_now());
        let infra = Infra::in_memory(db.db().clone(), clock.clone());
        let secrets = must(Secrets::generate(), "secrets");
        let data_dir = must(tempfile::tempdir(), "data dir");
        let settings = MapSource::new()
            .with(GEOIP_DB, path.display().to_string())
            .with("LATCH_DATA_DIR", data_dir.path().display().to_string());
        let Err(err) = latchd::assemble(&settings, &secrets, &infra, clock).await else {
            panic!("latchd started with {}", path.display());
        };
        let err = err.to_string();
        assert!(err.contains(GEOIP_DB) && err.contains(says), "{err}");
    }
}
