//! `signing_keys`, owned by token: private halves encrypted at rest.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "signing_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub kid: String,
    pub algorithm: String,
    pub public_key: Vec<u8>,
    pub private_key_encrypted: Vec<u8>,
    pub created_at: DateTimeUtc,
    /// NULL on rows from before keys were published ahead: they signed at once.
    pub signs_from: Option<DateTimeUtc>,
    pub retired_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
