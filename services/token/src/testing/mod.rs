//! Test wiring: the token service on real storage (a migrated database per
//! test, from latch-testkit) with small fakes of the sibling services it
//! calls, and a manual clock.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod fakes;
mod refresh;

use std::sync::Arc;

use chrono::TimeDelta;
use latch_domain::{
    ManualClock, SessionId, UserId,
    model::{ClientInfo, TokenPair, UserStatus},
};
use latch_store::{
    Database,
    sql::{SqlRefreshTokens, SqlSigningKeys},
};
use latch_testkit::TestDatabase;

pub(crate) use fakes::{FakeRoles, FakeSessions, FakeUsers};
pub(crate) use refresh::reason;

use crate::{TokenConfig, TokenDeps, TokenSecrets, Tokens};

/// A migrated database of the test's own: PostgreSQL when
/// `LATCH_TEST_DATABASE_URL` is set, a SQLite file otherwise.
pub(crate) struct Storage(TestDatabase);

impl Storage {
    pub(crate) async fn new() -> Self {
        Self(TestDatabase::new().await)
    }

    pub(crate) fn db(&self) -> &Database {
        self.0.db()
    }
}

pub(crate) struct Harness {
    pub(crate) tokens: Arc<Tokens>,
    pub(crate) clock: ManualClock,
    pub(crate) sessions: Arc<FakeSessions>,
    pub(crate) users: Arc<FakeUsers>,
    pub(crate) roles: Arc<FakeRoles>,
    pub(crate) secrets: TokenSecrets,
    pub(crate) config: TokenConfig,
    pub(crate) storage: Storage,
}

impl Harness {
    pub(crate) async fn new() -> Self {
        Self::with_config(TokenConfig::default()).await
    }

    pub(crate) async fn with_config(config: TokenConfig) -> Self {
        let storage = Storage::new().await;
        let clock = ManualClock::starting_now();
        let secrets = TokenSecrets::generate().unwrap();
        let sessions = Arc::new(FakeSessions::new(clock.clone()));
        let users = Arc::new(FakeUsers::default());
        let roles = Arc::new(FakeRoles::default());
        let deps = deps(&storage, &sessions, &users, &roles, &clock);
        let tokens = Tokens::start(deps, config.clone(), secrets.clone())
            .await
            .unwrap();
        Self {
            tokens,
            clock,
            sessions,
            users,
            roles,
            secrets,
            config,
            storage,
        }
    }

    /// Another `Tokens` on the same database and secrets (a restart, or a
    /// second replica).
    pub(crate) async fn start(&self) -> latch_domain::Result<Arc<Tokens>> {
        self.start_with(self.secrets.clone()).await
    }

    pub(crate) async fn start_with(
        &self,
        secrets: TokenSecrets,
    ) -> latch_domain::Result<Arc<Tokens>> {
        Tokens::start(self.deps(), self.config.clone(), secrets).await
    }

    pub(crate) fn deps(&self) -> TokenDeps {
        deps(
            &self.storage,
            &self.sessions,
            &self.users,
            &self.roles,
            &self.clock,
        )
    }

    /// An active user holding `USER`, signed in with a live session.
    pub(crate) fn signed_in(&self) -> (UserId, SessionId) {
        let user = UserId::new();
        self.users.set(user, UserStatus::Active);
        self.roles.grant_role(user, "USER");
        let session = self.sessions.open(user);
        (user, session)
    }

    /// A first token pair for a new signed-in user.
    pub(crate) async fn issue(&self) -> TokenPair {
        let (user, session) = self.signed_in();
        self.tokens
            .issue_tokens(user, &session, &client())
            .await
            .unwrap()
    }

    pub(crate) fn advance(&self, by: TimeDelta) {
        self.clock.advance(by);
    }

    pub(crate) fn clock_now(&self) -> chrono::DateTime<chrono::Utc> {
        latch_domain::Clock::now(&self.clock)
    }
}

/// The client the tests call from, unless they say otherwise.
pub(crate) fn client() -> ClientInfo {
    client_at(
        "203.0.113.7",
        "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0",
    )
}

pub(crate) fn client_at(ip: &str, user_agent: &str) -> ClientInfo {
    ClientInfo {
        ip: Some(ip.to_owned()),
        user_agent: Some(user_agent.to_owned()),
    }
}

fn deps(
    storage: &Storage,
    sessions: &Arc<FakeSessions>,
    users: &Arc<FakeUsers>,
    roles: &Arc<FakeRoles>,
    clock: &ManualClock,
) -> TokenDeps {
    TokenDeps {
        refresh_tokens: Arc::new(SqlRefreshTokens::new(storage.db().clone())),
        signing_keys: Arc::new(SqlSigningKeys::new(storage.db().clone())),
        sessions: sessions.clone(),
        users: users.clone(),
        roles: roles.clone(),
        clock: Arc::new(clock.clone()),
    }
}
