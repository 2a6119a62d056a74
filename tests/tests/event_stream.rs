//! Events are never lost (issue 13, item 3): latchd on PostgreSQL and a
//! Redis of the test's own, which the test kills; writes made while it is
//! down are delivered by the outbox once it is back, and each consumer
//! group (latch-client's `StreamConsumer`) sees every event exactly once,
//! in order per user. Also the consumer's own promises on a bare stream:
//! a failed handler is retried before anything newer, and entries a dead
//! consumer left pending are taken over.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{
    collections::{HashMap, HashSet},
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use latch_client::events::{ConsumerOptions, StreamConsumer, StreamEvent};
use latch_domain::{Clock, SystemClock};
use latch_proto::latch::{
    authorization::v1::{
        AssignRoleRequest, UnassignRoleRequest,
        authorization_service_client::AuthorizationServiceClient,
    },
    common::v1::AuthResult,
    events::v1::{AuthzChanged, SessionRevoked, UserUpdated, authz_changed},
    identity::v1::{LogoutRequest, identity_service_client::IdentityServiceClient},
    profile::v1::{Profile, UpdateProfileRequest, profile_service_client::ProfileServiceClient},
};
use latch_runtime::{
    auth::SERVICE_TOKEN_HEADER, config::MapSource, infra::Infra, secrets::Secrets,
};
use latch_testkit::{PrivateRedis, TestDatabase};
use latch_tests::{bearer, must, sign_up};
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};
use tonic::{Request, metadata::MetadataValue, transport::Channel};

/// latchd's `LATCH_REDIS_PREFIX` here: the streams are `evt:events:…`.
const PREFIX: &str = "evt:";
const CHANNELS: [&str; 3] = ["user:updated", "authz:changed", "session:revoked"];
const GROUPS: [&str; 2] = ["billing", "search"];

/// latchd on a fresh PostgreSQL database and `redis`, its outbox polled
/// and retried every 50 ms, on the system clock (retries come due).
struct Latchd {
    channel: Channel,
    service_token: String,
    _stop: oneshot::Sender<()>,
    _db: TestDatabase,
    _data_dir: tempfile::TempDir,
}

impl Latchd {
    async fn start(redis: &PrivateRedis) -> Option<Self> {
        let db = TestDatabase::postgres().await?;
        let data_dir = tempfile::tempdir().unwrap();
        let settings = MapSource::new()
            .with("LATCH_DATA_DIR", data_dir.path().display().to_string())
            .with("LATCH_OUTBOX_POLL_INTERVAL", "50ms")
            .with("LATCH_OUTBOX_RETRY_BACKOFF", "50ms");
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        // A short command deadline: requests made while Redis is down wait
        // on it no longer than this.
        let handle = redis.connect(PREFIX, Duration::from_millis(500)).await;
        let infra = must(
            Infra::with_redis(db.db().clone(), handle, redis.url(), clock.clone()),
            "infra",
        );
        let secrets = must(Secrets::generate(), "secrets");
        let latchd = must(
            latchd::assemble(&settings, &secrets, &infra, clock).await,
            "assemble latchd",
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let stop = async {
                let _ = stopped.await;
            };
            if let Err(err) =
                latch_runtime::server::serve(latchd.services, listener, latchd.guard, stop).await
            {
                eprintln!("latchd stopped: {err}");
            }
        });
        let channel = Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect_lazy();
        Some(Self {
            channel,
            service_token: secrets.service_token.expose().clone(),
            _stop: stop,
            _db: db,
            _data_dir: data_dir,
        })
    }

    fn internal<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        let token = MetadataValue::try_from(self.service_token.as_str()).unwrap();
        request.metadata_mut().insert(SERVICE_TOKEN_HEADER, token);
        request
    }
}

/// What one group received, in arrival order, per channel.
type Received = Arc<Mutex<Vec<StreamEvent>>>;

fn fast() -> ConsumerOptions {
    ConsumerOptions {
        block: Duration::from_millis(200),
        claim_every: Duration::from_millis(200),
        claim_min_idle: Duration::from_secs(1),
        call_timeout: Duration::from_millis(500),
        ..ConsumerOptions::default()
    }
}

/// One consumer of `group` on `channel`, recording what it is handed.
async fn consume(url: &str, channel: &str, group: &str, into: Received) -> JoinHandle<()> {
    let consumer = StreamConsumer::new(url, PREFIX, channel, group, "consumer-1")
        .unwrap()
        .with_options(fast());
    assert_eq!(consumer.stream(), format!("evt:events:{channel}"));
    consumer.create_group().await.unwrap();
    tokio::spawn(async move {
        consumer
            .run(move |event| {
                let into = into.clone();
                async move {
                    into.lock().unwrap().push(event);
                    Ok::<_, String>(())
                }
            })
            .await;
    })
}

async fn update_profile(latchd: &Latchd, user: &AuthResult, field: &str) {
    let profile = Profile {
        first_name: format!("F-{field}"),
        last_name: format!("L-{field}"),
        display_name: format!("D-{field}"),
        ..Default::default()
    };
    let request = UpdateProfileRequest {
        user_id: String::new(),
        profile: Some(profile),
        update_mask: Some(prost_types::FieldMask {
            paths: vec![field.to_owned()],
        }),
        ..Default::default()
    };
    must(
        ProfileServiceClient::new(latchd.channel.clone())
            .update_profile(bearer(request, &user.access_token))
            .await,
        &format!("update {field} while Redis is down"),
    );
}

/// Events of `channel` received by `group`, once each is in (or after
/// 30 s, to fail with what came).
async fn wait_for(received: &Received, expected: usize) -> Vec<StreamEvent> {
    for _ in 0..300 {
        if received.lock().unwrap().len() >= expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A little longer, so a duplicate would show.
    tokio::time::sleep(Duration::from_millis(500)).await;
    received.lock().unwrap().clone()
}

/// Each event id and entry once, and every event of one aggregate in
/// creation order (event ids are UUIDv7: increasing in creation order).
fn assert_once_in_order(events: &[StreamEvent], what: &str) {
    let ids: HashSet<_> = events.iter().map(|e| e.event_id.as_str()).collect();
    assert_eq!(ids.len(), events.len(), "{what}: an event came twice");
    let mut last: HashMap<&str, &str> = HashMap::new();
    for event in events {
        if let Some(previous) = last.insert(&event.aggregate, &event.event_id) {
            assert!(
                previous < event.event_id.as_str(),
                "{what}: {} out of order after {previous}",
                event.event_id
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn events_written_while_redis_is_down_reach_every_group_once_in_order() {
    let Some(mut redis) = PrivateRedis::start() else {
        return;
    };
    let Some(latchd) = Latchd::start(&redis).await else {
        eprintln!("LATCH_TEST_DATABASE_URL unset: skipped");
        return;
    };
    let identity = || IdentityServiceClient::new(latchd.channel.clone());
    let ada = must(
        sign_up(identity(), "ada@example.com")
            .await
            .auth
            .ok_or("no tokens"),
        "ada",
    );
    let bob = must(
        sign_up(identity(), "bob@example.com")
            .await
            .auth
            .ok_or("no tokens"),
        "bob",
    );

    // Two groups (two services), each following three channels.
    let mut received: HashMap<(&str, &str), Received> = HashMap::new();
    let mut consumers = Vec::new();
    for group in GROUPS {
        for channel in CHANNELS {
            let into = Received::default();
            consumers.push(consume(redis.url(), channel, group, into.clone()).await);
            received.insert((group, channel), into);
        }
    }

    // What signing up delivered (the default role's authz:changed) is
    // not this test's: let it arrive, then forget it.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for ((group, channel), events) in &received {
        let before = std::mem::take(&mut *events.lock().unwrap());
        eprintln!("{group} {channel}: {} before the stop", before.len());
    }

    redis.kill();
    // Profile edits (user:updated), role changes (authz:changed) and
    // sign-outs (session:revoked), interleaved between the two users.
    let ada_fields = ["display_name", "first_name", "last_name"];
    let bob_fields = ["last_name", "display_name", "first_name"];
    for (a, b) in ada_fields.iter().zip(bob_fields) {
        update_profile(&latchd, &ada, a).await;
        update_profile(&latchd, &bob, b).await;
    }
    let mut authz = AuthorizationServiceClient::new(latchd.channel.clone());
    for user in [&ada, &bob] {
        let assign = AssignRoleRequest {
            user_id: user.user_id.clone(),
            role: "ADMIN".into(),
        };
        must(
            authz.assign_role(latchd.internal(assign)).await,
            "assign while down",
        );
    }
    let unassign = UnassignRoleRequest {
        user_id: ada.user_id.clone(),
        role: "ADMIN".into(),
    };
    must(
        authz.unassign_role(latchd.internal(unassign)).await,
        "unassign while down",
    );
    for user in [&ada, &bob] {
        // The session row is revoked (with its event) in one transaction;
        // without Redis for the cache tombstone the answer asks for a retry.
        let answer = identity()
            .logout(bearer(LogoutRequest {}, &user.access_token))
            .await;
        match answer {
            Ok(_) => {}
            Err(status) if status.code() == tonic::Code::Unavailable => {}
            Err(status) => panic!("logout while Redis is down: {status:?}"),
        }
    }
    // Nothing can have arrived: there is no Redis.
    for events in received.values() {
        assert!(events.lock().unwrap().is_empty());
    }

    // Back, empty (no persistence): the groups are created again from the
    // start of their streams, and the outbox delivers what waited.
    redis.restart();
    for group in GROUPS {
        let updated = wait_for(&received[&(group, "user:updated")], 6).await;
        assert_eq!(updated.len(), 6, "{group}: {updated:?}");
        assert_once_in_order(&updated, group);
        for (user, fields) in [(&ada, ada_fields), (&bob, bob_fields)] {
            let seen: Vec<Vec<String>> = updated
                .iter()
                .filter(|e| e.aggregate == format!("user:{}", user.user_id))
                .map(|e| {
                    assert_eq!(e.event_type, "user:updated");
                    let message: UserUpdated = e.decode().unwrap();
                    assert_eq!(message.event_id, e.event_id);
                    assert_eq!(message.user_id, user.user_id);
                    message.changed_fields
                })
                .collect();
            let expected: Vec<Vec<String>> = fields.iter().map(|f| vec![(*f).to_owned()]).collect();
            assert_eq!(
                seen, expected,
                "{group}: the order of {}'s edits",
                user.user_id
            );
        }

        let changed = wait_for(&received[&(group, "authz:changed")], 3).await;
        assert_eq!(changed.len(), 3, "{group}: {changed:?}");
        assert_once_in_order(&changed, group);
        let scopes: Vec<String> = changed
            .iter()
            .map(|e| match e.decode::<AuthzChanged>().unwrap().scope {
                Some(authz_changed::Scope::UserId(user)) => user,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(scopes.iter().filter(|u| **u == ada.user_id).count(), 2);
        assert_eq!(scopes.iter().filter(|u| **u == bob.user_id).count(), 1);

        let revoked = wait_for(&received[&(group, "session:revoked")], 2).await;
        assert_eq!(revoked.len(), 2, "{group}: {revoked:?}");
        assert_once_in_order(&revoked, group);
        let mut users: Vec<String> = revoked
            .iter()
            .map(|e| e.decode::<SessionRevoked>().unwrap().user_id)
            .collect();
        users.sort();
        let mut expected = vec![ada.user_id.clone(), bob.user_id.clone()];
        expected.sort();
        assert_eq!(users, expected);
    }
    for consumer in consumers {
        consumer.abort();
    }
}

/// Appends events as latchd's outbox worker does: `EventBus::deliver`.
async fn producer(redis: &PrivateRedis) -> latch_store::redis::RedisEventBus {
    let handle = redis.connect(PREFIX, Duration::from_secs(2)).await;
    latch_store::redis::RedisEventBus::new(handle, redis.url()).unwrap()
}

fn user_updated(user: latch_domain::UserId, field: &str) -> latch_domain::events::Event {
    latch_domain::events::Event::new(
        chrono::Utc::now(),
        latch_domain::events::EventPayload::UserUpdated {
            user_id: user,
            changed_fields: vec![field.to_owned()],
        },
    )
}

async fn until(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..200 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_handler_is_retried_in_order_and_a_dead_consumers_entries_are_taken_over() {
    use latch_domain::ports::EventBus;

    let Some(redis) = PrivateRedis::start() else {
        return;
    };
    let bus = producer(&redis).await;
    let user = latch_domain::UserId::new();
    let events: Vec<_> = ["a", "b", "c", "d"]
        .iter()
        .map(|field| user_updated(user, field))
        .collect();
    let ids: Vec<String> = events.iter().map(|e| e.id.to_string()).collect();
    let options = ConsumerOptions {
        claim_min_idle: Duration::from_millis(800),
        ..fast()
    };
    let consumer = |name: &str| {
        StreamConsumer::new(redis.url(), PREFIX, "user:updated", "mailer", name)
            .unwrap()
            .with_options(options.clone())
    };
    consumer("dead").create_group().await.unwrap();
    for event in &events[..3] {
        bus.deliver(event).await.unwrap();
    }

    // A consumer that reads the first three and dies before acknowledging.
    let handed = Arc::new(Mutex::new(0_usize));
    let dead = {
        let handed = handed.clone();
        let dead = consumer("dead");
        tokio::spawn(async move {
            dead.run(move |_event| {
                *handed.lock().unwrap() += 1;
                std::future::pending::<Result<(), String>>()
            })
            .await;
        })
    };
    until("the dead consumer's read", || *handed.lock().unwrap() == 1).await;
    dead.abort();

    // Another takes them over once idle; its handler fails on the second
    // event once, which is retried before the third.
    let handled = Received::default();
    let attempts = Arc::new(Mutex::new(HashMap::<String, usize>::new()));
    let live = {
        let handled = handled.clone();
        let attempts = attempts.clone();
        let fail_once = ids[1].clone();
        let live = consumer("live");
        tokio::spawn(async move {
            live.run(move |event| {
                let handled = handled.clone();
                let attempts = attempts.clone();
                let fail_once = fail_once.clone();
                async move {
                    let tries = {
                        let mut attempts = attempts.lock().unwrap();
                        let tries = attempts.entry(event.event_id.clone()).or_default();
                        *tries += 1;
                        *tries
                    };
                    if event.event_id == fail_once && tries == 1 {
                        return Err("the database is busy".to_owned());
                    }
                    handled.lock().unwrap().push(event);
                    Ok(())
                }
            })
            .await;
        })
    };
    until("the three taken over", || {
        handled.lock().unwrap().len() == 3
    })
    .await;
    bus.deliver(&events[3]).await.unwrap();
    until("the fourth", || handled.lock().unwrap().len() == 4).await;
    let order: Vec<String> = handled
        .lock()
        .unwrap()
        .iter()
        .map(|e| e.event_id.clone())
        .collect();
    assert_eq!(order, ids);
    assert_eq!(attempts.lock().unwrap()[&ids[1]], 2);
    live.abort();

    // All acknowledged: a newcomer that takes over anything idle finds
    // nothing left of this group...
    let leftovers = Received::default();
    let late = {
        let leftovers = leftovers.clone();
        let late = StreamConsumer::new(redis.url(), PREFIX, "user:updated", "mailer", "late")
            .unwrap()
            .with_options(ConsumerOptions {
                claim_min_idle: Duration::from_millis(10),
                ..fast()
            });
        tokio::spawn(async move {
            late.run(move |event| {
                let leftovers = leftovers.clone();
                async move {
                    leftovers.lock().unwrap().push(event);
                    Ok::<_, String>(())
                }
            })
            .await;
        })
    };
    // ...while another group, new, reads the whole stream for itself.
    let audit = Received::default();
    let audit_task = consume(redis.url(), "user:updated", "audit", audit.clone()).await;
    until("the audit group", || audit.lock().unwrap().len() == 4).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(
        leftovers.lock().unwrap().is_empty(),
        "{:?}",
        leftovers.lock().unwrap()
    );
    late.abort();
    audit_task.abort();
}
