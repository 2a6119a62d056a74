//! `users.failed_login_count` and `users.locked_until` behind
//! [`FailureRecords`]: the durable copy of an account's failed sign-ins.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use latch_domain::{
    Result, UserId,
    ports::{FailureRecords, Failures},
};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QuerySelect, sea_query::Expr};

use super::SqlUsers;
use crate::sql::{db_err, entity::users};

#[async_trait]
impl FailureRecords for SqlUsers {
    async fn failures(&self, user: UserId) -> Result<Failures> {
        let row: Option<(i32, Option<DateTime<Utc>>)> = users::Entity::find_by_id(user.0)
            .select_only()
            .column(users::Column::FailedLoginCount)
            .column(users::Column::LockedUntil)
            .filter(users::Column::DeletedAt.is_null())
            .into_tuple()
            .one(self.db.connection())
            .await
            .map_err(db_err)?;
        Ok(
            row.map_or_else(Failures::default, |(count, locked_until)| Failures {
                count: u32::try_from(count).unwrap_or_default(),
                locked_until,
            }),
        )
    }

    async fn record_failures(&self, user: UserId, failures: Failures) -> Result<()> {
        let Some(until) = failures.locked_until else {
            return self.clear_failures(user).await;
        };
        let count = i32::try_from(failures.count).unwrap_or(i32::MAX);
        // Each failure's wait ends no earlier than the one before (and at
        // the same instant, with a higher count), so a write of an older
        // failure landing late changes nothing.
        users::Entity::update_many()
            .col_expr(users::Column::FailedLoginCount, Expr::value(count))
            .col_expr(users::Column::LockedUntil, Expr::value(until))
            .filter(users::Column::Id.eq(user.0))
            .filter(users::Column::DeletedAt.is_null())
            .filter(
                Condition::any()
                    .add(users::Column::LockedUntil.is_null())
                    .add(users::Column::LockedUntil.lt(until))
                    .add(
                        Condition::all()
                            .add(users::Column::LockedUntil.eq(until))
                            .add(users::Column::FailedLoginCount.lt(count)),
                    ),
            )
            .exec(self.db.connection())
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn clear_failures(&self, user: UserId) -> Result<()> {
        users::Entity::update_many()
            .col_expr(users::Column::FailedLoginCount, Expr::value(0))
            .col_expr(
                users::Column::LockedUntil,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .filter(users::Column::Id.eq(user.0))
            .filter(
                Condition::any()
                    .add(users::Column::FailedLoginCount.ne(0))
                    .add(users::Column::LockedUntil.is_not_null()),
            )
            .exec(self.db.connection())
            .await
            .map_err(db_err)?;
        Ok(())
    }
}
