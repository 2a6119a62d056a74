//! `profiles.version`, owned by profile: a counter every write of a profile
//! increments (create writes 1). UpdateProfile writes only over the version
//! it read (compare-and-set), so two concurrent updates of different fields
//! both survive, and a client may send the version it read
//! (`expected_version`) to be refused instead of overwriting a change it
//! has not seen.
//!
//! Existing rows get 1, as if just created: a client that read one before
//! the migration saw no version, so none can be stale.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum Profiles {
    Table,
    Version,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Profiles::Table)
                    .add_column(big_integer(Profiles::Version).default(1).take())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Profiles::Table)
                    .drop_column(Profiles::Version)
                    .to_owned(),
            )
            .await
    }
}
