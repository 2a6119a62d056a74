//! `outbox` behind [`OutboxRepository`], and [`write`], with which every
//! repository adds follow-up rows inside its own transaction.

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use latch_domain::{
    Result,
    ports::{
        NewOutboxMessage, OutboxId, OutboxMessage, OutboxRepository, OutboxStatus,
        outbox::ERROR_MAX_CHARS,
    },
};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait, Statement,
    sea_query::{Expr, ExprTrait},
};
use uuid::Uuid;

use super::{db_err, entity::outbox, error::corrupt};
use crate::Database;

/// The outbox on the SQL database.
#[derive(Debug, Clone)]
pub struct SqlOutbox {
    db: Database,
}

impl SqlOutbox {
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    /// SQLite only: whether any row is due, read without the write lock
    /// that even a claim matching nothing takes there, so idle polling
    /// never makes a writer wait.
    async fn any_due(&self, kinds: &[&str], now: DateTime<Utc>) -> Result<bool> {
        let found = outbox::Entity::find()
            .select_only()
            .column(outbox::Column::Id)
            .filter(due(kinds, now))
            .limit(1)
            .into_tuple::<Uuid>()
            .one(self.db.connection())
            .await
            .map_err(db_err)?;
        Ok(found.is_some())
    }

    /// [`OutboxRepository::claim`] on PostgreSQL, in one statement. The
    /// candidates are locked in a CTE, skipping rows another claim holds,
    /// and read once: a `LIMIT … SKIP LOCKED` subquery under `IN (…)` may
    /// be evaluated again for rows that concurrent claims changed, and then
    /// hands out more rows than asked, some of them twice.
    async fn claim_on_postgres(
        &self,
        kinds: &[&str],
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        token: Uuid,
        limit: u32,
    ) -> Result<Vec<outbox::Model>> {
        let mut values: Vec<sea_orm::Value> = vec![
            lease_until.into(),
            token.into(),
            OutboxStatus::Pending.as_str().into(),
            now.into(),
            i64::from(limit).into(),
        ];
        let first_kind = values.len() + 1;
        let placeholders: Vec<String> = (first_kind..first_kind + kinds.len())
            .map(|n| format!("${n}"))
            .collect();
        values.extend(kinds.iter().map(|kind| sea_orm::Value::from(*kind)));
        let sql = format!(
            "WITH candidates AS ( \
                SELECT id FROM outbox \
                WHERE status = $3 AND available_at <= $4 AND kind IN ({}) AND {} \
                ORDER BY available_at, id LIMIT $5 \
                FOR UPDATE SKIP LOCKED) \
            UPDATE outbox SET available_at = $1, lease_token = $2, \
                attempts = outbox.attempts + 1 \
            FROM candidates WHERE outbox.id = candidates.id \
            RETURNING outbox.*",
            placeholders.join(", "),
            NO_EARLIER_PENDING
        );
        outbox::Entity::find()
            .from_raw_sql(Statement::from_sql_and_values(
                DatabaseBackend::Postgres,
                sql,
                values,
            ))
            .all(self.db.connection())
            .await
            .map_err(db_err)
    }

    /// Moves a row this claim holds out of its lease; false when the lease
    /// is someone else's now.
    async fn settle(&self, claimed: &OutboxMessage, changes: Settle<'_>) -> Result<bool> {
        let Some(lease) = claimed.lease else {
            return Ok(false);
        };
        let mut update = outbox::Entity::update_many()
            .col_expr(
                outbox::Column::LeaseToken,
                Expr::value(Option::<Uuid>::None),
            )
            .filter(outbox::Column::Id.eq(claimed.id.0))
            .filter(outbox::Column::LeaseToken.eq(lease))
            .filter(outbox::Column::Status.eq(OutboxStatus::Pending.as_str()));
        update = match changes {
            Settle::Done(at) => update
                .col_expr(
                    outbox::Column::Status,
                    Expr::value(OutboxStatus::Done.as_str()),
                )
                .col_expr(outbox::Column::FinishedAt, Expr::value(at)),
            Settle::Retry(at, error) => update
                .col_expr(outbox::Column::AvailableAt, Expr::value(at))
                .col_expr(outbox::Column::LastError, Expr::value(clip(error))),
            Settle::Dead(at, error) => update
                .col_expr(
                    outbox::Column::Status,
                    Expr::value(OutboxStatus::Dead.as_str()),
                )
                .col_expr(outbox::Column::FinishedAt, Expr::value(at))
                .col_expr(outbox::Column::LastError, Expr::value(clip(error))),
        };
        let result = update.exec(self.db.connection()).await.map_err(db_err)?;
        Ok(result.rows_affected == 1)
    }
}

enum Settle<'a> {
    Done(DateTime<Utc>),
    Retry(DateTime<Utc>, &'a str),
    Dead(DateTime<Utc>, &'a str),
}

/// Inserts `messages` on `conn`: the caller's transaction, so the rows
/// commit or vanish with the change they follow. After the commit the
/// caller calls `Database::outbox_written`, so the worker runs them now.
pub(crate) async fn write(
    conn: &impl ConnectionTrait,
    messages: &[NewOutboxMessage],
) -> Result<()> {
    if messages.is_empty() {
        return Ok(());
    }
    outbox::Entity::insert_many(messages.iter().map(to_row))
        .exec_without_returning(conn)
        .await
        .map_err(db_err)?;
    Ok(())
}

fn to_row(message: &NewOutboxMessage) -> outbox::ActiveModel {
    outbox::ActiveModel {
        id: Set(message.id.0),
        kind: Set(message.kind.clone()),
        aggregate_key: Set(message.key.clone()),
        payload: Set(message.payload.clone()),
        status: Set(OutboxStatus::Pending.as_str().to_owned()),
        attempts: Set(0),
        available_at: Set(message.available_at),
        lease_token: Set(None),
        last_error: Set(None),
        created_at: Set(message.created_at),
        finished_at: Set(None),
    }
}

fn to_message(row: outbox::Model) -> Result<OutboxMessage> {
    Ok(OutboxMessage {
        id: OutboxId(row.id),
        status: OutboxStatus::parse(&row.status).ok_or_else(|| corrupt("outbox status"))?,
        attempts: u32::try_from(row.attempts).map_err(|_| corrupt("outbox attempts"))?,
        kind: row.kind,
        key: row.aggregate_key,
        payload: row.payload,
        created_at: row.created_at,
        available_at: row.available_at,
        lease: row.lease_token,
        last_error: row.last_error,
        finished_at: row.finished_at,
    })
}

/// Rows of one kind and key run one at a time, in creation order: a row
/// waits while an earlier one of its kind and key is pending (due, leased
/// or backing off). That keeps one aggregate's events in order across
/// replicas and retries; a buried row no longer holds the rest back.
/// Served by `idx_outbox_aggregate_key`.
const NO_EARLIER_PENDING: &str = "NOT EXISTS (SELECT 1 FROM outbox AS earlier \
    WHERE earlier.aggregate_key = outbox.aggregate_key AND earlier.kind = outbox.kind \
    AND earlier.status = 'pending' AND earlier.id < outbox.id)";

/// Pending rows of `kinds` due at `now` with no earlier row of their kind
/// and key pending.
fn due(kinds: &[&str], now: DateTime<Utc>) -> sea_orm::Condition {
    sea_orm::Condition::all()
        .add(outbox::Column::Status.eq(OutboxStatus::Pending.as_str()))
        .add(outbox::Column::Kind.is_in(kinds.iter().copied()))
        .add(outbox::Column::AvailableAt.lte(now))
        .add(Expr::cust(NO_EARLIER_PENDING))
}

fn clip(error: &str) -> String {
    error.chars().take(ERROR_MAX_CHARS).collect()
}

#[async_trait]
impl OutboxRepository for SqlOutbox {
    async fn enqueue(&self, messages: &[NewOutboxMessage]) -> Result<()> {
        write(self.db.connection(), messages).await?;
        self.db.outbox_written();
        Ok(())
    }

    async fn claim(
        &self,
        kinds: &[&str],
        now: DateTime<Utc>,
        lease: TimeDelta,
        limit: u32,
    ) -> Result<Vec<OutboxMessage>> {
        if kinds.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        if !self.db.is_postgres() && !self.any_due(kinds, now).await? {
            return Ok(Vec::new());
        }
        let lease_until = now + lease;
        let token = Uuid::new_v4();
        let rows = if self.db.is_postgres() {
            self.claim_on_postgres(kinds, now, lease_until, token, limit)
                .await?
        } else {
            // SQLite has one writer at a time: the UPDATE holds the write
            // lock from its read of the candidates to its write.
            let candidates = outbox::Entity::find()
                .select_only()
                .column(outbox::Column::Id)
                .filter(due(kinds, now))
                .order_by_asc(outbox::Column::AvailableAt)
                .order_by_asc(outbox::Column::Id)
                .limit(u64::from(limit))
                .into_query();
            outbox::Entity::update_many()
                .col_expr(outbox::Column::AvailableAt, Expr::value(lease_until))
                .col_expr(outbox::Column::LeaseToken, Expr::value(token))
                .col_expr(
                    outbox::Column::Attempts,
                    Expr::col(outbox::Column::Attempts).add(1),
                )
                .filter(outbox::Column::Id.in_subquery(candidates))
                .exec_with_returning(self.db.connection())
                .await
                .map_err(db_err)?
        };
        let mut claimed = rows
            .into_iter()
            .map(to_message)
            .collect::<Result<Vec<_>>>()?;
        claimed.sort_by_key(|m| m.id);
        Ok(claimed)
    }

    async fn complete(&self, claimed: &OutboxMessage, at: DateTime<Utc>) -> Result<bool> {
        self.settle(claimed, Settle::Done(at)).await
    }

    async fn retry(
        &self,
        claimed: &OutboxMessage,
        retry_at: DateTime<Utc>,
        error: &str,
    ) -> Result<bool> {
        self.settle(claimed, Settle::Retry(retry_at, error)).await
    }

    async fn bury(&self, claimed: &OutboxMessage, at: DateTime<Utc>, error: &str) -> Result<bool> {
        self.settle(claimed, Settle::Dead(at, error)).await
    }

    async fn wait_for_new(&self, max: std::time::Duration) {
        self.db.outbox_wait(max).await;
    }

    async fn find_by_key(&self, key: &str) -> Result<Vec<OutboxMessage>> {
        outbox::Entity::find()
            .filter(outbox::Column::AggregateKey.eq(key))
            .order_by_asc(outbox::Column::Id)
            .all(self.db.connection())
            .await
            .map_err(db_err)?
            .into_iter()
            .map(to_message)
            .collect()
    }

    async fn purge_finished(
        &self,
        status: OutboxStatus,
        before: DateTime<Utc>,
        limit: u64,
    ) -> Result<u64> {
        if status == OutboxStatus::Pending || limit == 0 {
            return Ok(0);
        }
        // A bounded batch through `idx_outbox_status_finished_at`. No lock
        // clause: a finished row is never claimed again, so only another
        // replica's purge can hold it, and then this one finds it gone.
        let batch = outbox::Entity::find()
            .select_only()
            .column(outbox::Column::Id)
            .filter(outbox::Column::Status.eq(status.as_str()))
            .filter(outbox::Column::FinishedAt.lt(before))
            .limit(limit)
            .into_query();
        let deleted = outbox::Entity::delete_many()
            .filter(outbox::Column::Id.in_subquery(batch))
            .exec(self.db.connection())
            .await
            .map_err(db_err)?;
        Ok(deleted.rows_affected)
    }
}
