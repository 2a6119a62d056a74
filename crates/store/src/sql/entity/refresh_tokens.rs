//! `refresh_tokens`, owned by token: SHA-256 hashes, never the tokens.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "refresh_tokens")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub family_id: Uuid,
    #[sea_orm(unique)]
    pub token_hash: Vec<u8>,
    pub parent_id: Option<Uuid>,
    pub user_agent: Option<String>,
    pub ip_hash: Option<Vec<u8>>,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub spent_at: Option<DateTimeUtc>,
    /// Mixed into the successor's derivation; NULL on rows older than it.
    pub successor_salt: Option<Vec<u8>>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::refresh_token_families::Entity",
        from = "Column::FamilyId",
        to = "super::refresh_token_families::Column::Id",
        on_delete = "Cascade"
    )]
    Family,
}

impl Related<super::refresh_token_families::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Family.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
