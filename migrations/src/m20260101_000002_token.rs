//! Token's tables: refresh-token families (one per session), the refresh
//! tokens in them (stored as SHA-256 hashes) and the JWT signing keys.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum RefreshTokenFamilies {
    Table,
    Id,
    UserId,
    SessionId,
    CreatedAt,
    ExpiresAt,
    RevokedAt,
    RevokedReason,
}

#[derive(DeriveIden)]
enum RefreshTokens {
    Table,
    Id,
    FamilyId,
    TokenHash,
    ParentId,
    UserAgent,
    IpHash,
    CreatedAt,
    ExpiresAt,
    SpentAt,
}

#[derive(DeriveIden)]
enum SigningKeys {
    Table,
    Kid,
    Algorithm,
    PublicKey,
    PrivateKeyEncrypted,
    CreatedAt,
    RetiredAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(RefreshTokenFamilies::Table)
                    .col(pk_uuid(RefreshTokenFamilies::Id))
                    // No foreign keys to users or sessions: other owners.
                    .col(uuid(RefreshTokenFamilies::UserId))
                    .col(string_len(RefreshTokenFamilies::SessionId, 64))
                    .col(timestamp_with_time_zone(RefreshTokenFamilies::CreatedAt))
                    .col(timestamp_with_time_zone(RefreshTokenFamilies::ExpiresAt))
                    .col(timestamp_with_time_zone_null(
                        RefreshTokenFamilies::RevokedAt,
                    ))
                    .col(string_len_null(RefreshTokenFamilies::RevokedReason, 64))
                    .to_owned(),
            )
            .await?;
        for (name, column) in [
            (
                "idx_refresh_token_families_user",
                RefreshTokenFamilies::UserId,
            ),
            (
                "idx_refresh_token_families_session",
                RefreshTokenFamilies::SessionId,
            ),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(RefreshTokenFamilies::Table)
                        .col(column)
                        .to_owned(),
                )
                .await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(RefreshTokens::Table)
                    .col(pk_uuid(RefreshTokens::Id))
                    .col(uuid(RefreshTokens::FamilyId))
                    .col(binary_len_uniq(RefreshTokens::TokenHash, 32))
                    .col(uuid_null(RefreshTokens::ParentId))
                    .col(string_len_null(RefreshTokens::UserAgent, 512))
                    .col(binary_len_null(RefreshTokens::IpHash, 32))
                    .col(timestamp_with_time_zone(RefreshTokens::CreatedAt))
                    .col(timestamp_with_time_zone(RefreshTokens::ExpiresAt))
                    .col(timestamp_with_time_zone_null(RefreshTokens::SpentAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_refresh_tokens_family")
                            .from(RefreshTokens::Table, RefreshTokens::FamilyId)
                            .to(RefreshTokenFamilies::Table, RefreshTokenFamilies::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_refresh_tokens_family")
                    .table(RefreshTokens::Table)
                    .col(RefreshTokens::FamilyId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(SigningKeys::Table)
                    .col(string_len(SigningKeys::Kid, 64).primary_key())
                    .col(string_len(SigningKeys::Algorithm, 16))
                    .col(blob(SigningKeys::PublicKey))
                    .col(blob(SigningKeys::PrivateKeyEncrypted))
                    .col(timestamp_with_time_zone(SigningKeys::CreatedAt))
                    .col(timestamp_with_time_zone_null(SigningKeys::RetiredAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::drop_tables(
            manager,
            [
                SigningKeys::Table.into_iden(),
                RefreshTokens::Table.into_iden(),
                RefreshTokenFamilies::Table.into_iden(),
            ],
        )
        .await
    }
}
