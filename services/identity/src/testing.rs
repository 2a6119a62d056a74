//! Test doubles for the sibling services identity calls, and a harness that
//! wires identity over the SQL repositories on a fresh SQLite database.

pub(crate) use latch_testkit::LogCapture;
use std::sync::{
    Arc, Mutex, PoisonError,
    atomic::{AtomicBool, Ordering},
};

use argon2::Params;
use async_trait::async_trait;
use chrono::Duration;
use latch_authorization::Roles;
use latch_domain::{
    Clock, Error, ManualClock, Result, SessionId, UserId,
    events::{DELIVER_EVENT_KIND, Event, EventPayload},
    model::LoginEvent,
    model::{ClientInfo, DeviceInfo, Session, TokenPair},
    ports::{
        LoginHistoryRepository, NewOutboxMessage, OutboxRepository, ProfileDirectory,
        RoleDirectory, SessionDirectory, TokenIssuer,
    },
    secret::{Secret, random_token},
};
use latch_messaging::{Composer, Rendered, open_row};
use latch_profile::Profiles;
use latch_store::{
    memory::{MemoryEventBus, MemoryFailureCounter, MemoryFlowState, MemoryRateLimiter},
    sql::{
        SqlExternalIdentities, SqlLoginHistory, SqlOutbox, SqlPasskeys, SqlPasswordResets,
        SqlProfiles, SqlRoles, SqlSecondFactors, SqlUsers,
    },
};
use latch_testkit::TestDatabase;

use crate::{Argon2Hasher, Identity, IdentityConfig, IdentityDeps, IdentitySecrets, SignUp};

mod accounts;
mod oauth;

pub(crate) use oauth::FakeProviders;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The session service, reduced to a list of what was opened and revoked.
#[derive(Default)]
pub(crate) struct FakeSessions {
    pub(crate) created: Mutex<Vec<Session>>,
    pub(crate) revoked: Mutex<Vec<(SessionId, String)>>,
    /// While set, `revoke_all` fails as a session service that is down.
    pub(crate) revoke_all_fails: AtomicBool,
}

#[async_trait]
impl SessionDirectory for FakeSessions {
    async fn create(&self, user: UserId, client: &ClientInfo) -> Result<Session> {
        let now = chrono::Utc::now();
        let session = Session {
            id: SessionId::generate()?,
            user_id: user,
            client: client.clone(),
            device: DeviceInfo::default(),
            location: None,
            created_at: now,
            last_active_at: now,
            expires_at: now + Duration::days(30),
            revoked_at: None,
            revoked_reason: None,
        };
        lock(&self.created).push(session.clone());
        Ok(session)
    }

    async fn validate(&self, id: &SessionId) -> Result<Option<Session>> {
        let revoked = lock(&self.revoked).iter().any(|(r, _)| r == id);
        Ok(lock(&self.created)
            .iter()
            .find(|s| &s.id == id && !revoked)
            .cloned())
    }

    async fn touch(&self, id: &SessionId) -> Result<()> {
        match self.validate(id).await? {
            Some(_) => Ok(()),
            None => Err(latch_domain::Error::not_found("session")),
        }
    }

    async fn revoke(&self, id: &SessionId, reason: &str) -> Result<bool> {
        let mut revoked = lock(&self.revoked);
        if revoked.iter().any(|(r, _)| r == id) {
            return Ok(false);
        }
        revoked.push((id.clone(), reason.to_owned()));
        Ok(true)
    }

    /// Revokes the user's live sessions but `except`, as the session
    /// service does (one revocation each, with the reason).
    async fn revoke_all(
        &self,
        user: UserId,
        except: Option<&SessionId>,
        reason: &str,
    ) -> Result<u32> {
        if self.revoke_all_fails.load(Ordering::SeqCst) {
            return Err(Error::unavailable(std::io::Error::other("session down")));
        }
        let doomed: Vec<SessionId> = lock(&self.created)
            .iter()
            .filter(|s| s.user_id == user && Some(&s.id) != except)
            .map(|s| s.id.clone())
            .collect();
        let mut revoked = lock(&self.revoked);
        let mut count = 0;
        for id in doomed {
            if !revoked.iter().any(|(r, _)| r == &id) {
                revoked.push((id, reason.to_owned()));
                count += 1;
            }
        }
        Ok(count)
    }
}

/// The token service: hands out random strings.
#[derive(Default)]
pub(crate) struct FakeTokens;

#[async_trait]
impl TokenIssuer for FakeTokens {
    async fn issue(&self, user: UserId, session: &SessionId, _: &ClientInfo) -> Result<TokenPair> {
        let now = chrono::Utc::now();
        Ok(TokenPair {
            user_id: user,
            session_id: session.clone(),
            access_token: random_token(32)?,
            access_token_expires_at: now + Duration::minutes(15),
            refresh_token: random_token(32)?,
            refresh_token_expires_at: now + Duration::days(14),
        })
    }
}

/// A profile directory whose `create` fails while `fail` is set, after the
/// real one ran (as a timed-out remote call that did take effect would).
pub(crate) struct FlakyProfiles {
    pub(crate) inner: Arc<dyn ProfileDirectory>,
    pub(crate) fail: AtomicBool,
    /// The user of the last `create`, so a test can look for leftovers.
    pub(crate) last_user: Mutex<Option<UserId>>,
}

#[async_trait]
impl ProfileDirectory for FlakyProfiles {
    async fn create(&self, user: UserId, first: &str, last: &str) -> Result<bool> {
        *lock(&self.last_user) = Some(user);
        let created = self.inner.create(user, first, last).await?;
        if self.fail.load(Ordering::SeqCst) {
            return Err(Error::unavailable(std::io::Error::other("profile down")));
        }
        Ok(created)
    }

    async fn delete(&self, user: UserId) -> Result<bool> {
        self.inner.delete(user).await
    }
}

/// A role directory whose `assign` fails while `fail` is set.
pub(crate) struct FlakyRoles {
    pub(crate) inner: Arc<dyn RoleDirectory>,
    pub(crate) fail: AtomicBool,
}

#[async_trait]
impl RoleDirectory for FlakyRoles {
    async fn role_names(&self, user: UserId) -> Result<Vec<String>> {
        self.inner.role_names(user).await
    }

    async fn has_permission(&self, user: UserId, permission: &str) -> Result<bool> {
        self.inner.has_permission(user, permission).await
    }

    async fn assign(&self, user: UserId, role: &str) -> Result<bool> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(Error::unavailable(std::io::Error::other("authz down")));
        }
        self.inner.assign(user, role).await
    }

    async fn unassign(&self, user: UserId, role: &str) -> Result<bool> {
        self.inner.unassign(user, role).await
    }
}

/// Login history whose writes fail while `fail` is set.
pub(crate) struct FlakyHistory {
    pub(crate) inner: Arc<dyn LoginHistoryRepository>,
    pub(crate) fail: AtomicBool,
}

#[async_trait]
impl LoginHistoryRepository for FlakyHistory {
    async fn record(&self, event: &LoginEvent, follow_up: &[NewOutboxMessage]) -> Result<()> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(Error::unavailable(std::io::Error::other("database down")));
        }
        self.inner.record(event, follow_up).await
    }

    async fn list(&self, user: UserId, limit: u64) -> Result<Vec<LoginEvent>> {
        self.inner.list(user, limit).await
    }

    async fn page(
        &self,
        user: UserId,
        after: Option<latch_domain::model::LoginCursor>,
        limit: u64,
    ) -> Result<Vec<LoginEvent>> {
        self.inner.page(user, after, limit).await
    }

    async fn delete_before(
        &self,
        before: chrono::DateTime<chrono::Utc>,
        limit: u64,
    ) -> Result<u64> {
        self.inner.delete_before(before, limit).await
    }

    async fn last_success(
        &self,
        user: UserId,
        device: Option<&str>,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(Error::unavailable(std::io::Error::other("database down")));
        }
        self.inner.last_success(user, device).await
    }
}

/// Identity wired over SQLite, the real profile and authorization flows
/// (behind switches that make them fail), fake session and token services,
/// and a cheap argon2 so tests stay fast.
pub(crate) struct Harness {
    pub(crate) identity: Arc<Identity>,
    pub(crate) hasher: Arc<Argon2Hasher>,
    pub(crate) users: Arc<SqlUsers>,
    pub(crate) history: Arc<SqlLoginHistory>,
    pub(crate) history_fail: Arc<FlakyHistory>,
    pub(crate) second_factors: Arc<SqlSecondFactors>,
    pub(crate) profiles: Arc<Profiles>,
    pub(crate) roles: Arc<Roles>,
    pub(crate) profiles_fail: Arc<FlakyProfiles>,
    pub(crate) roles_fail: Arc<FlakyRoles>,
    pub(crate) sessions: Arc<FakeSessions>,
    pub(crate) clock: ManualClock,
    /// The outbox identity queues mail and SMS into (nothing sends them
    /// here: read them with [`Harness::queued_messages`]).
    pub(crate) outbox: Arc<SqlOutbox>,
    pub(crate) flow_state: Arc<MemoryFlowState>,
    pub(crate) secrets: IdentitySecrets,
    pub(crate) identities: Arc<SqlExternalIdentities>,
    /// The provider port's stand-in (see `testing/oauth.rs`).
    pub(crate) oauth: Arc<FakeProviders>,
    pub(crate) passkeys: Arc<SqlPasskeys>,
    _db: TestDatabase,
}

pub(crate) const PASSWORD: &str = "correct horse battery staple 42";

impl Harness {
    pub(crate) async fn new() -> Harness {
        Self::with_config(IdentityConfig::default()).await
    }

    pub(crate) async fn with_config(config: IdentityConfig) -> Harness {
        Self::on(TestDatabase::new().await, config).await
    }

    /// One harness per backend the run has: SQLite always, PostgreSQL
    /// when `LATCH_TEST_DATABASE_URL` is set, for what only one of them
    /// enforces (column widths, NUL bytes).
    pub(crate) async fn on_every_backend() -> Vec<Harness> {
        let mut harnesses =
            vec![Self::on(TestDatabase::sqlite().await, IdentityConfig::default()).await];
        if let Some(db) = TestDatabase::postgres().await {
            harnesses.push(Self::on(db, IdentityConfig::default()).await);
        }
        harnesses
    }

    pub(crate) async fn on(db: TestDatabase, config: IdentityConfig) -> Harness {
        let clock = ManualClock::starting_now();
        let clock_port: Arc<dyn Clock> = Arc::new(clock.clone());
        let users = Arc::new(SqlUsers::new(db.db().clone()));
        let history = Arc::new(SqlLoginHistory::new(db.db().clone()));
        let history_fail = Arc::new(FlakyHistory {
            inner: history.clone(),
            fail: AtomicBool::new(false),
        });
        let bus = Arc::new(MemoryEventBus::new());
        let roles = Roles::new(Arc::new(SqlRoles::new(db.db().clone())), clock_port.clone());
        let profiles = Profiles::new(
            Arc::new(SqlProfiles::new(db.db().clone())),
            bus.clone(),
            clock_port.clone(),
            Profiles::DEFAULT_CACHE_TTL,
        );
        let profiles_fail = Arc::new(FlakyProfiles {
            inner: profiles.clone(),
            fail: AtomicBool::new(false),
            last_user: Mutex::new(None),
        });
        let roles_fail = Arc::new(FlakyRoles {
            inner: roles.clone(),
            fail: AtomicBool::new(false),
        });
        let hasher = Argon2Hasher::new(Params::new(64, 1, 1, None).unwrap(), 2).unwrap();
        let sessions = Arc::new(FakeSessions::default());
        let second_factors = Arc::new(SqlSecondFactors::new(db.db().clone()));
        let outbox = Arc::new(SqlOutbox::new(db.db().clone()));
        let flow_state = Arc::new(MemoryFlowState::new(clock_port.clone()));
        let key: [u8; 32] = latch_domain::secret::random_bytes(32)
            .unwrap()
            .try_into()
            .unwrap();
        let secrets = IdentitySecrets::derive(Secret::new(key));
        let composer = Composer::new(secrets.encryption_key.clone(), None).unwrap();
        let identities = Arc::new(SqlExternalIdentities::new(db.db().clone()));
        let oauth = Arc::new(FakeProviders::default());
        let passkeys = Arc::new(SqlPasskeys::new(db.db().clone()));
        let deps = IdentityDeps {
            identities: identities.clone(),
            oauth: oauth.clone(),
            passkeys: passkeys.clone(),
            users: users.clone(),
            user_admin: users.clone(),
            failure_records: users.clone(),
            login_history: history_fail.clone(),
            second_factors: second_factors.clone(),
            password_resets: Arc::new(SqlPasswordResets::new(db.db().clone())),
            hasher: hasher.clone(),
            sessions: sessions.clone(),
            tokens: Arc::new(FakeTokens),
            roles: roles_fail.clone(),
            profiles: profiles_fail.clone(),
            rate_limiter: Arc::new(MemoryRateLimiter::new(clock_port.clone())),
            failure_counter: Arc::new(MemoryFailureCounter::new(clock_port.clone())),
            clock: clock_port,
            outbox: outbox.clone(),
            messages: Arc::new(composer),
            flow_state: flow_state.clone(),
            secrets: secrets.clone(),
        };
        Harness {
            identity: Identity::new(deps, config),
            hasher,
            users,
            history,
            history_fail,
            second_factors,
            profiles,
            roles,
            profiles_fail,
            roles_fail,
            sessions,
            clock,
            outbox,
            flow_state,
            secrets,
            identities,
            oauth,
            passkeys,
            _db: db,
        }
    }

    /// The messages queued about `user` (the outbox rows keyed by its id),
    /// opened, oldest first: what the outbox worker would send.
    pub(crate) async fn queued_messages(&self, user: UserId) -> Vec<Rendered> {
        self.outbox
            .find_by_key(&user.to_string())
            .await
            .unwrap()
            .iter()
            .filter(|row| row.kind.starts_with("identity.send_"))
            .map(|row| open_row(self.secrets.encryption_key.expose(), row).unwrap())
            .collect()
    }
}

impl Harness {
    /// The `user:*` events written to the outbox about `user` (kind
    /// `events.deliver`, key `user:{id}`), oldest first: what the worker
    /// will deliver, each written with the change it reports. The user's
    /// `authz:changed` (authorization's, same key) is left out.
    pub(crate) async fn events_of(&self, user: UserId) -> Vec<EventPayload> {
        self.outbox
            .find_by_key(&format!("user:{user}"))
            .await
            .unwrap()
            .iter()
            .filter(|row| row.kind == DELIVER_EVENT_KIND)
            .map(|row| Event::from_outbox(row).unwrap().payload)
            .filter(|event| !matches!(event, EventPayload::AuthzChanged { .. }))
            .collect()
    }

    /// The fields each `user:updated` about `user` names, oldest first.
    pub(crate) async fn updates_of(&self, user: UserId) -> Vec<Vec<String>> {
        self.events_of(user)
            .await
            .into_iter()
            .filter_map(|event| match event {
                EventPayload::UserUpdated { changed_fields, .. } => Some(changed_fields),
                _ => None,
            })
            .collect()
    }

    /// The test's database, for reading another service's table.
    pub(crate) fn db(&self) -> &latch_store::Database {
        self._db.db()
    }

    pub(crate) fn clock_now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }
}

impl FlakyProfiles {
    pub(crate) fn last_user(&self) -> Option<UserId> {
        *lock(&self.last_user)
    }
}

/// A valid sign-up for `email`.
pub(crate) fn sign_up_request(email: &str) -> SignUp {
    SignUp {
        email: email.to_owned(),
        password: Secret::new(PASSWORD.to_owned()),
        first_name: "Ada".to_owned(),
        last_name: "Lovelace".to_owned(),
        phone: None,
        client: ClientInfo {
            ip: Some("203.0.113.7".to_owned()),
            user_agent: Some("test".to_owned()),
        },
    }
}
