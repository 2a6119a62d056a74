//! `sessions` behind [`SessionRepository`]. Revocations write their
//! follow-up (the outbox rows) and their entries of the revocation list
//! (`session_revocations`) in the transaction of the revoking UPDATE.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use latch_domain::{
    Result, SessionId, UserId,
    model::{ClientInfo, DeviceInfo, RevocationCursor, Session, SessionQuery, SessionRevocation},
    ports::{FollowUp, NewOutboxMessage, SessionRepository},
};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait,
    TransactionTrait, UpdateMany,
    sea_query::{Expr, IntoCondition},
};

use super::{
    db_err,
    entity::{session_revocations, sessions},
    outbox,
};
use crate::Database;

/// Sessions on the SQL database.
#[derive(Debug, Clone)]
pub struct SqlSessions {
    db: Database,
}

impl SqlSessions {
    /// Deletes at most `limit` sessions matching `filter`. No lock clause:
    /// a `LIMIT … SKIP LOCKED` subquery may be evaluated again by
    /// PostgreSQL for rows that changed meanwhile, and then delete more
    /// than the batch. Replicas cleaning up at once wait on each other's
    /// row locks instead, then find those rows gone.
    async fn delete_batch(&self, filter: impl IntoCondition, limit: u64) -> Result<u64> {
        let batch = sessions::Entity::find()
            .select_only()
            .column(sessions::Column::Id)
            .filter(filter)
            .limit(limit)
            .into_query();
        let deleted = sessions::Entity::delete_many()
            .filter(sessions::Column::Id.in_subquery(batch))
            .exec(self.db.connection())
            .await
            .map_err(db_err)?;
        Ok(deleted.rows_affected)
    }

    pub fn new(db: Database) -> Self {
        Self { db }
    }

    /// Runs a revoking `update` (its filters chosen by the caller) and
    /// writes the follow-up of every session it revoked, in one transaction.
    async fn revoke_with(
        &self,
        update: UpdateMany<sessions::Entity>,
        at: DateTime<Utc>,
        reason: &str,
        follow_up: FollowUp<'_, Session>,
    ) -> Result<Vec<Session>> {
        let txn = self.db.connection().begin().await.map_err(db_err)?;
        let revoked: Vec<Session> = update
            .col_expr(sessions::Column::RevokedAt, Expr::value(at))
            .col_expr(sessions::Column::RevokedReason, Expr::value(reason))
            .exec_with_returning(&txn)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(to_session)
            .collect();
        let mut messages = Vec::new();
        for session in &revoked {
            messages.extend(follow_up(session)?);
        }
        outbox::write(&txn, &messages).await?;
        list_revoked(&txn, &revoked, at).await?;
        txn.commit().await.map_err(db_err)?;
        self.db.outbox_written();
        Ok(revoked)
    }
}

/// The revocation-list entries of `revoked`. A session is revoked once,
/// so its id is new to the list; should it not be, the entry already says
/// the same, and the revocation must not fail over it.
async fn list_revoked(
    txn: &sea_orm::DatabaseTransaction,
    revoked: &[Session],
    at: DateTime<Utc>,
) -> Result<()> {
    if revoked.is_empty() {
        return Ok(());
    }
    let rows = revoked
        .iter()
        .map(|session| session_revocations::ActiveModel {
            session_id: Set(session.id.as_str().to_owned()),
            revoked_at: Set(at),
        });
    session_revocations::Entity::insert_many(rows)
        .on_conflict_do_nothing()
        .exec_without_returning(txn)
        .await
        .map_err(db_err)?;
    Ok(())
}

fn to_session(row: sessions::Model) -> Session {
    Session {
        id: SessionId::from_stored(row.id),
        user_id: UserId(row.user_id),
        client: ClientInfo {
            ip: row.ip,
            user_agent: row.user_agent,
        },
        device: DeviceInfo {
            browser: row.browser,
            os: row.os,
            device: row.device,
        },
        location: row.location,
        created_at: row.created_at,
        last_active_at: row.last_active_at,
        expires_at: row.expires_at,
        revoked_at: row.revoked_at,
        revoked_reason: row.revoked_reason,
    }
}

fn to_row(session: &Session) -> sessions::ActiveModel {
    sessions::ActiveModel {
        id: Set(session.id.as_str().to_owned()),
        user_id: Set(session.user_id.0),
        ip: Set(session.client.ip.clone()),
        user_agent: Set(session.client.user_agent.clone()),
        browser: Set(session.device.browser.clone()),
        os: Set(session.device.os.clone()),
        device: Set(session.device.device.clone()),
        location: Set(session.location.clone()),
        created_at: Set(session.created_at),
        last_active_at: Set(session.last_active_at),
        expires_at: Set(session.expires_at),
        revoked_at: Set(session.revoked_at),
        revoked_reason: Set(session.revoked_reason.clone()),
    }
}

#[async_trait]
impl SessionRepository for SqlSessions {
    async fn create(&self, session: &Session, follow_up: &[NewOutboxMessage]) -> Result<()> {
        let txn = self.db.connection().begin().await.map_err(db_err)?;
        sessions::Entity::insert(to_row(session))
            .exec_without_returning(&txn)
            .await
            .map_err(db_err)?;
        outbox::write(&txn, follow_up).await?;
        txn.commit().await.map_err(db_err)?;
        self.db.outbox_written();
        Ok(())
    }

    async fn get(&self, id: &SessionId) -> Result<Option<Session>> {
        let row = sessions::Entity::find_by_id(id.as_str())
            .one(self.db.connection())
            .await
            .map_err(db_err)?;
        Ok(row.map(to_session))
    }

    async fn list_for_user(&self, user: UserId, query: &SessionQuery) -> Result<Vec<Session>> {
        let mut select = sessions::Entity::find().filter(sessions::Column::UserId.eq(user.0));
        if let Some((now, idle)) = query.live_at {
            select = select
                .filter(sessions::Column::RevokedAt.is_null())
                .filter(sessions::Column::ExpiresAt.gt(now))
                .filter(sessions::Column::LastActiveAt.gt(now - idle));
        }
        if let Some(after) = &query.after {
            // Keyset paging: strictly after the cursor in the listing order,
            // so a page never repeats or skips a row that did not move.
            select = select.filter(
                Condition::any()
                    .add(sessions::Column::LastActiveAt.lt(after.last_active_at))
                    .add(
                        Condition::all()
                            .add(sessions::Column::LastActiveAt.eq(after.last_active_at))
                            .add(sessions::Column::Id.lt(after.id.as_str())),
                    ),
            );
        }
        let rows = select
            .order_by_desc(sessions::Column::LastActiveAt)
            .order_by_desc(sessions::Column::Id)
            .limit(query.limit)
            .all(self.db.connection())
            .await
            .map_err(db_err)?;
        Ok(rows.into_iter().map(to_session).collect())
    }

    /// Records activity on an unrevoked session; false when there is none.
    async fn touch(&self, id: &SessionId, at: DateTime<Utc>) -> Result<bool> {
        let result = sessions::Entity::update_many()
            .col_expr(sessions::Column::LastActiveAt, Expr::value(at))
            .filter(sessions::Column::Id.eq(id.as_str()))
            .filter(sessions::Column::RevokedAt.is_null())
            .exec(self.db.connection())
            .await
            .map_err(db_err)?;
        Ok(result.rows_affected > 0)
    }

    async fn revoke(
        &self,
        id: &SessionId,
        at: DateTime<Utc>,
        reason: &str,
        follow_up: FollowUp<'_, Session>,
    ) -> Result<Option<Session>> {
        // One conditional UPDATE … RETURNING: of two racing revocations
        // exactly one gets the session back, and writes the follow-up.
        let update = sessions::Entity::update_many()
            .filter(sessions::Column::Id.eq(id.as_str()))
            .filter(sessions::Column::RevokedAt.is_null());
        let revoked = self.revoke_with(update, at, reason, follow_up).await?;
        Ok(revoked.into_iter().next())
    }

    /// Revokes a batch of the user's unrevoked sessions but `except`.
    async fn revoke_all_for_user(
        &self,
        user: UserId,
        except: Option<&SessionId>,
        at: DateTime<Utc>,
        reason: &str,
        limit: u64,
        follow_up: FollowUp<'_, Session>,
    ) -> Result<Vec<Session>> {
        let mut batch = sessions::Entity::find()
            .select_only()
            .column(sessions::Column::Id)
            .filter(sessions::Column::UserId.eq(user.0))
            .filter(sessions::Column::RevokedAt.is_null());
        if let Some(except) = except {
            batch = batch.filter(sessions::Column::Id.ne(except.as_str()));
        }
        let batch = batch.limit(limit).into_query();
        // `revoked_at IS NULL` again on the row itself: a row revoked
        // concurrently after the batch was read is not revoked twice.
        let update = sessions::Entity::update_many()
            .filter(sessions::Column::Id.in_subquery(batch))
            .filter(sessions::Column::RevokedAt.is_null());
        self.revoke_with(update, at, reason, follow_up).await
    }

    async fn delete_ended(
        &self,
        ended_before: DateTime<Utc>,
        idle_before: DateTime<Utc>,
        limit: u64,
    ) -> Result<u64> {
        let ended = Condition::any()
            .add(sessions::Column::RevokedAt.lt(ended_before))
            .add(sessions::Column::ExpiresAt.lt(ended_before))
            .add(sessions::Column::LastActiveAt.lt(idle_before));
        self.delete_batch(ended, limit).await
    }

    async fn delete_for_user(&self, user: UserId, limit: u64) -> Result<u64> {
        self.delete_batch(sessions::Column::UserId.eq(user.0), limit)
            .await
    }

    async fn list_revocations(
        &self,
        since: DateTime<Utc>,
        after: Option<&RevocationCursor>,
        limit: u64,
    ) -> Result<Vec<SessionRevocation>> {
        let mut select = session_revocations::Entity::find()
            .filter(session_revocations::Column::RevokedAt.gte(since));
        if let Some(after) = after {
            // Keyset paging in (revoked_at, session_id) order, on the index.
            select = select.filter(
                Condition::any()
                    .add(session_revocations::Column::RevokedAt.gt(after.revoked_at))
                    .add(
                        Condition::all()
                            .add(session_revocations::Column::RevokedAt.eq(after.revoked_at))
                            .add(
                                session_revocations::Column::SessionId
                                    .gt(after.session_id.as_str()),
                            ),
                    ),
            );
        }
        let rows = select
            .order_by_asc(session_revocations::Column::RevokedAt)
            .order_by_asc(session_revocations::Column::SessionId)
            .limit(limit)
            .all(self.db.connection())
            .await
            .map_err(db_err)?;
        Ok(rows
            .into_iter()
            .map(|row| SessionRevocation {
                session_id: SessionId::from_stored(row.session_id),
                revoked_at: row.revoked_at,
            })
            .collect())
    }

    async fn delete_revocations(&self, before: DateTime<Utc>, limit: u64) -> Result<u64> {
        let batch = session_revocations::Entity::find()
            .select_only()
            .column(session_revocations::Column::SessionId)
            .filter(session_revocations::Column::RevokedAt.lt(before))
            .limit(limit)
            .into_query();
        let deleted = session_revocations::Entity::delete_many()
            .filter(session_revocations::Column::SessionId.in_subquery(batch))
            .exec(self.db.connection())
            .await
            .map_err(db_err)?;
        Ok(deleted.rows_affected)
    }
}
