//! Identity's tables: users, their linked identities (OAuth/OIDC), passkeys,
//! password reset tokens and login history.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Email,
    EmailVerified,
    EmailVerifiedAt,
    Phone,
    PhoneVerified,
    Status,
    PasswordHash,
    TotpSecretEncrypted,
    TotpEnabled,
    TotpRecoveryCodes,
    FailedLoginCount,
    LockedUntil,
    LastLoginAt,
    CreatedAt,
    UpdatedAt,
    DeletedAt,
}

#[derive(DeriveIden)]
enum AuthProviders {
    Table,
    Id,
    UserId,
    Provider,
    ProviderSubject,
    Email,
    CreatedAt,
    LastUsedAt,
}

#[derive(DeriveIden)]
enum PasskeyCredentials {
    Table,
    Id,
    UserId,
    CredentialId,
    Name,
    Passkey,
    SignCount,
    CreatedAt,
    LastUsedAt,
}

#[derive(DeriveIden)]
enum PasswordResetTokens {
    Table,
    Id,
    UserId,
    TokenHash,
    ExpiresAt,
    UsedAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum LoginHistory {
    Table,
    Id,
    UserId,
    At,
    Ip,
    UserAgent,
    Method,
    Success,
    FailureReason,
}

/// A `user_id` column referencing `users.id`, removed with the user.
fn user_fk(table: impl IntoIden, name: &str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(table, Alias::new("user_id"))
        .to(Users::Table, Users::Id)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .col(pk_uuid(Users::Id))
                    // Stored lowercased by the domain, so UNIQUE is case-insensitive.
                    .col(string_len_uniq(Users::Email, 254))
                    .col(boolean(Users::EmailVerified))
                    .col(timestamp_with_time_zone_null(Users::EmailVerifiedAt))
                    .col(string_len_null(Users::Phone, 32))
                    .col(boolean(Users::PhoneVerified))
                    .col(string_len(Users::Status, 16))
                    .col(string_null(Users::PasswordHash))
                    .col(blob_null(Users::TotpSecretEncrypted))
                    .col(boolean(Users::TotpEnabled))
                    .col(json_binary_null(Users::TotpRecoveryCodes))
                    .col(integer(Users::FailedLoginCount))
                    .col(timestamp_with_time_zone_null(Users::LockedUntil))
                    .col(timestamp_with_time_zone_null(Users::LastLoginAt))
                    .col(timestamp_with_time_zone(Users::CreatedAt))
                    .col(timestamp_with_time_zone(Users::UpdatedAt))
                    .col(timestamp_with_time_zone_null(Users::DeletedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AuthProviders::Table)
                    .col(pk_uuid(AuthProviders::Id))
                    .col(uuid(AuthProviders::UserId))
                    .col(string_len(AuthProviders::Provider, 64))
                    .col(string_len(AuthProviders::ProviderSubject, 255))
                    .col(string_len_null(AuthProviders::Email, 254))
                    .col(timestamp_with_time_zone(AuthProviders::CreatedAt))
                    .col(timestamp_with_time_zone_null(AuthProviders::LastUsedAt))
                    .foreign_key(&mut user_fk(AuthProviders::Table, "fk_auth_providers_user"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_auth_providers_provider_subject")
                    .table(AuthProviders::Table)
                    .col(AuthProviders::Provider)
                    .col(AuthProviders::ProviderSubject)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_auth_providers_user")
                    .table(AuthProviders::Table)
                    .col(AuthProviders::UserId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(PasskeyCredentials::Table)
                    .col(pk_uuid(PasskeyCredentials::Id))
                    .col(uuid(PasskeyCredentials::UserId))
                    .col(blob_uniq(PasskeyCredentials::CredentialId))
                    .col(string_len(PasskeyCredentials::Name, 100))
                    // The serialised webauthn-rs `Passkey`.
                    .col(json_binary(PasskeyCredentials::Passkey))
                    .col(big_integer(PasskeyCredentials::SignCount))
                    .col(timestamp_with_time_zone(PasskeyCredentials::CreatedAt))
                    .col(timestamp_with_time_zone_null(
                        PasskeyCredentials::LastUsedAt,
                    ))
                    .foreign_key(&mut user_fk(
                        PasskeyCredentials::Table,
                        "fk_passkey_credentials_user",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_passkey_credentials_user")
                    .table(PasskeyCredentials::Table)
                    .col(PasskeyCredentials::UserId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(PasswordResetTokens::Table)
                    .col(pk_uuid(PasswordResetTokens::Id))
                    .col(uuid(PasswordResetTokens::UserId))
                    .col(binary_len_uniq(PasswordResetTokens::TokenHash, 32))
                    .col(timestamp_with_time_zone(PasswordResetTokens::ExpiresAt))
                    .col(timestamp_with_time_zone_null(PasswordResetTokens::UsedAt))
                    .col(timestamp_with_time_zone(PasswordResetTokens::CreatedAt))
                    .foreign_key(&mut user_fk(
                        PasswordResetTokens::Table,
                        "fk_password_reset_tokens_user",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_password_reset_tokens_user")
                    .table(PasswordResetTokens::Table)
                    .col(PasswordResetTokens::UserId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(LoginHistory::Table)
                    .col(pk_uuid(LoginHistory::Id))
                    .col(uuid(LoginHistory::UserId))
                    .col(timestamp_with_time_zone(LoginHistory::At))
                    .col(string_len_null(LoginHistory::Ip, 64))
                    .col(string_len_null(LoginHistory::UserAgent, 512))
                    .col(string_len(LoginHistory::Method, 32))
                    .col(boolean(LoginHistory::Success))
                    .col(string_len_null(LoginHistory::FailureReason, 64))
                    .foreign_key(&mut user_fk(LoginHistory::Table, "fk_login_history_user"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_login_history_user_at")
                    .table(LoginHistory::Table)
                    .col(LoginHistory::UserId)
                    .col(LoginHistory::At)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::drop_tables(
            manager,
            [
                LoginHistory::Table.into_iden(),
                PasswordResetTokens::Table.into_iden(),
                PasskeyCredentials::Table.into_iden(),
                AuthProviders::Table.into_iden(),
                Users::Table.into_iden(),
            ],
        )
        .await
    }
}
