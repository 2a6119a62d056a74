//! Every repository suite against SQLite, always, and against PostgreSQL
//! when `LATCH_TEST_DATABASE_URL` is set (each test on a database of its
//! own, cloned from the migrated template).

use std::sync::Arc;

use latch_store::{
    Database,
    sql::{
        SqlExternalIdentities, SqlLoginHistory, SqlOutbox, SqlPasskeys, SqlPasswordResets,
        SqlProfiles, SqlRefreshTokens, SqlRoles, SqlSecondFactors, SqlSessions, SqlSigningKeys,
        SqlUsers,
    },
};
use latch_testkit::{TestDatabase, conformance};

/// A test per backend for one suite: `sqlite` always, `postgres` when the
/// environment names a server.
macro_rules! on_every_backend {
    ($suite:ident, |$db:ident| $run:expr) => {
        mod $suite {
            use super::*;

            async fn run($db: Database) {
                $run.await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let test_db = TestDatabase::sqlite().await;
                run(test_db.db().clone()).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(test_db) = TestDatabase::postgres().await else {
                    return;
                };
                run(test_db.db().clone()).await;
            }
        }
    };
}

on_every_backend!(users, |db| conformance::users::run(Arc::new(
    SqlUsers::new(db)
)));
on_every_backend!(user_changes, |db| conformance::user_changes::run(
    Arc::new(SqlUsers::new(db.clone())),
    Arc::new(SqlOutbox::new(db)),
));
on_every_backend!(password_resets, |db| conformance::password_resets::run(
    Arc::new(SqlUsers::new(db.clone())),
    Arc::new(SqlPasswordResets::new(db.clone())),
    Arc::new(SqlOutbox::new(db)),
));
on_every_backend!(login_history, |db| conformance::login_history::run(
    Arc::new(SqlUsers::new(db.clone())),
    Arc::new(SqlLoginHistory::new(db.clone())),
    Arc::new(SqlOutbox::new(db)),
));
on_every_backend!(failure_records, |db| conformance::lockout::run_records(
    Arc::new(SqlUsers::new(db.clone())),
    Arc::new(SqlUsers::new(db)),
));
on_every_backend!(second_factors, |db| conformance::second_factors::run(
    Arc::new(SqlUsers::new(db.clone())),
    Arc::new(SqlSecondFactors::new(db.clone())),
    Arc::new(SqlOutbox::new(db)),
));
on_every_backend!(external_identities, |db| {
    conformance::external_identities::run(
        Arc::new(SqlUsers::new(db.clone())),
        Arc::new(SqlExternalIdentities::new(db)),
    )
});
on_every_backend!(passkeys, |db| conformance::passkeys::run(
    conformance::passkeys::Stores {
        users: Arc::new(SqlUsers::new(db.clone())),
        admin: Arc::new(SqlUsers::new(db.clone())),
        identities: Arc::new(SqlExternalIdentities::new(db.clone())),
        passkeys: Arc::new(SqlPasskeys::new(db.clone())),
        outbox: Arc::new(SqlOutbox::new(db)),
    }
));
on_every_backend!(profiles, |db| conformance::profiles::run(Arc::new(
    SqlProfiles::new(db)
)));
on_every_backend!(profile_versions, |db| conformance::profiles::versions(
    Arc::new(SqlProfiles::new(db.clone())),
    Arc::new(SqlOutbox::new(db)),
));
on_every_backend!(profile_avatars, |db| conformance::profiles::avatars(
    Arc::new(SqlProfiles::new(db.clone())),
    Arc::new(SqlOutbox::new(db)),
));
on_every_backend!(roles, |db| conformance::roles::run(
    Arc::new(SqlRoles::new(db.clone())),
    Arc::new(SqlOutbox::new(db)),
));
on_every_backend!(role_admin, |db| conformance::role_admin::run(
    Arc::new(SqlRoles::new(db.clone())),
    Arc::new(SqlOutbox::new(db)),
));
on_every_backend!(sessions, |db| conformance::sessions::run(Arc::new(
    SqlSessions::new(db)
)));
on_every_backend!(outbox, |db| conformance::outbox::run(
    Arc::new(SqlOutbox::new(db.clone())),
    Arc::new(SqlSessions::new(db.clone())),
    Arc::new(SqlRefreshTokens::new(db)),
));
on_every_backend!(refresh_tokens, |db| conformance::refresh_tokens::run(
    Arc::new(SqlRefreshTokens::new(db))
));
on_every_backend!(signing_keys, |db| conformance::signing_keys::run(Arc::new(
    SqlSigningKeys::new(db)
)));
on_every_backend!(user_admin, |db| conformance::user_admin::run(
    conformance::user_admin::Stores {
        users: Arc::new(SqlUsers::new(db.clone())),
        admin: Arc::new(SqlUsers::new(db.clone())),
        history: Arc::new(SqlLoginHistory::new(db.clone())),
        resets: Arc::new(SqlPasswordResets::new(db.clone())),
        outbox: Arc::new(SqlOutbox::new(db)),
    }
));
on_every_backend!(login_history_pages, |db| {
    conformance::login_history_pages::run(
        Arc::new(SqlUsers::new(db.clone())),
        Arc::new(SqlLoginHistory::new(db)),
    )
});
on_every_backend!(cleanup, |db| conformance::cleanup::run(
    conformance::cleanup::Stores {
        users: Arc::new(SqlUsers::new(db.clone())),
        resets: Arc::new(SqlPasswordResets::new(db.clone())),
        second_factors: Arc::new(SqlSecondFactors::new(db.clone())),
        outbox: Arc::new(SqlOutbox::new(db)),
    }
));
on_every_backend!(session_erasure, |db| conformance::erasure::sessions(
    Arc::new(SqlSessions::new(db))
));
on_every_backend!(refresh_token_erasure, |db| {
    conformance::erasure::refresh_tokens(Arc::new(SqlRefreshTokens::new(db)))
});
on_every_backend!(role_erasure, |db| conformance::erasure::roles(Arc::new(
    SqlRoles::new(db)
)));
