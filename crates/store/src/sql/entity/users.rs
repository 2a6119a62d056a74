//! `users`, owned by identity.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub email: String,
    pub email_verified: bool,
    pub email_verified_at: Option<DateTimeUtc>,
    pub phone: Option<String>,
    pub phone_verified: bool,
    /// When the phone was proven (migration 9).
    pub phone_verified_at: Option<DateTimeUtc>,
    pub status: String,
    pub password_hash: Option<String>,
    pub totp_secret_encrypted: Option<Vec<u8>>,
    pub totp_enabled: bool,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub totp_recovery_codes: Option<Json>,
    /// The last accepted TOTP time step (migration 10).
    pub totp_last_step: Option<i64>,
    pub failed_login_count: i32,
    pub locked_until: Option<DateTimeUtc>,
    pub last_login_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub deleted_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
