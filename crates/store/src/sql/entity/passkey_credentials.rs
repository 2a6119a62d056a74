//! `passkey_credentials`, owned by identity: users' WebAuthn credentials
//! (migrations 1 and 15).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "passkey_credentials")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    #[sea_orm(unique)]
    pub credential_id: Vec<u8>,
    pub name: String,
    /// The serialised webauthn-rs `Passkey`.
    #[sea_orm(column_type = "JsonBinary")]
    pub passkey: Json,
    pub sign_count: i64,
    pub created_at: DateTimeUtc,
    pub last_used_at: Option<DateTimeUtc>,
    pub backup_eligible: bool,
    pub backup_state: bool,
    /// A JSON array of strings (`["usb","internal"]`).
    #[sea_orm(column_type = "Text")]
    pub transports: String,
    pub aaguid: Option<Uuid>,
    pub second_factor: bool,
    pub clone_suspected_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
