//! The one place where database errors become domain errors. The driver's
//! text stays in the error's source (for logs); the message a caller can see
//! is the domain's.

use latch_domain::{Error, Reason};
use sea_orm::{DbErr, RuntimeErr, SqlErr, sqlx};

/// Translates a sea-orm error: a unique violation is `ALREADY_EXISTS`, a
/// missing referenced row `NOT_FOUND`, a lost or busy connection (or a
/// database asking for a retry) `UNAVAILABLE`, anything else `INTERNAL`.
pub(crate) fn db_err(err: DbErr) -> Error {
    match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => {
            return Error::new(Reason::AlreadyExists, "it already exists").with_source(err);
        }
        Some(SqlErr::ForeignKeyConstraintViolation(_)) => {
            return Error::new(Reason::NotFound, "a record it refers to does not exist")
                .with_source(err);
        }
        _ => {}
    }
    if is_transient(&err) {
        Error::unavailable(err)
    } else {
        Error::internal(err)
    }
}

fn is_transient(err: &DbErr) -> bool {
    match err {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            match e.as_ref() {
                sqlx::Error::Io(_)
                | sqlx::Error::Tls(_)
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::WorkerCrashed => true,
                sqlx::Error::Database(db) => db.code().is_some_and(|code| transient_code(&code)),
                _ => false,
            }
        }
        _ => false,
    }
}

/// PostgreSQL SQLSTATEs (connection exceptions, shutdown, too many
/// connections, serialization failure, deadlock) and SQLite result codes
/// (BUSY, LOCKED, with their extended forms) after which a retry may work.
fn transient_code(code: &str) -> bool {
    if code.starts_with("08") || code.starts_with("57P") {
        return true;
    }
    if matches!(code, "53300" | "40001" | "40P01") {
        return true;
    }
    // SQLite reports extended result codes; the primary code is the low byte.
    code.parse::<i32>()
        .is_ok_and(|extended| matches!(extended & 0xff, 5 | 6))
}

/// A value read back from the database that breaks an invariant.
pub(crate) fn corrupt(what: &str) -> Error {
    Error::internal_msg(format!("stored {what} is malformed"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_codes_are_transient() {
        for code in [
            "08006", "57P01", "53300", "40001", "40P01", "5", "517", "6", "262",
        ] {
            assert!(transient_code(code), "{code}");
        }
        for code in ["23505", "2067", "42601", "1"] {
            assert!(!transient_code(code), "{code}");
        }
    }

    #[test]
    fn lost_connections_are_unavailable_and_hide_the_driver_text() {
        let err = db_err(DbErr::Conn(RuntimeErr::Internal(
            "connection refused to db.internal:5432".into(),
        )));
        assert!(err.is(Reason::Unavailable));
        assert!(!err.message().contains("db.internal"));
    }

    #[test]
    fn other_errors_are_internal() {
        let err = db_err(DbErr::Custom("syntax error near users_pkey".into()));
        assert!(err.is(Reason::Internal));
        assert!(!err.message().contains("users_pkey"));
    }
}
