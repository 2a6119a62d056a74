//! `login_history` behind [`LoginHistoryRepository`].

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use latch_domain::{
    Result, UserId, client_fields,
    model::{LoginCursor, LoginEvent},
    ports::{LoginHistoryRepository, NewOutboxMessage},
};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    QueryTrait, TransactionTrait,
};

use super::{db_err, entity::login_history, outbox};
use crate::Database;

/// Identity's login history on the SQL database.
#[derive(Debug, Clone)]
pub struct SqlLoginHistory {
    db: Database,
}

impl SqlLoginHistory {
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

fn to_event(row: login_history::Model) -> LoginEvent {
    LoginEvent {
        id: row.id,
        user_id: UserId(row.user_id),
        at: row.at,
        ip: row.ip,
        user_agent: row.user_agent,
        method: row.method,
        success: row.success,
        failure_reason: row.failure_reason,
        device: row.device,
    }
}

/// The client's fields go through `client_fields` here too (idempotent
/// after the flow's own pass): whichever flow records an attempt, its row
/// fits the columns, so a client cannot keep its attempts out of history.
fn to_row(event: &LoginEvent) -> login_history::ActiveModel {
    login_history::ActiveModel {
        id: Set(event.id),
        user_id: Set(event.user_id.0),
        at: Set(event.at),
        ip: Set(client_fields::ip(event.ip.as_deref())),
        user_agent: Set(client_fields::user_agent(event.user_agent.as_deref())),
        method: Set(event.method.clone()),
        success: Set(event.success),
        failure_reason: Set(event.failure_reason.clone()),
        device: Set(event.device.clone()),
    }
}

#[async_trait]
impl LoginHistoryRepository for SqlLoginHistory {
    /// `NOT_FOUND` when the user does not exist (foreign key).
    async fn record(&self, event: &LoginEvent, follow_up: &[NewOutboxMessage]) -> Result<()> {
        if follow_up.is_empty() {
            login_history::Entity::insert(to_row(event))
                .exec_without_returning(self.db.connection())
                .await
                .map_err(db_err)?;
            return Ok(());
        }
        let txn = self.db.connection().begin().await.map_err(db_err)?;
        login_history::Entity::insert(to_row(event))
            .exec_without_returning(&txn)
            .await
            .map_err(db_err)?;
        outbox::write(&txn, follow_up).await?;
        txn.commit().await.map_err(db_err)?;
        self.db.outbox_written();
        Ok(())
    }

    async fn list(&self, user: UserId, limit: u64) -> Result<Vec<LoginEvent>> {
        let rows = login_history::Entity::find()
            .filter(login_history::Column::UserId.eq(user.0))
            .order_by_desc(login_history::Column::At)
            .order_by_desc(login_history::Column::Id)
            .limit(limit)
            .all(self.db.connection())
            .await
            .map_err(db_err)?;
        Ok(rows.into_iter().map(to_event).collect())
    }

    async fn page(
        &self,
        user: UserId,
        after: Option<LoginCursor>,
        limit: u64,
    ) -> Result<Vec<LoginEvent>> {
        let mut select =
            login_history::Entity::find().filter(login_history::Column::UserId.eq(user.0));
        if let Some(after) = after {
            // Keyset paging through `idx_login_history_user_at`: strictly
            // after the cursor, so pages never repeat or skip a row.
            select = select.filter(
                Condition::any()
                    .add(login_history::Column::At.lt(after.at))
                    .add(
                        Condition::all()
                            .add(login_history::Column::At.eq(after.at))
                            .add(login_history::Column::Id.lt(after.id)),
                    ),
            );
        }
        let rows = select
            .order_by_desc(login_history::Column::At)
            .order_by_desc(login_history::Column::Id)
            .limit(limit)
            .all(self.db.connection())
            .await
            .map_err(db_err)?;
        Ok(rows.into_iter().map(to_event).collect())
    }

    async fn delete_before(&self, before: DateTime<Utc>, limit: u64) -> Result<u64> {
        // A bounded batch through `idx_login_history_at`; no lock clause,
        // as for sessions: replicas cleaning at once wait on each other's
        // row locks, then find those rows gone.
        let batch = login_history::Entity::find()
            .select_only()
            .column(login_history::Column::Id)
            .filter(login_history::Column::At.lt(before))
            .limit(limit)
            .into_query();
        let deleted = login_history::Entity::delete_many()
            .filter(login_history::Column::Id.in_subquery(batch))
            .exec(self.db.connection())
            .await
            .map_err(db_err)?;
        Ok(deleted.rows_affected)
    }

    async fn last_success(
        &self,
        user: UserId,
        device: Option<&str>,
    ) -> Result<Option<DateTime<Utc>>> {
        // Newest first through `idx_login_history_user_device_at` (or
        // `idx_login_history_user_at`): one index probe, not a scan.
        let mut query = login_history::Entity::find()
            .select_only()
            .column(login_history::Column::At)
            .filter(login_history::Column::UserId.eq(user.0))
            .filter(login_history::Column::Success.eq(true));
        query = match device {
            Some(device) => query.filter(login_history::Column::Device.eq(device)),
            None => query.filter(login_history::Column::Device.is_not_null()),
        };
        query
            .order_by_desc(login_history::Column::At)
            .into_tuple::<DateTime<Utc>>()
            .one(self.db.connection())
            .await
            .map_err(db_err)
    }
}
