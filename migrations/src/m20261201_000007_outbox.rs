//! The outbox: work that must follow a state change (revoking a revoked
//! session's refresh families, later mail, SMS and events), written in the
//! change's transaction and run by a worker on every replica. One table
//! for every service; each worker claims only the kinds it handles.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum Outbox {
    Table,
    Id,
    Kind,
    AggregateKey,
    Payload,
    Status,
    Attempts,
    AvailableAt,
    LeaseToken,
    LastError,
    CreatedAt,
    FinishedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Outbox::Table)
                    .col(pk_uuid(Outbox::Id))
                    // `<service>.<verb>`, e.g. `session.revoke_families`.
                    .col(string_len(Outbox::Kind, 64))
                    // What the work is about (a session id), for lookups.
                    .col(string_len(Outbox::AggregateKey, 128))
                    .col(json_binary(Outbox::Payload))
                    // `pending`, `done` or `dead`.
                    .col(string_len(Outbox::Status, 16))
                    .col(integer(Outbox::Attempts))
                    // When a pending row is due; a claim moves it to the
                    // end of its lease.
                    .col(timestamp_with_time_zone(Outbox::AvailableAt))
                    .col(uuid_null(Outbox::LeaseToken))
                    .col(string_len_null(Outbox::LastError, 512))
                    .col(timestamp_with_time_zone(Outbox::CreatedAt))
                    .col(timestamp_with_time_zone_null(Outbox::FinishedAt))
                    .to_owned(),
            )
            .await?;
        // The claim: pending rows, due first.
        manager
            .create_index(
                Index::create()
                    .name("idx_outbox_due")
                    .table(Outbox::Table)
                    .col(Outbox::Status)
                    .col(Outbox::AvailableAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_outbox_aggregate_key")
                    .table(Outbox::Table)
                    .col(Outbox::AggregateKey)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::drop_tables(manager, [Outbox::Table.into_iden()]).await
    }
}
