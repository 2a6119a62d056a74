//! The version check, and the deadline on a hung server: a private
//! `redis-server` on a port of its own that the test stops with SIGSTOP
//! (the shared server of `LATCH_TEST_REDIS_URL` is never touched).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Instant;

use latch_domain::{Reason, ports::FlowState, ports::SessionCache};
use latch_testkit::{PrivateRedis, REDIS_URL_VAR, backend_url};

use super::*;

mod event_stream;

#[test]
fn versions_are_read_from_info() {
    let info =
        "# Server\r\nredis_version:7.0.15\r\nredis_git_sha1:00000000\r\nredis_mode:standalone\r\n";
    assert_eq!(
        RedisVersion::from_info(info),
        Some(RedisVersion {
            major: 7,
            minor: 0,
            patch: 15
        })
    );
    assert_eq!(
        RedisVersion::parse("7.2.4-rc1"),
        Some(RedisVersion {
            major: 7,
            minor: 2,
            patch: 4
        })
    );
    assert_eq!(
        RedisVersion::parse("6.2"),
        Some(RedisVersion {
            major: 6,
            minor: 2,
            patch: 0
        })
    );
    assert_eq!(RedisVersion::parse("8").map(|v| v.major), Some(8));
    assert_eq!(RedisVersion::parse("unstable"), None);
    assert_eq!(RedisVersion::parse(""), None);
    assert_eq!(RedisVersion::from_info("# Server\r\nos:Linux\r\n"), None);
}

#[test]
fn redis_older_than_7_is_refused_by_name() {
    for old in ["6.2.14", "6.0", "5.0.7"] {
        let err = RedisVersion::parse(old)
            .unwrap()
            .require_supported()
            .unwrap_err();
        let text = format!("{err}");
        assert!(
            text.contains(old) || text.contains(&format!("{old}.0")),
            "{text}"
        );
        assert!(text.contains("Redis 7.0.0 or newer"), "{text}");
    }
    for new in ["7.0.0", "7.2.4", "8.0.1", "10.0"] {
        assert!(
            RedisVersion::parse(new)
                .unwrap()
                .require_supported()
                .is_ok()
        );
    }
}

#[tokio::test]
async fn the_test_server_is_new_enough() {
    let Some(url) = backend_url(REDIS_URL_VAR) else {
        return;
    };
    let redis = Redis::connect(&url, "test:version:").await.unwrap();
    let version = redis.server_version().await.unwrap();
    assert!(
        version.is_some_and(|v| v >= MIN_VERSION),
        "{version:?} from {url}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_server_is_unavailable_within_the_deadline() {
    if backend_url(REDIS_URL_VAR).is_none() {
        return;
    }
    let Some(server) = PrivateRedis::start() else {
        return;
    };
    let deadline = Duration::from_millis(300);
    // (This crate's own `Redis`, not the test kit's build of it.)
    let mut redis = None;
    for _ in 0..50 {
        match Redis::connect_with_timeout(server.url(), "test:hung:", deadline).await {
            Ok(connected) => {
                redis = Some(connected);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let redis = redis.expect("the private redis-server answers");
    // (The rate limiter would fall back to memory here: see
    // tests/redis_fallback.rs. Flow state and the cache fail.)
    let state = super::RedisFlowState::new(redis.clone());
    state.put("k", b"v", Duration::from_secs(60)).await.unwrap();

    server.signal("-STOP");
    let cache = super::RedisSessionCache::new(redis.clone());
    let id = latch_domain::SessionId::generate().unwrap();
    let started = Instant::now();
    let err = state.take("k").await.unwrap_err();
    assert_eq!(err.reason(), Reason::Unavailable, "{err}");
    let err = cache.get(&id).await.unwrap_err();
    assert_eq!(err.reason(), Reason::Unavailable, "{err}");
    // Two commands, each bounded by the deadline (slack for a busy machine).
    let took = started.elapsed();
    assert!(took < deadline * 2 + Duration::from_secs(1), "{took:?}");

    // A new connection to a hung server: TCP connects (the kernel
    // accepts), the server never answers.
    let started = Instant::now();
    let err = Redis::connect_with_timeout(server.url(), "test:hung:", deadline)
        .await
        .unwrap_err();
    assert_eq!(err.reason(), Reason::Unavailable, "{err}");
    assert!(started.elapsed() < deadline + Duration::from_secs(1));

    server.signal("-CONT");
}
