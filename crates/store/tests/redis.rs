//! The Redis adapters against the suites, when `LATCH_TEST_REDIS_URL` is
//! set (each test under a key prefix of its own). Redis keeps its own time
//! for TTLs, so TTL checks wait out short real TTLs; the rate limiter and
//! failure counters read the services' clock, which their suites move.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failing test panics

use std::{sync::Arc, time::Duration};

use deadpool_redis::redis;
use futures::StreamExt;
use latch_domain::{ManualClock, Reason, events::Channel, ports::EventBus};
use latch_store::redis::{
    Redis, RedisEventBus, RedisFailureCounter, RedisFlowState, RedisRateLimiter, RedisSessionCache,
};
use latch_testkit::{
    TestRedis,
    conformance::{self, Time},
};

#[tokio::test]
async fn session_cache() {
    let Some(redis) = TestRedis::from_env().await else {
        return;
    };
    conformance::session_cache::run(Arc::new(RedisSessionCache::new(redis)), Time::Real).await;
}

#[tokio::test]
async fn event_bus() {
    let Some(redis) = TestRedis::from_env().await else {
        return;
    };
    let url = TestRedis::url().unwrap();
    conformance::event_bus::run(Arc::new(RedisEventBus::new(redis, &url).unwrap())).await;
}

#[tokio::test]
async fn rate_limiter() {
    let Some(redis) = TestRedis::from_env().await else {
        return;
    };
    // The limiter reads time from the services' clock, as every replica
    // does: the suite moves it.
    let clock = ManualClock::starting_now();
    let limiter = RedisRateLimiter::new(redis, Arc::new(clock.clone()));
    conformance::rate_limiter::run(Arc::new(limiter), clock).await;
}

#[tokio::test]
async fn failure_counter() {
    let Some(redis) = TestRedis::from_env().await else {
        return;
    };
    let clock = ManualClock::starting_now();
    let counter = RedisFailureCounter::new(redis, Arc::new(clock.clone()));
    conformance::lockout::run(Arc::new(counter), clock).await;
}

#[tokio::test]
async fn flow_state() {
    let Some(redis) = TestRedis::from_env().await else {
        return;
    };
    conformance::flow_state::run(Arc::new(RedisFlowState::new(redis)), Time::Real).await;
}

#[tokio::test]
async fn keys_and_channels_carry_the_prefix() {
    let Some(redis) = TestRedis::from_env().await else {
        return;
    };
    let cache = RedisSessionCache::new(redis.clone());
    let session = conformance::sessions::new_session(latch_domain::UserId::new(), 0);
    latch_domain::ports::SessionCache::fill(&cache, &session, Duration::from_secs(60))
        .await
        .unwrap();
    let mut conn = raw().await;
    let valid: Option<String> = redis::cmd("GET")
        .arg(format!("{}session:valid:{}", redis.prefix(), session.id))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(valid.as_deref(), Some("1"));
    let record: Option<String> = redis::cmd("GET")
        .arg(format!("{}session:{}", redis.prefix(), session.id))
        .query_async(&mut conn)
        .await
        .unwrap();
    let stored: latch_domain::model::Session = serde_json::from_str(&record.unwrap()).unwrap();
    assert_eq!(stored, session);
}

#[tokio::test]
async fn an_unreachable_server_is_unavailable() {
    let err = Redis::connect("redis://127.0.0.1:1", "").await.unwrap_err();
    assert_eq!(err.reason(), Reason::Unavailable);
}

#[tokio::test]
async fn a_dropped_connection_ends_the_stream_and_a_new_subscription_works() {
    let Some(redis) = TestRedis::from_env().await else {
        return;
    };
    // The subscriber goes through a proxy the test can cut, so no other
    // test's connection is touched.
    let proxy = Proxy::start(&TestRedis::url().unwrap()).await;
    let bus = RedisEventBus::new(redis.clone(), &proxy.url).unwrap();
    let mut stream = bus.subscribe(Channel::UserCreated).await.unwrap();
    let event = conformance::event_bus::every_kind().remove(0);
    bus.publish(&event).await.unwrap();
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .unwrap(),
        Some(event.clone())
    );

    // Events published while the connection is down would be lost, so the
    // subscriber must hear of the gap: its stream ends.
    proxy.cut();
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        while stream.next().await.is_some() {}
    })
    .await;
    assert!(ended.is_ok(), "a lost connection ends the stream");

    let mut again = bus.subscribe(Channel::UserCreated).await.unwrap();
    bus.publish(&event).await.unwrap();
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(5), again.next())
            .await
            .unwrap(),
        Some(event.clone())
    );
    assert!(
        proxy.connections() >= 2,
        "subscribed again through the proxy"
    );

    // Dropping the bus ends its streams.
    drop(bus);
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        while again.next().await.is_some() {}
    })
    .await;
    assert!(ended.is_ok(), "the stream ends with the bus");
}

/// A TCP proxy to Redis on 127.0.0.1 whose connections can be cut.
struct Proxy {
    url: String,
    accepted: Arc<std::sync::atomic::AtomicUsize>,
    open: Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>,
    listener: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(redis_url: &str) -> Proxy {
        let (scheme, rest) = redis_url.split_once("://").unwrap();
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (userinfo, upstream) = match authority.rsplit_once('@') {
            Some((userinfo, host)) => (format!("{userinfo}@"), host.to_owned()),
            None => (String::new(), authority.to_owned()),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "{scheme}://{userinfo}{}/{path}",
            listener.local_addr().unwrap()
        );
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let open = Arc::new(std::sync::Mutex::new(Vec::new()));
        let listener = tokio::spawn({
            let (accepted, open) = (accepted.clone(), open.clone());
            async move {
                while let Ok((mut client, _)) = listener.accept().await {
                    accepted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let upstream = upstream.clone();
                    let task = tokio::spawn(async move {
                        let mut server = tokio::net::TcpStream::connect(upstream).await.unwrap();
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    });
                    open.lock().unwrap().push(task.abort_handle());
                }
            }
        });
        Proxy {
            url,
            accepted,
            open,
            listener,
        }
    }

    /// Closes every proxied connection; new ones are still accepted.
    fn cut(&self) {
        for task in self.open.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    fn connections(&self) -> usize {
        self.accepted.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.listener.abort();
    }
}

/// A plain connection for inspecting and poking the server.
async fn raw() -> redis::aio::MultiplexedConnection {
    let client = redis::Client::open(TestRedis::url().unwrap()).unwrap();
    client.get_multiplexed_async_connection().await.unwrap()
}
