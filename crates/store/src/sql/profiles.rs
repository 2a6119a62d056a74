//! `profiles` behind [`ProfileRepository`].

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use latch_domain::{
    Error, Result, UserId,
    model::{Address, Profile, StoredAvatar},
    ports::{NewOutboxMessage, ProfileRepository, VersionedWrite},
};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect,
    TransactionTrait, TryInsertResult,
    sea_query::{Expr, ExprTrait},
};

use super::{db_err, entity::profiles, outbox};
use crate::Database;

/// Profiles on the SQL database.
#[derive(Debug, Clone)]
pub struct SqlProfiles {
    db: Database,
}

impl SqlProfiles {
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

fn to_profile(row: profiles::Model) -> Result<Profile> {
    let address = row
        .address
        .map(serde_json::from_value::<Address>)
        .transpose()
        .map_err(Error::internal)?;
    Ok(Profile {
        user_id: UserId(row.user_id),
        first_name: row.first_name,
        last_name: row.last_name,
        display_name: row.display_name,
        avatar_key: row.avatar_key,
        avatar_url: row.avatar_url,
        avatar_size: row.avatar_size,
        avatar_mime: row.avatar_mime,
        address,
        phone: row.phone,
        date_of_birth: row.date_of_birth,
        metadata: row.metadata,
        created_at: row.created_at,
        updated_at: row.updated_at,
        version: row.version,
    })
}

/// Every column but the key and `created_at`, which belong to the insert,
/// and `version`, which each write increments on the stored value.
fn mutable_columns(profile: &Profile) -> Result<profiles::ActiveModel> {
    let address = profile
        .address
        .as_ref()
        .map(serde_json::to_value)
        .transpose()
        .map_err(Error::internal)?;
    Ok(profiles::ActiveModel {
        user_id: NotSet,
        first_name: Set(profile.first_name.clone()),
        last_name: Set(profile.last_name.clone()),
        display_name: Set(profile.display_name.clone()),
        avatar_key: Set(profile.avatar_key.clone()),
        avatar_url: Set(profile.avatar_url.clone()),
        avatar_size: Set(profile.avatar_size),
        avatar_mime: Set(profile.avatar_mime.clone()),
        address: Set(address),
        phone: Set(profile.phone.clone()),
        date_of_birth: Set(profile.date_of_birth),
        metadata: Set(profile.metadata.clone()),
        created_at: NotSet,
        updated_at: Set(profile.updated_at),
        version: NotSet,
    })
}

/// Writes `profile` over the row matching `filter`, incrementing the
/// stored version; how many rows it changed.
async fn write_over(
    conn: &impl ConnectionTrait,
    profile: &Profile,
    filter: Condition,
) -> Result<u64> {
    let result = profiles::Entity::update_many()
        .set(mutable_columns(profile)?)
        .col_expr(
            profiles::Column::Version,
            Expr::col(profiles::Column::Version).add(1),
        )
        .filter(filter)
        .exec(conn)
        .await
        .map_err(db_err)?;
    Ok(result.rows_affected)
}

#[async_trait]
impl ProfileRepository for SqlProfiles {
    async fn create_if_absent(&self, profile: &Profile) -> Result<bool> {
        let mut row = mutable_columns(profile)?;
        row.user_id = Set(profile.user_id.0);
        row.created_at = Set(profile.created_at);
        row.version = Set(Profile::FIRST_VERSION);
        let result = profiles::Entity::insert(row)
            .on_conflict_do_nothing()
            .exec_without_returning(self.db.connection())
            .await
            .map_err(db_err)?;
        Ok(matches!(result, TryInsertResult::Inserted(n) if n > 0))
    }

    async fn get(&self, user: UserId) -> Result<Option<Profile>> {
        profiles::Entity::find_by_id(user.0)
            .one(self.db.connection())
            .await
            .map_err(db_err)?
            .map(to_profile)
            .transpose()
    }

    async fn update(&self, profile: &Profile) -> Result<bool> {
        let filter = Condition::all().add(profiles::Column::UserId.eq(profile.user_id.0));
        Ok(write_over(self.db.connection(), profile, filter).await? > 0)
    }

    async fn update_versioned(
        &self,
        profile: &Profile,
        follow_up: &[NewOutboxMessage],
    ) -> Result<VersionedWrite> {
        // One conditional UPDATE is the compare-and-set: of two writers
        // that read the same version, the database lets exactly one match.
        let filter = Condition::all()
            .add(profiles::Column::UserId.eq(profile.user_id.0))
            .add(profiles::Column::Version.eq(profile.version));
        let txn = self.db.connection().begin().await.map_err(db_err)?;
        if write_over(&txn, profile, filter).await? > 0 {
            outbox::write(&txn, follow_up).await?;
            txn.commit().await.map_err(db_err)?;
            self.db.outbox_written();
            return Ok(VersionedWrite::Written {
                version: profile.version + 1,
            });
        }
        // Nothing matched: rolled back on drop; tell stale from missing.
        drop(txn);
        let exists = profiles::Entity::find_by_id(profile.user_id.0)
            .one(self.db.connection())
            .await
            .map_err(db_err)?
            .is_some();
        Ok(if exists {
            VersionedWrite::Stale
        } else {
            VersionedWrite::Missing
        })
    }

    async fn delete(&self, user: UserId) -> Result<bool> {
        let result = profiles::Entity::delete_by_id(user.0)
            .exec(self.db.connection())
            .await
            .map_err(db_err)?;
        Ok(result.rows_affected > 0)
    }

    async fn set_avatar(
        &self,
        user: UserId,
        expected: Option<&str>,
        avatar: Option<&StoredAvatar>,
        at: DateTime<Utc>,
        follow_up: &[NewOutboxMessage],
    ) -> Result<bool> {
        // Only the avatar columns: a concurrent UpdateProfile of other
        // fields keeps them, and the version bump makes its compare-and-set
        // re-read rather than write back the old avatar.
        let current = match expected {
            Some(key) => profiles::Column::AvatarKey.eq(key),
            None => profiles::Column::AvatarKey.is_null(),
        };
        let txn = self.db.connection().begin().await.map_err(db_err)?;
        let result = profiles::Entity::update_many()
            .col_expr(
                profiles::Column::AvatarKey,
                Expr::value(avatar.map(|a| a.key.clone())),
            )
            .col_expr(
                profiles::Column::AvatarSize,
                Expr::value(avatar.map(|a| a.size)),
            )
            .col_expr(
                profiles::Column::AvatarMime,
                Expr::value(avatar.map(|a| a.mime.clone())),
            )
            // Where to fetch it is derived from the key at read time
            // (LATCH_AVATAR_PUBLIC_URL may change); no copy is kept.
            .col_expr(profiles::Column::AvatarUrl, Expr::value(None::<String>))
            .col_expr(profiles::Column::UpdatedAt, Expr::value(at))
            .col_expr(
                profiles::Column::Version,
                Expr::col(profiles::Column::Version).add(1),
            )
            .filter(profiles::Column::UserId.eq(user.0))
            .filter(current)
            .exec(&txn)
            .await
            .map_err(db_err)?;
        if result.rows_affected == 0 {
            return Ok(false);
        }
        outbox::write(&txn, follow_up).await?;
        txn.commit().await.map_err(db_err)?;
        self.db.outbox_written();
        Ok(true)
    }

    async fn avatar_keys(&self, users: &[UserId]) -> Result<HashMap<UserId, Option<String>>> {
        if users.is_empty() {
            return Ok(HashMap::new());
        }
        let rows: Vec<(uuid::Uuid, Option<String>)> = profiles::Entity::find()
            .select_only()
            .column(profiles::Column::UserId)
            .column(profiles::Column::AvatarKey)
            .filter(profiles::Column::UserId.is_in(users.iter().map(|u| u.0)))
            .into_tuple()
            .all(self.db.connection())
            .await
            .map_err(db_err)?;
        Ok(rows
            .into_iter()
            .map(|(id, key)| (UserId(id), key))
            .collect())
    }
}
