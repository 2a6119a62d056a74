//! The account changes of activation, verification, password, email and
//! phone: each one conditional UPDATE, with its follow-up rows (mails, the
//! `user:*` event it causes) in the same transaction, written only when
//! the UPDATE changed the user.

use chrono::{DateTime, Utc};
use latch_domain::{Result, UserId, model::UserStatus, ports::NewOutboxMessage};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, TransactionTrait,
    sea_query::Expr,
};

use super::super::{db_err, entity::users, outbox};
use crate::Database;

/// Sets `columns` of the user matching `filter` on `conn`; true when a
/// row changed.
async fn update_on(
    conn: &impl ConnectionTrait,
    filter: Condition,
    columns: Vec<(users::Column, Expr)>,
) -> Result<bool> {
    let mut update = users::Entity::update_many().filter(filter);
    for (column, value) in columns {
        update = update.col_expr(column, value);
    }
    let result = update.exec(conn).await.map_err(db_err)?;
    Ok(result.rows_affected > 0)
}

/// The update and `follow_up` in one transaction, the rows written only
/// when the update changed the user.
async fn update_with_follow_up(
    db: &Database,
    filter: Condition,
    columns: Vec<(users::Column, Expr)>,
    follow_up: &[NewOutboxMessage],
) -> Result<bool> {
    let txn = db.connection().begin().await.map_err(db_err)?;
    let changed = update_on(&txn, filter, columns).await?;
    if changed {
        outbox::write(&txn, follow_up).await?;
        txn.commit().await.map_err(db_err)?;
        db.outbox_written();
    }
    Ok(changed)
}

/// The live user `id`: a tombstone is never changed.
fn of(id: UserId) -> Condition {
    Condition::all()
        .add(users::Column::Id.eq(id.0))
        .add(users::Column::DeletedAt.is_null())
}

pub(super) async fn change_password(
    db: &Database,
    id: UserId,
    hash: &str,
    at: DateTime<Utc>,
    follow_up: &[NewOutboxMessage],
) -> Result<bool> {
    let columns = vec![
        (users::Column::PasswordHash, Expr::value(hash)),
        (users::Column::UpdatedAt, Expr::value(at)),
    ];
    update_with_follow_up(db, of(id), columns, follow_up).await
}

pub(super) async fn change_email(
    db: &Database,
    id: UserId,
    email: &str,
    at: DateTime<Utc>,
    follow_up: &[NewOutboxMessage],
) -> Result<bool> {
    // A taken address fails on the UNIQUE index: ALREADY_EXISTS from
    // `db_err`, and the transaction rolls back with the mails.
    let columns = vec![
        (users::Column::Email, Expr::value(email)),
        (users::Column::EmailVerified, Expr::value(false)),
        (
            users::Column::EmailVerifiedAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        ),
        (users::Column::UpdatedAt, Expr::value(at)),
    ];
    update_with_follow_up(db, of(id), columns, follow_up).await
}

pub(super) async fn set_status(
    db: &Database,
    id: UserId,
    status: UserStatus,
    at: DateTime<Utc>,
    follow_up: &[NewOutboxMessage],
) -> Result<bool> {
    let columns = vec![
        (users::Column::Status, Expr::value(status.as_str())),
        (users::Column::UpdatedAt, Expr::value(at)),
    ];
    update_with_follow_up(db, of(id), columns, follow_up).await
}

pub(super) async fn verify_email(
    db: &Database,
    id: UserId,
    email: &str,
    at: DateTime<Utc>,
    follow_up: &[NewOutboxMessage],
) -> Result<bool> {
    let filter = of(id)
        .add(users::Column::Email.eq(email))
        .add(users::Column::EmailVerified.eq(false));
    let columns = vec![
        (users::Column::EmailVerified, Expr::value(true)),
        (users::Column::EmailVerifiedAt, Expr::value(at)),
        (users::Column::UpdatedAt, Expr::value(at)),
    ];
    update_with_follow_up(db, filter, columns, follow_up).await
}

pub(super) async fn set_phone(
    db: &Database,
    id: UserId,
    phone: &str,
    at: DateTime<Utc>,
    follow_up: &[NewOutboxMessage],
) -> Result<bool> {
    let other = Condition::any()
        .add(users::Column::Phone.is_null())
        .add(users::Column::Phone.ne(phone));
    let columns = vec![
        (users::Column::Phone, Expr::value(phone)),
        (users::Column::PhoneVerified, Expr::value(false)),
        (
            users::Column::PhoneVerifiedAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        ),
        (users::Column::UpdatedAt, Expr::value(at)),
    ];
    update_with_follow_up(db, of(id).add(other), columns, follow_up).await
}

pub(super) async fn verify_phone(
    db: &Database,
    id: UserId,
    phone: &str,
    at: DateTime<Utc>,
    follow_up: &[NewOutboxMessage],
) -> Result<bool> {
    let filter = of(id)
        .add(users::Column::Phone.eq(phone))
        .add(users::Column::PhoneVerified.eq(false));
    let columns = vec![
        (users::Column::PhoneVerified, Expr::value(true)),
        (users::Column::PhoneVerifiedAt, Expr::value(at)),
        (users::Column::UpdatedAt, Expr::value(at)),
    ];
    update_with_follow_up(db, filter, columns, follow_up).await
}
