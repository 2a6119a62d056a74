//! "Is this the user's last way to sign in?", asked by every removal of a
//! way in (a linked identity, a passkey) inside its transaction, after
//! [`lock_user`]: two racing removals for one user queue on the lock, so
//! the second sees what the first removed and cannot leave the user with
//! nothing.

use latch_domain::{Result, UserId};
use sea_orm::{
    ColumnTrait, DatabaseTransaction, EntityTrait, PaginatorTrait, QueryFilter, sea_query::Expr,
};
use uuid::Uuid;

use super::{
    db_err,
    entity::{auth_providers, passkey_credentials, users},
};

/// Locks the user's row until the transaction ends (a no-op UPDATE, which
/// PostgreSQL and SQLite both turn into a write lock); false when there is
/// no such user.
pub(crate) async fn lock_user(txn: &DatabaseTransaction, user: UserId) -> Result<bool> {
    let locked = users::Entity::update_many()
        .col_expr(users::Column::Id, Expr::col(users::Column::Id))
        .filter(users::Column::Id.eq(user.0))
        .exec(txn)
        .await
        .map_err(db_err)?
        .rows_affected;
    Ok(locked > 0)
}

/// The way in about to be removed.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Leaving {
    Identity(Uuid),
    Passkey(Uuid),
}

/// Whether the user can still sign in without `leaving`: a password, another
/// linked identity or another passkey.
pub(crate) async fn keeps_a_way_in(
    txn: &DatabaseTransaction,
    user: UserId,
    leaving: Leaving,
) -> Result<bool> {
    let has_password = users::Entity::find_by_id(user.0)
        .filter(users::Column::PasswordHash.is_not_null())
        .count(txn)
        .await
        .map_err(db_err)?
        > 0;
    if has_password {
        return Ok(true);
    }
    let mut identities =
        auth_providers::Entity::find().filter(auth_providers::Column::UserId.eq(user.0));
    if let Leaving::Identity(id) = leaving {
        identities = identities.filter(auth_providers::Column::Id.ne(id));
    }
    if identities.count(txn).await.map_err(db_err)? > 0 {
        return Ok(true);
    }
    let mut passkeys =
        passkey_credentials::Entity::find().filter(passkey_credentials::Column::UserId.eq(user.0));
    if let Leaving::Passkey(id) = leaving {
        passkeys = passkeys.filter(passkey_credentials::Column::Id.ne(id));
    }
    Ok(passkeys.count(txn).await.map_err(db_err)? > 0)
}
