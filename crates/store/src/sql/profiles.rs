//! `profiles` behind [`ProfileRepository`].

use async_trait::async_trait;
use latch_domain::{
    Error, Result, UserId,
    model::{Address, Profile},
    ports::ProfileRepository,
};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, EntityTrait, QueryFilter, TryInsertResult,
};

use super::{db_err, entity::profiles};
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
    })
}

/// Every column but the key and `created_at`, which belong to the insert.
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
    })
}

#[async_trait]
impl ProfileRepository for SqlProfiles {
    async fn create_if_absent(&self, profile: &Profile) -> Result<bool> {
        let mut row = mutable_columns(profile)?;
        row.user_id = Set(profile.user_id.0);
        row.created_at = Set(profile.created_at);
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
        let result = profiles::Entity::update_many()
            .set(mutable_columns(profile)?)
            .filter(profiles::Column::UserId.eq(profile.user_id.0))
            .exec(self.db.connection())
            .await
            .map_err(db_err)?;
        Ok(result.rows_affected > 0)
    }

    async fn delete(&self, user: UserId) -> Result<bool> {
        let result = profiles::Entity::delete_by_id(user.0)
            .exec(self.db.connection())
            .await
            .map_err(db_err)?;
        Ok(result.rows_affected > 0)
    }
}
