//! `sessions` behind [`SessionRepository`].

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use latch_domain::{
    Result, SessionId, UserId,
    model::{ClientInfo, DeviceInfo, Session},
    ports::SessionRepository,
};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, sea_query::Expr,
};

use super::{db_err, entity::sessions};
use crate::Database;

/// Sessions on the SQL database.
#[derive(Debug, Clone)]
pub struct SqlSessions {
    db: Database,
}

impl SqlSessions {
    pub fn new(db: Database) -> Self {
        Self { db }
    }
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
    /// `ALREADY_EXISTS` when the id is taken.
    async fn create(&self, session: &Session) -> Result<()> {
        sessions::Entity::insert(to_row(session))
            .exec_without_returning(self.db.connection())
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn get(&self, id: &SessionId) -> Result<Option<Session>> {
        let row = sessions::Entity::find_by_id(id.as_str())
            .one(self.db.connection())
            .await
            .map_err(db_err)?;
        Ok(row.map(to_session))
    }

    async fn list_for_user(&self, user: UserId, include_revoked: bool) -> Result<Vec<Session>> {
        let mut query = sessions::Entity::find().filter(sessions::Column::UserId.eq(user.0));
        if !include_revoked {
            query = query.filter(sessions::Column::RevokedAt.is_null());
        }
        let rows = query
            .order_by_desc(sessions::Column::CreatedAt)
            .order_by_desc(sessions::Column::Id)
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
    ) -> Result<Option<Session>> {
        // One conditional UPDATE … RETURNING: of two racing revocations
        // exactly one gets the session back.
        let rows = sessions::Entity::update_many()
            .col_expr(sessions::Column::RevokedAt, Expr::value(at))
            .col_expr(sessions::Column::RevokedReason, Expr::value(reason))
            .filter(sessions::Column::Id.eq(id.as_str()))
            .filter(sessions::Column::RevokedAt.is_null())
            .exec_with_returning(self.db.connection())
            .await
            .map_err(db_err)?;
        Ok(rows.into_iter().next().map(to_session))
    }

    /// Revokes every unrevoked session of the user but `except`.
    async fn revoke_all_for_user(
        &self,
        user: UserId,
        except: Option<&SessionId>,
        at: DateTime<Utc>,
        reason: &str,
    ) -> Result<Vec<Session>> {
        let mut update = sessions::Entity::update_many()
            .col_expr(sessions::Column::RevokedAt, Expr::value(at))
            .col_expr(sessions::Column::RevokedReason, Expr::value(reason))
            .filter(sessions::Column::UserId.eq(user.0))
            .filter(sessions::Column::RevokedAt.is_null());
        if let Some(except) = except {
            update = update.filter(sessions::Column::Id.ne(except.as_str()));
        }
        let rows = update
            .exec_with_returning(self.db.connection())
            .await
            .map_err(db_err)?;
        Ok(rows.into_iter().map(to_session).collect())
    }
}
