//! `session_revocations`: the revocation list that backends verifying
//! tokens locally poll (SessionService/ListRevokedSessions). One row per
//! revoked session, written in the revoking transaction, deleted once no
//! access token of the session can verify any more. It holds no user id
//! and nothing personal, so it outlives the session row: a deleted user's
//! sessions (their rows go at once) and a short `LATCH_SESSION_RETENTION`
//! do not drop a revocation while its tokens live.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum SessionRevocations {
    Table,
    SessionId,
    RevokedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(SessionRevocations::Table)
                    .col(string_len(SessionRevocations::SessionId, 64).primary_key())
                    .col(timestamp_with_time_zone(SessionRevocations::RevokedAt))
                    .to_owned(),
            )
            .await?;
        // The list is read oldest first from a time on, and pruned by time.
        manager
            .create_index(
                Index::create()
                    .name("idx_session_revocations_at")
                    .table(SessionRevocations::Table)
                    .col(SessionRevocations::RevokedAt)
                    .col(SessionRevocations::SessionId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::drop_tables(manager, [SessionRevocations::Table.into_iden()]).await
    }
}
