//! `users` behind [`UserRepository`].

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use latch_domain::{
    Result, UserId,
    model::{NewUser, User, UserStatus},
    ports::{NewOutboxMessage, UserRepository},
};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};

use super::{db_err, entity::users};
use crate::Database;

mod admin;
mod changes;
mod failures;

/// Identity's users on the SQL database.
#[derive(Debug, Clone)]
pub struct SqlUsers {
    db: Database,
}

impl SqlUsers {
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    /// Sets columns of one user; true when the user exists. A tombstone
    /// is left as it is: no write brings a deleted user back.
    async fn update(&self, id: UserId, columns: Vec<(users::Column, Expr)>) -> Result<bool> {
        let mut update = users::Entity::update_many()
            .filter(users::Column::Id.eq(id.0))
            .filter(users::Column::DeletedAt.is_null());
        for (column, value) in columns {
            update = update.col_expr(column, value);
        }
        let result = update.exec(self.db.connection()).await.map_err(db_err)?;
        Ok(result.rows_affected > 0)
    }
}

fn to_user(row: users::Model) -> Result<User> {
    Ok(User {
        id: UserId(row.id),
        email: row.email,
        email_verified: row.email_verified,
        phone: row.phone,
        phone_verified: row.phone_verified,
        status: UserStatus::parse(&row.status)?,
        password_hash: row.password_hash,
        totp_enabled: row.totp_enabled,
        created_at: row.created_at,
        updated_at: row.updated_at,
        last_login_at: row.last_login_at,
    })
}

fn new_row(user: &NewUser) -> users::ActiveModel {
    users::ActiveModel {
        id: Set(user.id.0),
        email: Set(user.email.clone()),
        email_verified: Set(false),
        email_verified_at: Set(None),
        phone: Set(user.phone.clone()),
        phone_verified: Set(false),
        phone_verified_at: Set(None),
        status: Set(user.status.as_str().to_owned()),
        password_hash: Set(user.password_hash.clone()),
        totp_secret_encrypted: Set(None),
        totp_enabled: Set(false),
        totp_recovery_codes: Set(None),
        totp_last_step: Set(None),
        failed_login_count: Set(0),
        locked_until: Set(None),
        last_login_at: Set(None),
        created_at: Set(user.created_at),
        updated_at: Set(user.created_at),
        deleted_at: Set(None),
    }
}

#[async_trait]
impl UserRepository for SqlUsers {
    async fn create(&self, user: &NewUser) -> Result<User> {
        // A racing insert of the same email fails on the UNIQUE index and
        // comes back as ALREADY_EXISTS from `db_err`.
        users::Entity::insert(new_row(user))
            .exec_without_returning(self.db.connection())
            .await
            .map_err(db_err)?;
        Ok(User {
            id: user.id,
            email: user.email.clone(),
            email_verified: false,
            phone: user.phone.clone(),
            phone_verified: false,
            status: user.status,
            password_hash: user.password_hash.clone(),
            totp_enabled: false,
            created_at: user.created_at,
            updated_at: user.created_at,
            last_login_at: None,
        })
    }

    /// A tombstone is no user.
    async fn get(&self, id: UserId) -> Result<Option<User>> {
        users::Entity::find_by_id(id.0)
            .filter(users::Column::DeletedAt.is_null())
            .one(self.db.connection())
            .await
            .map_err(db_err)?
            .map(to_user)
            .transpose()
    }

    async fn find_by_email(&self, email: &str) -> Result<Option<User>> {
        users::Entity::find()
            .filter(users::Column::Email.eq(email))
            .filter(users::Column::DeletedAt.is_null())
            .one(self.db.connection())
            .await
            .map_err(db_err)?
            .map(to_user)
            .transpose()
    }

    async fn set_status(
        &self,
        id: UserId,
        status: UserStatus,
        at: DateTime<Utc>,
        follow_up: &[NewOutboxMessage],
    ) -> Result<bool> {
        changes::set_status(&self.db, id, status, at, follow_up).await
    }

    async fn set_password_hash(&self, id: UserId, hash: &str, at: DateTime<Utc>) -> Result<bool> {
        self.update(
            id,
            vec![
                (users::Column::PasswordHash, Expr::value(hash)),
                (users::Column::UpdatedAt, Expr::value(at)),
            ],
        )
        .await
    }

    async fn change_password(
        &self,
        id: UserId,
        hash: &str,
        at: DateTime<Utc>,
        follow_up: &[NewOutboxMessage],
    ) -> Result<bool> {
        changes::change_password(&self.db, id, hash, at, follow_up).await
    }

    async fn change_email(
        &self,
        id: UserId,
        email: &str,
        at: DateTime<Utc>,
        follow_up: &[NewOutboxMessage],
    ) -> Result<bool> {
        changes::change_email(&self.db, id, email, at, follow_up).await
    }

    async fn verify_email(
        &self,
        id: UserId,
        email: &str,
        at: DateTime<Utc>,
        follow_up: &[NewOutboxMessage],
    ) -> Result<bool> {
        changes::verify_email(&self.db, id, email, at, follow_up).await
    }

    async fn set_phone(
        &self,
        id: UserId,
        phone: &str,
        at: DateTime<Utc>,
        follow_up: &[NewOutboxMessage],
    ) -> Result<bool> {
        changes::set_phone(&self.db, id, phone, at, follow_up).await
    }

    async fn verify_phone(
        &self,
        id: UserId,
        phone: &str,
        at: DateTime<Utc>,
        follow_up: &[NewOutboxMessage],
    ) -> Result<bool> {
        changes::verify_phone(&self.db, id, phone, at, follow_up).await
    }

    async fn record_login(&self, id: UserId, at: DateTime<Utc>) -> Result<()> {
        self.update(
            id,
            vec![
                (users::Column::LastLoginAt, Expr::value(at)),
                (users::Column::FailedLoginCount, Expr::value(0)),
            ],
        )
        .await
        .map(drop)
    }

    async fn delete(&self, id: UserId) -> Result<bool> {
        // Linked identities, passkeys, reset tokens and login history go
        // with the user (ON DELETE CASCADE).
        let result = users::Entity::delete_by_id(id.0)
            .exec(self.db.connection())
            .await
            .map_err(db_err)?;
        Ok(result.rows_affected > 0)
    }
}
