//! `passkey_credentials` behind [`PasskeyRepository`]. The webauthn-rs
//! state is kept whole in the JSON column `passkey` (PostgreSQL's jsonb
//! may reorder its keys: it comes back equal as JSON, not byte for byte);
//! `transports` is a JSON array of strings in a text column. A use is
//! recorded by one UPDATE guarded by the counter it was checked against,
//! and a deletion judges "the last way in" under the user's row lock, like
//! unlinking an identity does.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use latch_domain::{
    Error, Result, UserId,
    model::{PasskeyCredential, PasskeyRemoval, PasskeyUse},
    ports::{NewOutboxMessage, PasskeyRepository},
};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait, sea_query::Expr,
};
use uuid::Uuid;

use super::{
    db_err,
    entity::passkey_credentials::{self, Column},
    error::corrupt,
    outbox,
    sign_in_methods::{Leaving, keeps_a_way_in, lock_user},
};
use crate::Database;

/// Passkeys on the SQL database.
#[derive(Debug, Clone)]
pub struct SqlPasskeys {
    db: Database,
}

impl SqlPasskeys {
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

/// The credential state as the JSON the column holds; a state that is not
/// JSON is a bug of the caller, never user input.
fn state_json(state: &str) -> Result<serde_json::Value> {
    serde_json::from_str(state).map_err(Error::internal)
}

fn to_domain(row: passkey_credentials::Model) -> Result<PasskeyCredential> {
    Ok(PasskeyCredential {
        id: row.id,
        user_id: UserId(row.user_id),
        credential_id: row.credential_id,
        name: row.name,
        state: row.passkey.to_string(),
        sign_count: u32::try_from(row.sign_count).map_err(|_| corrupt("passkey sign count"))?,
        backup_eligible: row.backup_eligible,
        backup_state: row.backup_state,
        transports: serde_json::from_str(&row.transports)
            .map_err(|_| corrupt("passkey transports"))?,
        aaguid: row.aaguid,
        second_factor: row.second_factor,
        clone_suspected_at: row.clone_suspected_at,
        created_at: row.created_at,
        last_used_at: row.last_used_at,
    })
}

fn to_row(credential: &PasskeyCredential) -> Result<passkey_credentials::ActiveModel> {
    Ok(passkey_credentials::ActiveModel {
        id: Set(credential.id),
        user_id: Set(credential.user_id.0),
        credential_id: Set(credential.credential_id.clone()),
        name: Set(credential.name.clone()),
        passkey: Set(state_json(&credential.state)?),
        sign_count: Set(i64::from(credential.sign_count)),
        created_at: Set(credential.created_at),
        last_used_at: Set(credential.last_used_at),
        backup_eligible: Set(credential.backup_eligible),
        backup_state: Set(credential.backup_state),
        transports: Set(serde_json::to_string(&credential.transports).map_err(Error::internal)?),
        aaguid: Set(credential.aaguid),
        second_factor: Set(credential.second_factor),
        clone_suspected_at: Set(credential.clone_suspected_at),
    })
}

impl SqlPasskeys {
    async fn find_own(&self, user: UserId, id: Uuid) -> Result<Option<PasskeyCredential>> {
        passkey_credentials::Entity::find_by_id(id)
            .filter(Column::UserId.eq(user.0))
            .one(self.db.connection())
            .await
            .map_err(db_err)?
            .map(to_domain)
            .transpose()
    }
}

#[async_trait]
impl PasskeyRepository for SqlPasskeys {
    async fn add(
        &self,
        credential: &PasskeyCredential,
        follow_up: &[NewOutboxMessage],
    ) -> Result<()> {
        let row = to_row(credential)?;
        let txn = self.db.connection().begin().await.map_err(db_err)?;
        // A taken credential id fails here (ALREADY_EXISTS from `db_err`)
        // and the transaction rolls back with the follow-up.
        passkey_credentials::Entity::insert(row)
            .exec_without_returning(&txn)
            .await
            .map_err(db_err)?;
        outbox::write(&txn, follow_up).await?;
        txn.commit().await.map_err(db_err)?;
        if !follow_up.is_empty() {
            self.db.outbox_written();
        }
        Ok(())
    }

    async fn find_by_credential_id(
        &self,
        credential_id: &[u8],
    ) -> Result<Option<PasskeyCredential>> {
        passkey_credentials::Entity::find()
            .filter(Column::CredentialId.eq(credential_id.to_vec()))
            .one(self.db.connection())
            .await
            .map_err(db_err)?
            .map(to_domain)
            .transpose()
    }

    async fn get(&self, user: UserId, id: Uuid) -> Result<Option<PasskeyCredential>> {
        self.find_own(user, id).await
    }

    async fn list_for_user(&self, user: UserId, limit: u64) -> Result<Vec<PasskeyCredential>> {
        passkey_credentials::Entity::find()
            .filter(Column::UserId.eq(user.0))
            .order_by_asc(Column::CreatedAt)
            .order_by_asc(Column::Id)
            .limit(limit)
            .all(self.db.connection())
            .await
            .map_err(db_err)?
            .into_iter()
            .map(to_domain)
            .collect()
    }

    async fn rename(
        &self,
        user: UserId,
        id: Uuid,
        name: &str,
    ) -> Result<Option<PasskeyCredential>> {
        let renamed = passkey_credentials::Entity::update_many()
            .col_expr(Column::Name, Expr::value(name))
            .filter(Column::Id.eq(id))
            .filter(Column::UserId.eq(user.0))
            .exec(self.db.connection())
            .await
            .map_err(db_err)?
            .rows_affected;
        if renamed == 0 {
            return Ok(None);
        }
        self.find_own(user, id).await
    }

    async fn record_use(&self, id: Uuid, used: &PasskeyUse) -> Result<bool> {
        // The counter it was checked against is the guard: of two racing
        // assertions with one counter value, only one is recorded.
        let result = passkey_credentials::Entity::update_many()
            .col_expr(Column::SignCount, Expr::value(i64::from(used.sign_count)))
            .col_expr(Column::BackupState, Expr::value(used.backup_state))
            .col_expr(Column::Passkey, Expr::value(state_json(&used.state)?))
            .col_expr(Column::LastUsedAt, Expr::value(used.at))
            .filter(Column::Id.eq(id))
            .filter(Column::SignCount.eq(i64::from(used.previous_count)))
            .exec(self.db.connection())
            .await
            .map_err(db_err)?;
        Ok(result.rows_affected == 1)
    }

    async fn mark_clone_suspected(&self, id: Uuid, at: DateTime<Utc>) -> Result<()> {
        // Only an unmarked row: the first suspicion's time is the one kept.
        passkey_credentials::Entity::update_many()
            .col_expr(Column::CloneSuspectedAt, Expr::value(at))
            .filter(Column::Id.eq(id))
            .filter(Column::CloneSuspectedAt.is_null())
            .exec(self.db.connection())
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn delete(
        &self,
        user: UserId,
        id: Uuid,
        follow_up: &[NewOutboxMessage],
    ) -> Result<PasskeyRemoval> {
        let txn = self.db.connection().begin().await.map_err(db_err)?;
        // Every removal of this user's ways in queues here until commit;
        // returning before the commit rolls back (nothing was written).
        if !lock_user(&txn, user).await? {
            return Ok(PasskeyRemoval::NotFound);
        }
        let mine = passkey_credentials::Entity::find_by_id(id)
            .filter(Column::UserId.eq(user.0))
            .count(&txn)
            .await
            .map_err(db_err)?;
        if mine == 0 {
            return Ok(PasskeyRemoval::NotFound);
        }
        if !keeps_a_way_in(&txn, user, Leaving::Passkey(id)).await? {
            return Ok(PasskeyRemoval::LastSignInMethod);
        }
        passkey_credentials::Entity::delete_by_id(id)
            .exec(&txn)
            .await
            .map_err(db_err)?;
        outbox::write(&txn, follow_up).await?;
        txn.commit().await.map_err(db_err)?;
        if !follow_up.is_empty() {
            self.db.outbox_written();
        }
        Ok(PasskeyRemoval::Removed)
    }
}
