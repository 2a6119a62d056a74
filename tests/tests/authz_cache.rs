//! Cached authorization decisions across replicas: each process serves a
//! user's roles from its own cache, and a revocation through any replica
//! stops working on every other within one second (`authz:changed` over
//! Redis). PostgreSQL + Redis only: the embedded mode is one process.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use latch_domain::{
    Clock, ManualClock, UserId,
    events::DELIVER_EVENT_KIND,
    model::{builtin, permission},
    ports::{OutboxRepository, OutboxStatus, RoleRepository},
};
use latch_proto::latch::{
    authorization::v1::{
        AssignRoleRequest, CheckRequest, CreateRoleRequest, RevokePermissionRequest,
        UnassignRoleRequest, authorization_service_client::AuthorizationServiceClient,
    },
    identity::v1::{GetUserRequest, identity_service_client::IdentityServiceClient},
};
use latch_runtime::{
    auth::SERVICE_TOKEN_HEADER, config::MapSource, infra::Infra, secrets::Secrets, server,
};
use latch_store::sql::{SqlOutbox, SqlRoles};
use latch_testkit::{TestDatabase, TestRedis};
use latch_tests::{
    bearer, must,
    separate::{FiveServers, Service},
    sign_up, with_header,
};
use tokio::{net::TcpListener, sync::oneshot};
use tonic::{Code, Request, transport::Channel};

/// What a revocation may take at most to reach every replica.
const PROPAGATION: Duration = Duration::from_secs(1);

/// One latchd process.
struct Replica {
    channel: Channel,
    _stop: oneshot::Sender<()>,
}

impl Replica {
    fn authorization(&self) -> AuthorizationServiceClient<Channel> {
        AuthorizationServiceClient::new(self.channel.clone())
    }

    fn identity(&self) -> IdentityServiceClient<Channel> {
        IdentityServiceClient::new(self.channel.clone())
    }
}

/// Two whole latchd on one database, Redis prefix and set of secrets, as
/// two pods run them: pools, caches and listeners of their own.
struct TwoReplicas {
    a: Replica,
    b: Replica,
    secrets: Secrets,
    /// The tables, for writes behind both replicas' backs.
    roles: SqlRoles,
    _db: TestDatabase,
}

impl TwoReplicas {
    async fn start() -> Option<Self> {
        let Some(db) = TestDatabase::postgres().await else {
            eprintln!(
                "LATCH_TEST_DATABASE_URL unset: the two-replica run needs PostgreSQL + Redis"
            );
            return None;
        };
        let missing = "LATCH_TEST_REDIS_URL must be set with LATCH_TEST_DATABASE_URL";
        let redis = TestRedis::from_env().await.expect(missing);
        let url = TestRedis::url().expect(missing);
        let secrets = must(Secrets::generate(), "secrets");
        let mut replicas = Vec::new();
        for _ in 0..2 {
            // A clock that never moves: no entry expires, so only the event
            // can end a cached grant.
            let clock: Arc<dyn Clock> = Arc::new(ManualClock::starting_now());
            let infra = must(
                Infra::with_redis(db.db().clone(), redis.clone(), &url, clock.clone()),
                "infra",
            );
            let latchd = must(
                latchd::assemble(&MapSource::new(), &secrets, &infra, clock).await,
                "assemble latchd",
            );
            let listener = must(TcpListener::bind("127.0.0.1:0").await, "bind");
            let addr = must(listener.local_addr(), "local addr");
            let (stop, stopped) = oneshot::channel::<()>();
            tokio::spawn(async move {
                let stopped = async {
                    let _ = stopped.await;
                };
                if let Err(err) =
                    server::serve(latchd.services, listener, latchd.guard, stopped).await
                {
                    eprintln!("replica stopped: {err}");
                }
            });
            let channel = must(
                Channel::from_shared(format!("http://{addr}")).map(|e| e.connect_lazy()),
                "channel",
            );
            replicas.push(Replica {
                channel,
                _stop: stop,
            });
        }
        let b = replicas.pop().expect("two");
        let a = replicas.pop().expect("two");
        Some(Self {
            a,
            b,
            secrets,
            roles: SqlRoles::new(db.db().clone()),
            _db: db,
        })
    }

    fn internal<T>(&self, message: T) -> Request<T> {
        with_header(
            Request::new(message),
            SERVICE_TOKEN_HEADER,
            self.secrets.service_token.expose(),
        )
    }

    /// A new user, signed up through A: its id and access token.
    async fn user(&self, email: &str) -> (UserId, String) {
        let signed_up = sign_up(self.a.identity(), email).await;
        let id = signed_up.user.expect("user").id;
        let token = signed_up.auth.expect("tokens").access_token;
        (UserId::parse("user_id", &id).expect("a user id"), token)
    }

    async fn assign(&self, user: UserId, role: &str) {
        let request = AssignRoleRequest {
            user_id: user.to_string(),
            role: role.to_owned(),
        };
        must(
            self.a
                .authorization()
                .assign_role(self.internal(request))
                .await,
            "assign through A",
        );
    }

    /// Check on B, as a sibling asks.
    async fn b_allows(&self, user: UserId, permission: &str) -> bool {
        let request = CheckRequest {
            user_id: user.to_string(),
            permission: permission.to_owned(),
            resource: String::new(),
        };
        must(
            self.b.authorization().check(self.internal(request)).await,
            "check on B",
        )
        .into_inner()
        .allowed
    }

    /// Waits until every event of `aggregates` (`user:{id}`, `role:{name}`)
    /// written so far was delivered: the worker sends it a few ms after
    /// its write, and one arriving in the middle of [`Self::until_b_caches`]
    /// would have B cache what the hidden write left (and nothing would
    /// announce the restore).
    async fn events_delivered(&self, aggregates: &[String]) {
        let outbox = SqlOutbox::new(self._db.db().clone());
        let delivered = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let mut pending = false;
                for key in aggregates {
                    let rows = outbox.find_by_key(key).await.expect("outbox");
                    pending |= rows
                        .iter()
                        .any(|m| m.kind == DELIVER_EVENT_KIND && m.status != OutboxStatus::Done);
                }
                if !pending {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
        assert!(delivered.is_ok(), "events still undelivered after 10 s");
        // Published once done; B's listener handles it a moment later.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    /// Waits until B answers `permission` for `user` from its cache: what
    /// `hide` takes away behind its back (no event) is still allowed there.
    /// `restore` puts it back each time.
    async fn until_b_caches(
        &self,
        user: UserId,
        permission: &str,
        hide: impl AsyncFn(),
        restore: impl AsyncFn(),
    ) {
        let cached = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                assert!(self.b_allows(user, permission).await, "granted on B");
                hide().await;
                let from_cache = self.b_allows(user, permission).await;
                restore().await;
                if from_cache {
                    return;
                }
                // B's listener is not subscribed yet.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        assert!(cached.is_ok(), "B never served the grant from its cache");
    }
}

/// Polls `allowed` until it says no; how long that took.
async fn until_denied(allowed: impl AsyncFn() -> bool) -> Duration {
    let started = Instant::now();
    let waited = tokio::time::timeout(Duration::from_secs(10), async {
        while allowed().await {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "still allowed after 10 s");
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unassigned_role_stops_working_on_every_replica_within_a_second() {
    let Some(r) = TwoReplicas::start().await else {
        return;
    };
    let (user, _) = r.user("unassigned@example.com").await;
    r.assign(user, builtin::ADMIN).await;
    let admin = r
        .roles
        .find_role(builtin::ADMIN)
        .await
        .unwrap()
        .expect("ADMIN is seeded");
    r.events_delivered(&[format!("user:{user}")]).await;
    r.until_b_caches(
        user,
        permission::USERS_READ,
        async || assert!(r.roles.unassign(user, admin.id, &[]).await.unwrap()),
        async || {
            let at = chrono::Utc::now();
            assert!(r.roles.assign(user, admin.id, at, &[]).await.unwrap());
        },
    )
    .await;

    let request = UnassignRoleRequest {
        user_id: user.to_string(),
        role: builtin::ADMIN.to_owned(),
    };
    let unassigned = must(
        r.a.authorization().unassign_role(r.internal(request)).await,
        "unassign through A",
    );
    assert!(unassigned.into_inner().unassigned);
    let delay = until_denied(async || r.b_allows(user, permission::USERS_READ).await).await;
    println!("UnassignRole through A ended the grant on B after {delay:?}");
    assert!(delay < PROPAGATION, "took {delay:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_permission_stops_working_on_every_replica_within_a_second() {
    let Some(r) = TwoReplicas::start().await else {
        return;
    };
    let (root, root_token) = r.user("root@example.com").await;
    r.assign(root, builtin::SUPERADMIN).await;
    let create = CreateRoleRequest {
        name: "AUDITOR".to_owned(),
        description: String::new(),
        permissions: vec![permission::USERS_READ.to_owned()],
    };
    must(
        r.a.authorization()
            .create_role(bearer(create, &root_token))
            .await,
        "create AUDITOR through A",
    );
    let (auditor, _) = r.user("auditor@example.com").await;
    r.assign(auditor, "AUDITOR").await;
    let role = r
        .roles
        .find_role("AUDITOR")
        .await
        .unwrap()
        .expect("created");
    r.events_delivered(&[format!("user:{auditor}"), "role:AUDITOR".to_owned()])
        .await;
    r.until_b_caches(
        auditor,
        permission::USERS_READ,
        async || {
            assert!(
                r.roles
                    .revoke(role.id, permission::USERS_READ, &[])
                    .await
                    .unwrap()
            )
        },
        async || {
            assert!(
                r.roles
                    .grant(role.id, permission::USERS_READ, &[])
                    .await
                    .unwrap()
            )
        },
    )
    .await;

    let request = RevokePermissionRequest {
        role: "AUDITOR".to_owned(),
        permission: permission::USERS_READ.to_owned(),
    };
    let revoked = must(
        r.a.authorization()
            .revoke_permission(bearer(request, &root_token))
            .await,
        "revoke through A",
    );
    assert!(revoked.into_inner().revoked);
    let delay = until_denied(async || r.b_allows(auditor, permission::USERS_READ).await).await;
    println!("RevokePermission through A ended the grant on B after {delay:?}");
    assert!(delay < PROPAGATION, "took {delay:?}");
}

/// The separate binaries: identity checks an admin's [users.read] through
/// its cached view of the authorization service. Unassigned there, the
/// admin loses GetUser on identity within 1 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_separate_binary_drops_its_cached_grant_within_a_second() {
    let Some(servers) = FiveServers::start(MapSource::new()).await else {
        return;
    };
    let admin = sign_up(servers.identity(), "separate-admin@example.com").await;
    let other = sign_up(servers.identity(), "separate-user@example.com").await;
    let admin_id = admin.user.expect("user").id;
    let other_id = other.user.expect("user").id;
    let token = admin.auth.expect("tokens").access_token;
    let mut authorization =
        AuthorizationServiceClient::new(servers.channel(Service::Authorization));
    must(
        authorization
            .assign_role(servers.internal(AssignRoleRequest {
                user_id: admin_id.clone(),
                role: builtin::ADMIN.to_owned(),
            }))
            .await,
        "assign ADMIN",
    );

    let reads_other = async || {
        let request = bearer(
            GetUserRequest {
                user_id: other_id.clone(),
            },
            &token,
        );
        match servers.identity().get_user(request).await {
            Ok(_) => true,
            Err(status) => {
                assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
                false
            }
        }
    };
    let granted = tokio::time::timeout(Duration::from_secs(10), async {
        while !reads_other().await {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(granted.is_ok(), "the ADMIN grant never showed on identity");

    must(
        authorization
            .unassign_role(servers.internal(UnassignRoleRequest {
                user_id: admin_id,
                role: builtin::ADMIN.to_owned(),
            }))
            .await,
        "unassign ADMIN",
    );
    let delay = until_denied(reads_other).await;
    println!("UnassignRole ended the grant on the identity binary after {delay:?}");
    assert!(delay < PROPAGATION, "took {delay:?}");
}
