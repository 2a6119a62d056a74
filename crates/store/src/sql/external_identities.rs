//! `auth_providers` behind [`ExternalIdentityRepository`]. Unlinking locks
//! the user's row first (a no-op UPDATE, which both PostgreSQL and SQLite
//! turn into a write lock), so "is this the last way to sign in?" (a
//! password, another identity, a passkey) and the DELETE cannot interleave
//! with another unlink or passkey deletion of the same user.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use latch_domain::{
    Result, UserId,
    model::{ExternalIdentity, Unlinked},
    ports::ExternalIdentityRepository,
};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait, sea_query::Expr,
};
use uuid::Uuid;

use super::{
    db_err,
    entity::auth_providers,
    sign_in_methods::{Leaving, keeps_a_way_in, lock_user},
};
use crate::Database;

/// External identities on the SQL database.
#[derive(Debug, Clone)]
pub struct SqlExternalIdentities {
    db: Database,
}

impl SqlExternalIdentities {
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

fn to_domain(row: auth_providers::Model) -> ExternalIdentity {
    ExternalIdentity {
        id: row.id,
        user_id: UserId(row.user_id),
        provider: row.provider,
        subject: row.provider_subject,
        email: row.email,
        created_at: row.created_at,
        last_used_at: row.last_used_at,
    }
}

#[async_trait]
impl ExternalIdentityRepository for SqlExternalIdentities {
    async fn find(&self, provider: &str, subject: &str) -> Result<Option<ExternalIdentity>> {
        let row = auth_providers::Entity::find()
            .filter(auth_providers::Column::Provider.eq(provider))
            .filter(auth_providers::Column::ProviderSubject.eq(subject))
            .one(self.db.connection())
            .await
            .map_err(db_err)?;
        Ok(row.map(to_domain))
    }

    async fn list_for_user(&self, user: UserId, limit: u64) -> Result<Vec<ExternalIdentity>> {
        let rows = auth_providers::Entity::find()
            .filter(auth_providers::Column::UserId.eq(user.0))
            .order_by_asc(auth_providers::Column::CreatedAt)
            .order_by_asc(auth_providers::Column::Id)
            .limit(limit)
            .all(self.db.connection())
            .await
            .map_err(db_err)?;
        Ok(rows.into_iter().map(to_domain).collect())
    }

    async fn link(&self, identity: &ExternalIdentity) -> Result<()> {
        let row = auth_providers::ActiveModel {
            id: Set(identity.id),
            user_id: Set(identity.user_id.0),
            provider: Set(identity.provider.clone()),
            provider_subject: Set(identity.subject.clone()),
            email: Set(identity.email.clone()),
            created_at: Set(identity.created_at),
            last_used_at: Set(identity.last_used_at),
        };
        auth_providers::Entity::insert(row)
            .exec_without_returning(self.db.connection())
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn touch(&self, id: Uuid, at: DateTime<Utc>) -> Result<bool> {
        let result = auth_providers::Entity::update_many()
            .col_expr(auth_providers::Column::LastUsedAt, Expr::value(at))
            .filter(auth_providers::Column::Id.eq(id))
            .exec(self.db.connection())
            .await
            .map_err(db_err)?;
        Ok(result.rows_affected == 1)
    }

    async fn unlink(&self, user: UserId, id: Uuid) -> Result<Unlinked> {
        let txn = self.db.connection().begin().await.map_err(db_err)?;
        // The lock: every removal of this user's ways in (identities,
        // passkeys) queues here until commit.
        if !lock_user(&txn, user).await? {
            return Ok(Unlinked::NotFound);
        }
        let mine = auth_providers::Entity::find_by_id(id)
            .filter(auth_providers::Column::UserId.eq(user.0))
            .count(&txn)
            .await
            .map_err(db_err)?;
        if mine == 0 {
            return Ok(Unlinked::NotFound);
        }
        // A password, another identity or a passkey keeps the user able to
        // sign in.
        if !keeps_a_way_in(&txn, user, Leaving::Identity(id)).await? {
            return Ok(Unlinked::LastSignInMethod);
        }
        auth_providers::Entity::delete_by_id(id)
            .exec(&txn)
            .await
            .map_err(db_err)?;
        txn.commit().await.map_err(db_err)?;
        Ok(Unlinked::Unlinked)
    }
}
