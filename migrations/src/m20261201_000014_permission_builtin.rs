//! `permissions.builtin`: the permissions Latch itself checks (the nine
//! seeded by migration 6) are marked, so administration can refuse to
//! delete them, as `roles.builtin` does for the seeded roles. Later
//! permissions are custom (false). Also `idx_role_permissions_permission`:
//! deleting a permission finds the roles that grant it without a scan.

use latch_domain::model::permission;
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum Permissions {
    Table,
    Name,
    Builtin,
}

#[derive(DeriveIden)]
enum RolePermissions {
    Table,
    Permission,
}

const BY_PERMISSION: &str = "idx_role_permissions_permission";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Permissions::Table)
                    .add_column(boolean(Permissions::Builtin).default(false))
                    .to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::update()
                    .table(Permissions::Table)
                    .value(Permissions::Builtin, true)
                    .and_where(Expr::col(Permissions::Name).is_in(permission::BUILTIN))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(BY_PERMISSION)
                    .table(RolePermissions::Table)
                    .col(RolePermissions::Permission)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(BY_PERMISSION)
                    .table(RolePermissions::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Permissions::Table)
                    .drop_column(Permissions::Builtin)
                    .to_owned(),
            )
            .await
    }
}
