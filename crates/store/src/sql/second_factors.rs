//! The TOTP columns of `users` and `recovery_codes` behind
//! [`SecondFactorRepository`]. Each change is guarded by the state it
//! expects (`totp_enabled`, a later step, an unused code) in its own
//! UPDATE, so racing replicas settle in the database, not in a read before.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use latch_domain::{
    Result, UserId,
    model::TotpRecord,
    ports::{NewOutboxMessage, SecondFactorRepository},
};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QuerySelect, TransactionTrait, UpdateMany, sea_query::Expr,
};
use uuid::Uuid;

use super::{
    db_err,
    entity::{recovery_codes, users},
    error::corrupt,
    outbox,
};
use crate::Database;

/// Identity's second factors on the SQL database.
#[derive(Debug, Clone)]
pub struct SqlSecondFactors {
    db: Database,
}

impl SqlSecondFactors {
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

/// Deletes the user's codes and inserts `codes` on `conn` (the caller's
/// transaction).
async fn write_codes(
    conn: &impl ConnectionTrait,
    user: UserId,
    codes: &[[u8; 32]],
    at: DateTime<Utc>,
) -> Result<()> {
    recovery_codes::Entity::delete_many()
        .filter(recovery_codes::Column::UserId.eq(user.0))
        .exec(conn)
        .await
        .map_err(db_err)?;
    if codes.is_empty() {
        return Ok(());
    }
    let rows = codes.iter().map(|hash| recovery_codes::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(user.0),
        code_hash: Set(hash.to_vec()),
        created_at: Set(at),
        used_at: Set(None),
    });
    recovery_codes::Entity::insert_many(rows)
        .exec_without_returning(conn)
        .await
        .map_err(db_err)?;
    Ok(())
}

impl SqlSecondFactors {
    /// In one transaction: `guarded` (an UPDATE of the user's row that
    /// matches only in the TOTP state it expects), then the user's
    /// recovery codes replaced by `codes` and `follow_up` written. False,
    /// writing nothing, when the guard did not match. On PostgreSQL the
    /// updated row is held until commit, so two such changes cannot
    /// interleave.
    async fn change_with_codes(
        &self,
        guarded: UpdateMany<users::Entity>,
        user: UserId,
        codes: &[[u8; 32]],
        at: DateTime<Utc>,
        follow_up: &[NewOutboxMessage],
    ) -> Result<bool> {
        let txn = self.db.connection().begin().await.map_err(db_err)?;
        let matched = guarded
            .filter(users::Column::Id.eq(user.0))
            .exec(&txn)
            .await
            .map_err(db_err)?
            .rows_affected
            == 1;
        if !matched {
            return Ok(false);
        }
        write_codes(&txn, user, codes, at).await?;
        outbox::write(&txn, follow_up).await?;
        txn.commit().await.map_err(db_err)?;
        if !follow_up.is_empty() {
            self.db.outbox_written();
        }
        Ok(true)
    }
}

#[async_trait]
impl SecondFactorRepository for SqlSecondFactors {
    async fn totp(&self, user: UserId) -> Result<Option<TotpRecord>> {
        let row: Option<(Option<Vec<u8>>, Option<i64>)> = users::Entity::find_by_id(user.0)
            .filter(users::Column::TotpEnabled.eq(true))
            .select_only()
            .column(users::Column::TotpSecretEncrypted)
            .column(users::Column::TotpLastStep)
            .into_tuple()
            .one(self.db.connection())
            .await
            .map_err(db_err)?;
        match row {
            None => Ok(None),
            Some((Some(sealed_secret), last_step)) => Ok(Some(TotpRecord {
                sealed_secret,
                last_step,
            })),
            // On without a secret: no code can ever match; say so loudly.
            Some((None, _)) => Err(corrupt("TOTP secret")),
        }
    }

    async fn enable_totp(
        &self,
        user: UserId,
        sealed_secret: &[u8],
        last_step: i64,
        recovery_codes: &[[u8; 32]],
        at: DateTime<Utc>,
        follow_up: &[NewOutboxMessage],
    ) -> Result<bool> {
        let turn_on = users::Entity::update_many()
            .col_expr(users::Column::TotpEnabled, Expr::value(true))
            .col_expr(
                users::Column::TotpSecretEncrypted,
                Expr::value(sealed_secret.to_vec()),
            )
            .col_expr(users::Column::TotpLastStep, Expr::value(last_step))
            .col_expr(users::Column::UpdatedAt, Expr::value(at))
            .filter(users::Column::TotpEnabled.eq(false));
        self.change_with_codes(turn_on, user, recovery_codes, at, follow_up)
            .await
    }

    async fn disable_totp(
        &self,
        user: UserId,
        at: DateTime<Utc>,
        follow_up: &[NewOutboxMessage],
    ) -> Result<bool> {
        let turn_off = users::Entity::update_many()
            .col_expr(users::Column::TotpEnabled, Expr::value(false))
            .col_expr(
                users::Column::TotpSecretEncrypted,
                Expr::value(Option::<Vec<u8>>::None),
            )
            .col_expr(
                users::Column::TotpLastStep,
                Expr::value(Option::<i64>::None),
            )
            .col_expr(users::Column::UpdatedAt, Expr::value(at))
            .filter(users::Column::TotpEnabled.eq(true));
        self.change_with_codes(turn_off, user, &[], at, follow_up)
            .await
    }

    async fn accept_totp_step(&self, user: UserId, step: i64) -> Result<bool> {
        let result = users::Entity::update_many()
            .col_expr(users::Column::TotpLastStep, Expr::value(step))
            .filter(users::Column::Id.eq(user.0))
            .filter(users::Column::TotpEnabled.eq(true))
            .filter(
                Condition::any()
                    .add(users::Column::TotpLastStep.is_null())
                    .add(users::Column::TotpLastStep.lt(step)),
            )
            .exec(self.db.connection())
            .await
            .map_err(db_err)?;
        Ok(result.rows_affected == 1)
    }

    async fn replace_recovery_codes(
        &self,
        user: UserId,
        recovery_codes: &[[u8; 32]],
        at: DateTime<Utc>,
        follow_up: &[NewOutboxMessage],
    ) -> Result<bool> {
        // Touching the user row checks TOTP is on and holds the row, so two
        // regenerations cannot interleave.
        let still_on = users::Entity::update_many()
            .col_expr(users::Column::UpdatedAt, Expr::value(at))
            .filter(users::Column::TotpEnabled.eq(true));
        self.change_with_codes(still_on, user, recovery_codes, at, follow_up)
            .await
    }

    async fn use_recovery_code(
        &self,
        user: UserId,
        hash: &[u8; 32],
        at: DateTime<Utc>,
    ) -> Result<bool> {
        let result = recovery_codes::Entity::update_many()
            .col_expr(recovery_codes::Column::UsedAt, Expr::value(at))
            .filter(recovery_codes::Column::UserId.eq(user.0))
            .filter(recovery_codes::Column::CodeHash.eq(hash.to_vec()))
            .filter(recovery_codes::Column::UsedAt.is_null())
            .exec(self.db.connection())
            .await
            .map_err(db_err)?;
        Ok(result.rows_affected == 1)
    }

    async fn recovery_codes_left(&self, user: UserId) -> Result<u64> {
        recovery_codes::Entity::find()
            .filter(recovery_codes::Column::UserId.eq(user.0))
            .filter(recovery_codes::Column::UsedAt.is_null())
            .count(self.db.connection())
            .await
            .map_err(db_err)
    }

    async fn delete_spent_recovery_codes(&self, before: DateTime<Utc>, limit: u64) -> Result<u64> {
        use sea_orm::QueryTrait as _;
        // A bounded batch through `idx_recovery_codes_used_at` (unused
        // codes are NULL there, never in range); no lock clause, as for
        // the other cleanups.
        let batch = recovery_codes::Entity::find()
            .select_only()
            .column(recovery_codes::Column::Id)
            .filter(recovery_codes::Column::UsedAt.lt(before))
            .limit(limit)
            .into_query();
        let deleted = recovery_codes::Entity::delete_many()
            .filter(recovery_codes::Column::Id.in_subquery(batch))
            .exec(self.db.connection())
            .await
            .map_err(db_err)?;
        Ok(deleted.rows_affected)
    }
}
